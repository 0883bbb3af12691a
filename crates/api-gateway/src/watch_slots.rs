//! How many watches may be open at once: each holds a NATS subscription, an
//! events consumer, a task and a 256-event buffer, so a tenant opening them
//! without end would starve every other tenant of the gateway. A watch
//! holds a slot from its start until its stream ends (the client gone,
//! noticed by HTTP/2 keepalive when it vanished without closing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tonic::Status;

#[derive(Debug)]
pub struct WatchSlots {
    per_tenant: usize,
    total: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    by_tenant: HashMap<String, usize>,
    total: usize,
}

/// One open watch; its slot is given back when it is dropped.
#[derive(Debug)]
pub struct WatchSlot {
    slots: Arc<WatchSlots>,
    tenant: String,
}

impl WatchSlots {
    pub fn new(per_tenant: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            per_tenant,
            total,
            open: Mutex::default(),
        })
    }

    /// A slot for a new watch of `tenant`, or RESOURCE_EXHAUSTED naming
    /// the limit reached.
    pub fn take(self: &Arc<Self>, tenant: &str) -> Result<WatchSlot, Status> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| Status::internal("watch slots poisoned"))?;
        let mine = open.by_tenant.get(tenant).copied().unwrap_or(0);
        if mine >= self.per_tenant {
            return Err(Status::resource_exhausted(format!(
                "{mine} watches of this tenant are open, the most allowed \
                 (gateway.max_watches_per_tenant = {}); close one first",
                self.per_tenant
            )));
        }
        if open.total >= self.total {
            return Err(Status::resource_exhausted(format!(
                "the gateway has {} watches open, the most allowed (gateway.max_watches); \
                 retry later",
                open.total
            )));
        }
        *open.by_tenant.entry(tenant.to_string()).or_default() += 1;
        open.total += 1;
        Ok(WatchSlot {
            slots: self.clone(),
            tenant: tenant.to_string(),
        })
    }

    /// Watches open now: (this tenant's, all).
    #[cfg(test)]
    pub fn open(&self, tenant: &str) -> (usize, usize) {
        self.open.lock().map_or((0, 0), |o| {
            (o.by_tenant.get(tenant).copied().unwrap_or(0), o.total)
        })
    }
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let Ok(mut open) = self.slots.open.lock() else {
            return;
        };
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_tenant.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_tenant.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_at_its_limit_is_refused_and_others_are_not() {
        let slots = WatchSlots::new(2, 3);
        let a1 = slots.take("a").unwrap();
        let _a2 = slots.take("a").unwrap();
        let refused = slots.take("a").unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("max_watches_per_tenant = 2"));
        let _b1 = slots.take("b").unwrap();
        let full = slots.take("c").unwrap_err();
        assert!(full.message().contains("gateway.max_watches"), "{full:?}");
        drop(a1);
        assert_eq!(slots.open("a"), (1, 2));
        let _a3 = slots.take("a").unwrap();
        assert_eq!(slots.open("a"), (2, 3));
    }

    #[test]
    fn every_slot_comes_back() {
        let slots = WatchSlots::new(5, 5);
        let held: Vec<_> = (0..5).map(|_| slots.take("a").unwrap()).collect();
        drop(held);
        assert_eq!(slots.open("a"), (0, 0));
        assert!(slots.open.lock().unwrap().by_tenant.is_empty());
    }
}
