//! Logs before FULLs, when `worker.full_beside_logs` is set: while a log
//! copies on this worker, a FULL narrows its windows (files at once, parts
//! of each) to it, so the log is not queued behind the FULL's requests in
//! the stores and on the cores they share. Opt-in: with logs arriving all
//! the time a FULL then runs at that width for good, which delays a new
//! service's first restorable point (`docs/benchmarks.md`, "Eighth
//! session").

use std::sync::Arc;

use crate::presence::Local;

/// How a FULL's window yields to the logs copying.
#[derive(Debug, Clone)]
pub struct Yield {
    /// This worker's transfers, which count the logs among them.
    pub transfers: Arc<Local>,
    /// The most a FULL's window keeps while any log copies.
    pub keep: usize,
}

impl Yield {
    /// `window`, narrowed while a log copies (never below one).
    pub fn narrow(&self, window: usize) -> usize {
        match self.narrows(window) {
            true => self.keep.max(1),
            false => window,
        }
    }

    /// Whether `window` is narrowed now.
    pub fn narrows(&self, window: usize) -> bool {
        self.transfers.logs_running() && self.keep.max(1) < window
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
            keep: 4,
        };
        assert_eq!(full.narrow(8), 8, "no log copying: the whole window");
        let log = logs.enter("bw.a.b.log", true);
        assert_eq!(full.narrow(8), 4);
        assert!(full.narrows(8));
        assert_eq!(full.narrow(3), 3, "never widened");
        assert!(!full.narrows(4), "a window at its share is not narrowed");
        let none = Yield {
            transfers: logs,
            keep: 0,
        };
        assert_eq!(none.narrow(8), 1, "at least one part in flight");
        drop(log);
        assert_eq!(none.narrow(8), 8);
    }
}
