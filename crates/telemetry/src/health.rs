use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Readiness of a service, as `/healthz` reports it: not ready until the
/// service has connected and declared what it owns, and not ready again once
/// it starts shutting down.
#[derive(Debug, Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}
