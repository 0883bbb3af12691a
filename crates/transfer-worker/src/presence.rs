//! This worker's presence on the bandwidth lanes it copies on, announced in
//! the `<NS>_WORKERS` key-value bucket so every worker can split a lane's
//! limit among those using it (`peers`). Key `<bandwidth key>.<worker id>`
//! while at least one transfer runs on a limited lane: renewed every
//! heartbeat, deleted when the lane's last transfer ends and at stop; a
//! worker that dies stops renewing and its key expires with the bucket's
//! `max_age`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use xregion_bus::Namespace;

use crate::throttle::Throttle;

/// How often a worker renews its presence. Fixed, not configured: the
/// bucket's `max_age` (PRESENCE_TTL) is set by whichever worker creates it,
/// and every worker prunes peers with the same TTL, so all must agree.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A presence not renewed for this long is gone: three heartbeats, so one
/// or two late renewals do not make a busy worker vanish.
pub const PRESENCE_TTL: Duration = Duration::from_secs(3);

/// How many transfers of this worker run on each lane, and how many of
/// them are logs and FULLs (FULLs may yield to logs: `priority`).
#[derive(Debug, Default)]
pub struct Local {
    running: Mutex<HashMap<String, usize>>,
    logs: AtomicUsize,
    fulls: AtomicUsize,
    changed: Notify,
}

impl Local {
    /// Counts one transfer on `key` until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>, key: &str, log: bool) -> Active {
        self.kind(log).fetch_add(1, Ordering::Relaxed);
        let first = self
            .running
            .lock()
            .map(|mut running| {
                let n = running.entry(key.to_string()).or_insert(0);
                *n += 1;
                *n == 1
            })
            .unwrap_or(false);
        if first {
            self.poke();
        }
        Active {
            local: self.clone(),
            key: key.to_string(),
            log,
        }
    }

    /// Whether any log copies on this worker now.
    pub fn logs_running(&self) -> bool {
        self.logs.load(Ordering::Relaxed) > 0
    }

    /// How many logs copy on this worker now.
    pub fn logs_copying(&self) -> usize {
        self.logs.load(Ordering::Relaxed)
    }

    /// Whether any FULL copies on this worker now.
    pub fn fulls_running(&self) -> bool {
        self.fulls.load(Ordering::Relaxed) > 0
    }

    fn kind(&self, log: bool) -> &AtomicUsize {
        if log {
            &self.logs
        } else {
            &self.fulls
        }
    }

    fn leave(&self, key: &str, log: bool) {
        self.kind(log).fetch_sub(1, Ordering::Relaxed);
        let last = self
            .running
            .lock()
            .map(|mut running| {
                let n = running.get(key).copied().unwrap_or(0).saturating_sub(1);
                if n == 0 {
                    running.remove(key);
                } else {
                    running.insert(key.to_string(), n);
                }
                n == 0
            })
            .unwrap_or(false);
        if last {
            self.poke();
        }
    }

    /// The lanes with at least one transfer running.
    pub fn lanes(&self) -> HashSet<String> {
        self.running
            .lock()
            .map(|running| running.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Asks the announcer to publish now (a lane started or ended, a limit
    /// changed).
    pub fn poke(&self) {
        self.changed.notify_one();
    }

    async fn changed(&self) {
        self.changed.notified().await
    }
}

/// One transfer counted on its lane.
pub struct Active {
    local: Arc<Local>,
    key: String,
    log: bool,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.local.leave(&self.key, self.log);
    }
}

/// Announces this worker on the limited lanes it copies on until `stop`,
/// then withdraws. Runs in the last stop stage, after in-flight copies
/// have finished, so the others do not take its share while it still uses
/// it.
pub async fn announce(
    kv: Store,
    throttle: Arc<Throttle>,
    worker_id: String,
    stop: CancellationToken,
) {
    let mut published: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = throttle.presence().changed() => {}
            _ = tokio::time::sleep(HEARTBEAT) => {}
        }
        // Unlimited lanes need no share: nothing is announced for them.
        let now: HashSet<String> = throttle
            .presence()
            .lanes()
            .into_iter()
            .filter(|lane| throttle.limit(lane) > 0)
            .collect();
        for lane in &now {
            let key = Namespace::worker_presence_key(lane, &worker_id);
            if let Err(error) = kv.put(&key, bytes::Bytes::new()).await {
                tracing::warn!(%error, key, "worker presence not renewed");
            }
        }
        for lane in published.difference(&now) {
            withdraw(&kv, lane, &worker_id).await;
        }
        published = now;
    }
    for lane in &published {
        withdraw(&kv, lane, &worker_id).await;
    }
}

async fn withdraw(kv: &Store, lane: &str, worker_id: &str) {
    let key = Namespace::worker_presence_key(lane, worker_id);
    if let Err(error) = kv.delete(&key).await {
        // It expires on its own after PRESENCE_TTL.
        tracing::warn!(%error, key, "worker presence not withdrawn");
    }
}

/// This process's id among the workers: random, so a restarted worker is a
/// new one and never renews a dead one's key.
pub fn worker_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_is_active_while_any_of_its_transfers_runs() {
        let local = Arc::new(Local::default());
        let a = local.enter("bw.a.b", false);
        let b = local.enter("bw.a.b", false);
        let log = local.enter("bw.a.b.log", true);
        assert_eq!(local.lanes().len(), 2);
        drop(a);
        assert!(local.lanes().contains("bw.a.b"), "one still runs");
        drop(b);
        drop(log);
        assert!(local.lanes().is_empty());
    }

    #[test]
    fn logs_and_fulls_count_while_their_transfers_run() {
        let local = Arc::new(Local::default());
        let full = local.enter("bw.a.b", false);
        assert!(!local.logs_running() && local.fulls_running());
        let first = local.enter("bw.a.b.log", true);
        let second = local.enter("bw.c.b.log", true);
        assert_eq!(local.logs_copying(), 2);
        drop(first);
        assert!(local.logs_running(), "one log still copying");
        drop(second);
        assert!(!local.logs_running());
        drop(full);
        assert!(!local.fulls_running());
    }

    #[tokio::test]
    async fn the_first_and_the_last_transfer_of_a_lane_wake_the_announcer() {
        let local = Arc::new(Local::default());
        let a = local.enter("bw.a.b", false);
        tokio::time::timeout(Duration::from_secs(1), local.changed())
            .await
            .expect("woken by the first");
        let b = local.enter("bw.a.b", false);
        drop(b);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), local.changed())
                .await
                .is_err(),
            "neither a second transfer nor its end changes the lane"
        );
        drop(a);
        tokio::time::timeout(Duration::from_secs(1), local.changed())
            .await
            .expect("woken by the last");
    }

    #[test]
    fn worker_ids_have_no_dot() {
        let id = worker_id();
        assert!(!id.contains('.') && !id.is_empty(), "{id}");
        assert_ne!(id, worker_id());
    }
}
