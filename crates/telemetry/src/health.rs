//! Readiness of a service, as `/readyz` reports it: ready once the service
//! has started (and not yet begun to stop) AND every named check passes —
//! NATS connected, each durable consumer declared and pulling, the catalog's
//! database answering. Liveness (`/livez`) does not look at any of this.
//!
//! A check is registered once and updated through its [`CheckHandle`];
//! updates that change nothing cost one atomic load, so a loop may report
//! its state on every turn.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Why a check registered but never updated is failing: readiness is
/// earned, not assumed.
const NOT_CHECKED: &str = "not checked yet";

#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    started: AtomicBool,
    checks: Mutex<BTreeMap<String, Arc<CheckState>>>,
}

#[derive(Debug)]
struct CheckState {
    ok: AtomicBool,
    /// Why it fails; meaningful only while `ok` is false.
    reason: Mutex<String>,
}

/// One named check of a [`Health`]; clones update the same check.
#[derive(Debug, Clone)]
pub struct CheckHandle {
    state: Arc<CheckState>,
}

/// What `/readyz` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub started: bool,
    /// Failing checks by name, with their reasons, sorted by name.
    pub failing: Vec<(String, String)>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.started && self.failing.is_empty()
    }
}

impl Health {
    /// Marks the service as started (its parts are declared) or stopping.
    pub fn set_started(&self, started: bool) {
        self.inner.started.store(started, Ordering::SeqCst);
    }

    /// The check `name`, failing until first set; asking again for a name
    /// returns the same check.
    pub fn check(&self, name: &str) -> CheckHandle {
        let mut checks = self
            .inner
            .checks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = checks
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(CheckState {
                    ok: AtomicBool::new(false),
                    reason: Mutex::new(NOT_CHECKED.to_string()),
                })
            })
            .clone();
        CheckHandle { state }
    }

    pub fn is_ready(&self) -> bool {
        self.readiness().is_ready()
    }

    pub fn readiness(&self) -> Readiness {
        let failing = self
            .checks()
            .into_iter()
            .filter_map(|(name, failing)| failing.map(|reason| (name, reason)))
            .collect();
        Readiness {
            started: self.inner.started.load(Ordering::SeqCst),
            failing,
        }
    }

    /// Every check by name: `None` when passing, the reason when failing.
    pub fn checks(&self) -> Vec<(String, Option<String>)> {
        let checks = self
            .inner
            .checks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        checks
            .iter()
            .map(|(name, state)| (name.clone(), state.failing()))
            .collect()
    }
}

impl CheckState {
    fn failing(&self) -> Option<String> {
        if self.ok.load(Ordering::SeqCst) {
            return None;
        }
        let reason = self
            .reason
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(reason.clone())
    }
}

impl CheckHandle {
    /// Passing, or failing without a more precise reason.
    pub fn set(&self, ok: bool) {
        if ok {
            self.set_ok();
        } else {
            self.set_failing("failing");
        }
    }

    pub fn set_ok(&self) {
        self.state.ok.store(true, Ordering::SeqCst);
    }

    /// Failing because of `reason` (shown on `/readyz`).
    pub fn set_failing(&self, reason: impl Into<String>) {
        let reason = reason.into();
        *self
            .state
            .reason
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = reason;
        // After the reason, so a reader never sees a failure with the
        // previous failure's reason.
        self.state.ok.store(false, Ordering::SeqCst);
    }

    /// `Ok` passes, `Err(reason)` fails.
    pub fn report(&self, state: Result<(), String>) {
        match state {
            Ok(()) => self.set_ok(),
            Err(reason) => self.set_failing(reason),
        }
    }

    pub fn is_ok(&self) -> bool {
        self.state.ok.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_started_and_every_check_passes() {
        let health = Health::default();
        assert!(!health.is_ready(), "not started");
        health.set_started(true);
        assert!(health.is_ready(), "started, no checks");
        let nats = health.check("nats");
        let db = health.check("database");
        assert!(!health.is_ready(), "new checks fail until set");
        nats.set(true);
        db.set_ok();
        assert!(health.is_ready());
        db.set_failing("select 1 timed out");
        assert!(!health.is_ready());
        db.set(true);
        assert!(health.is_ready());
        health.set_started(false);
        assert!(!health.is_ready(), "stopping");
    }

    #[test]
    fn failing_checks_are_listed_by_name_with_their_reasons() {
        let health = Health::default();
        health.set_started(true);
        let nats = health.check("nats");
        let consumer = health.check("consumer:x-transfer-log");
        let _db = health.check("database");
        nats.set(false);
        consumer.report(Err("stream X_TRANSFERS not found".into()));
        let readiness = health.readiness();
        assert_eq!(
            readiness.failing,
            vec![
                (
                    "consumer:x-transfer-log".to_string(),
                    "stream X_TRANSFERS not found".to_string()
                ),
                ("database".to_string(), NOT_CHECKED.to_string()),
                ("nats".to_string(), "failing".to_string()),
            ]
        );
        consumer.report(Ok(()));
        nats.set_failing("disconnected");
        let readiness = health.readiness();
        assert_eq!(readiness.failing.len(), 2);
        assert_eq!(
            readiness.failing[1],
            ("nats".to_string(), "disconnected".to_string())
        );
    }

    #[test]
    fn the_same_name_is_the_same_check() {
        let health = Health::default();
        health.set_started(true);
        let first = health.check("nats");
        let again = health.check("nats");
        first.set_ok();
        assert!(again.is_ok());
        again.set_failing("down");
        assert!(!first.is_ok());
        assert_eq!(health.checks().len(), 1);
    }
}
