//! Logs before FULLs (`worker.full_beside_logs`): while a log copies on
//! this worker, a FULL narrows its windows (files at once, parts of each),
//! so the log is not queued behind the FULL's requests in the stores and
//! on the cores they share. By default (`"paced"`) only as far as keeps
//! the logs within two round trips of their copy time alone
//! (`xregion_domain::log_pace`), which leaves a FULL its width where round
//! trips are long or nothing is shared; or to a fixed width. A fixed width
//! holds for as long as logs keep coming, however little the logs gain
//! (`docs/benchmarks.md`, "Eighth session" and "Ninth session").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xregion_domain::log_pace::LogPace;

use crate::presence::Local;

/// The gauge of each target region's allowance (paced only).
pub const ALLOWANCE_GAUGE: &str = "xregion_transfer_full_beside_logs_allowance";

/// How a FULL's window yields to the logs copying.
#[derive(Debug, Clone)]
pub struct Yield {
    /// This worker's transfers, which count the logs among them.
    pub transfers: Arc<Local>,
    pub keep: Keep,
    /// The FULL's target region: the route it is paced on.
    pub target: String,
}

/// The most a FULL's window keeps while any log copies.
#[derive(Debug, Clone)]
pub enum Keep {
    AtMost(usize),
    Paced(Arc<Pace>),
}

impl Keep {
    fn now(&self, target: &str) -> Option<usize> {
        match self {
            Keep::AtMost(n) => Some(*n),
            Keep::Paced(pace) => pace.keep(target),
        }
    }
}

impl Yield {
    /// `window`, narrowed while a log copies (never below one).
    pub fn narrow(&self, window: usize) -> usize {
        self.narrowed(window).unwrap_or(window)
    }

    /// Whether `window` is narrowed now.
    pub fn narrows(&self, window: usize) -> bool {
        self.narrowed(window).is_some()
    }

    fn narrowed(&self, window: usize) -> Option<usize> {
        if !self.transfers.logs_running() {
            return None;
        }
        let keep = self.keep.now(&self.target)?.max(1);
        (keep < window).then_some(keep)
    }
}

/// What copied beside a log.
#[derive(Debug, Clone, Copy)]
pub struct Beside {
    /// A FULL, at its start or its end.
    pub full: bool,
    /// Logs at once, itself included.
    pub logs: usize,
}

/// This worker's [`LogPace`] of each target region, fed by its copies.
#[derive(Debug)]
pub struct Pace {
    routes: Mutex<HashMap<String, LogPace>>,
    /// A FULL's widest window.
    cap: usize,
    /// The paces' clock starts here.
    since: Instant,
}

impl Pace {
    /// Paces for FULLs at most `cap` wide.
    pub fn new(cap: usize) -> Self {
        Self {
            routes: Mutex::default(),
            cap,
            since: Instant::now(),
        }
    }

    fn keep(&self, target: &str) -> Option<usize> {
        self.routes.lock().ok()?.get(target)?.keep()
    }

    fn on<T>(&self, target: &str, f: impl FnOnce(&mut LogPace, Duration) -> T) -> Option<T> {
        let mut routes = self.routes.lock().ok()?;
        // Every job asks: no key is made for a route already paced.
        let new = !routes.contains_key(target);
        if new {
            routes.insert(target.to_string(), LogPace::new(self.cap));
        }
        let pace = routes.get_mut(target)?;
        let before = pace.allowance();
        let out = f(pace, self.since.elapsed());
        // Exported from a route's first job on, then as it moves.
        if new || pace.allowance() != before {
            metrics::gauge!(ALLOWANCE_GAUGE, "target" => target.to_string())
                .set(pace.allowance() as f64);
        }
        Some(out)
    }

    /// A request that moves (almost) nothing to `target` took `took`.
    pub fn round_trip(&self, target: &str, took: Duration) {
        self.on(target, |p, now| p.on_round_trip(now, took.as_secs_f64()));
    }

    /// A log of `bytes` copied to `target` in `took`, with what copied
    /// `beside` it.
    pub fn log_copied(&self, target: &str, bytes: u64, took: Duration, beside: Beside) {
        self.on(target, |p, now| {
            let before = p.keep();
            p.on_log(now, bytes, took.as_secs_f64(), beside.full, beside.logs);
            if p.keep() != before {
                tracing::debug!(target, keep = ?p.keep(), bytes, took_ms = took.as_millis() as u64, "fulls beside logs repaced");
            }
        });
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
            target: "b".into(),
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
            target: "b".into(),
        };
        assert_eq!(none.narrow(8), 1, "at least one part in flight");
        drop(log);
        assert_eq!(none.narrow(8), 8);
    }

    #[test]
    fn a_paced_full_narrows_only_once_logs_of_its_route_are_over_their_budget() {
        let logs = Arc::new(Local::default());
        let pace = Arc::new(Pace::new(8));
        let full = |target: &str| Yield {
            transfers: logs.clone(),
            keep: Keep::Paced(pace.clone()),
            target: target.into(),
        };
        let (near, far) = (full("near"), full("far"));
        let _log = logs.enter("bw.a.near.log", true);
        const MIB: u64 = 1 << 20;
        const ALONE: Beside = Beside {
            full: false,
            logs: 1,
        };
        const FULL: Beside = Beside {
            full: true,
            logs: 1,
        };
        let ms = Duration::from_millis;
        pace.round_trip("near", ms(40));
        pace.log_copied("near", 8 * MIB, ms(400), ALONE);
        assert_eq!(near.narrow(8), 8, "alone: nothing to yield to yet");
        pace.log_copied("near", 8 * MIB, ms(470), FULL);
        assert!(!near.narrows(8), "within 2 × RTT of its time alone");
        pace.round_trip("far", ms(150));
        pace.log_copied("far", 8 * MIB, ms(750), ALONE);
        pace.log_copied("far", 8 * MIB, ms(1000), FULL);
        assert!(!far.narrows(8), "within the far route's own budget");
        pace.log_copied("near", 8 * MIB, ms(700), FULL);
        assert_eq!(near.narrow(8), 4);
        pace.log_copied("near", 8 * MIB, ms(700), FULL);
        assert_eq!(near.narrow(8), 2);
        assert_eq!(near.narrow(1), 1);
        assert_eq!(
            far.narrow(8),
            8,
            "the near route's logs narrow only its FULLs"
        );
    }
}
