//! Logs before FULLs (`worker.full_beside_logs`): while a log copies on
//! this worker, a FULL narrows its windows (files at once, parts of each),
//! so the log is not queued behind the FULL's requests in the stores and
//! on the cores they share. By default (`"paced"`) only as far as keeps
//! the logs within two round trips of their copy time alone
//! (`xregion_domain::log_pace`), which leaves a FULL its width where round
//! trips are long or nothing is shared; or to a fixed width. A fixed width
//! holds for as long as logs keep coming, however little the logs gain
//! (`docs/benchmarks.md`, "Eighth session" and "Ninth session").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use xregion_domain::log_pace::LogPace;

use crate::presence::Local;

/// How a FULL's window yields to the logs copying.
#[derive(Debug, Clone)]
pub struct Yield {
    /// This worker's transfers, which count the logs among them.
    pub transfers: Arc<Local>,
    pub keep: Keep,
}

/// The most a FULL's window keeps while any log copies.
#[derive(Debug, Clone)]
pub enum Keep {
    AtMost(usize),
    Paced(Arc<Pace>),
}

impl Keep {
    fn now(&self) -> Option<usize> {
        match self {
            Keep::AtMost(n) => Some(*n),
            Keep::Paced(pace) => pace.keep(),
        }
    }
}

impl Yield {
    /// `window`, narrowed while a log copies (never below one).
    pub fn narrow(&self, window: usize) -> usize {
        match (self.narrows(window), self.keep.now()) {
            (true, Some(keep)) => keep.max(1),
            _ => window,
        }
    }

    /// Whether `window` is narrowed now.
    pub fn narrows(&self, window: usize) -> bool {
        self.transfers.logs_running() && self.keep.now().is_some_and(|k| k.max(1) < window)
    }
}

/// This worker's [`LogPace`], fed by its copies.
#[derive(Debug)]
pub struct Pace(Mutex<LogPace>);

impl Pace {
    /// A pace for FULLs at most `cap` wide.
    pub fn new(cap: usize) -> Self {
        Self(Mutex::new(LogPace::new(cap)))
    }

    fn keep(&self) -> Option<usize> {
        self.0.lock().ok()?.keep()
    }

    /// A request that moves (almost) nothing to the target took `took`.
    pub fn round_trip(&self, took: Duration) {
        if let Ok(mut p) = self.0.lock() {
            p.on_round_trip(took.as_secs_f64());
        }
    }

    /// A log of `bytes` copied in `took`, a FULL copying beside it or not.
    pub fn log_copied(&self, bytes: u64, took: Duration, beside_full: bool) {
        if let Ok(mut p) = self.0.lock() {
            let before = p.keep();
            p.on_log(bytes, took.as_secs_f64(), beside_full);
            if p.keep() != before {
                tracing::debug!(keep = ?p.keep(), bytes, took_ms = took.as_millis() as u64, "fulls beside logs repaced");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_narrows_to_its_share_only_while_a_log_copies() {
        let logs = Arc::new(Local::default());
        let full = Yield {
            transfers: logs.clone(),
            keep: Keep::AtMost(4),
        };
        assert_eq!(full.narrow(8), 8, "no log copying: the whole window");
        let log = logs.enter("bw.a.b.log", true);
        assert_eq!(full.narrow(8), 4);
        assert!(full.narrows(8));
        assert_eq!(full.narrow(3), 3, "never widened");
        assert!(!full.narrows(4), "a window at its share is not narrowed");
        let none = Yield {
            transfers: logs,
            keep: Keep::AtMost(0),
        };
        assert_eq!(none.narrow(8), 1, "at least one part in flight");
        drop(log);
        assert_eq!(none.narrow(8), 8);
    }

    #[test]
    fn a_paced_full_narrows_only_once_logs_beside_it_are_over_their_budget() {
        let logs = Arc::new(Local::default());
        let pace = Arc::new(Pace::new(8));
        let full = Yield {
            transfers: logs.clone(),
            keep: Keep::Paced(pace.clone()),
        };
        let _log = logs.enter("bw.a.b.log", true);
        const MIB: u64 = 1 << 20;
        pace.round_trip(Duration::from_millis(40));
        pace.log_copied(8 * MIB, Duration::from_millis(400), false);
        assert_eq!(full.narrow(8), 8, "alone: nothing to yield to yet");
        pace.log_copied(8 * MIB, Duration::from_millis(470), true);
        assert!(!full.narrows(8), "within 2 × RTT of its time alone");
        pace.log_copied(8 * MIB, Duration::from_millis(700), true);
        assert_eq!(full.narrow(8), 4);
        pace.log_copied(8 * MIB, Duration::from_millis(700), true);
        assert_eq!(full.narrow(8), 2);
        assert_eq!(full.narrow(1), 1);
    }
}
