//! The adaptive number of parts (of a file) and files (of a backup) in
//! flight: `xregion_domain::parallelism::Controller` on the worker's clock,
//! exported as a gauge, and what each route last settled at, so the next
//! copy between the same regions starts there instead of at one. A FULL's
//! parts give way while a LOG copies (`LogsCopying`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xregion_domain::parallelism::Controller;

/// The gauge of the current window, by level (parts, files) and route.
pub const GAUGE: &str = "xregion_transfer_in_flight";

/// What level a window is for: the gauge's `level` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Parts,
    Files,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Parts => "parts",
            Level::Files => "files",
        }
    }
}

/// The LOG transfers whose files are copying in this worker now. A FULL's
/// file gives way to them: with n of them, it keeps a 1/(n + 1) share of
/// its window in flight (never fewer than one part). A point in time is
/// restorable only once its logs are there, and on a busy link, store or
/// pair of cores every part a FULL keeps in flight is time a log waits; a
/// FULL still moves while logs copy. Logs waiting on round trips of their
/// own (committed check, commit) are not counted: they leave the link and
/// the cores to the FULL.
#[derive(Debug, Default)]
pub struct LogsCopying(AtomicUsize);

impl LogsCopying {
    /// Counts one LOG as copying until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> LogCopying {
        self.0.fetch_add(1, Ordering::Relaxed);
        LogCopying(self.clone())
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// One LOG copying (`LogsCopying::enter`).
pub struct LogCopying(Arc<LogsCopying>);

impl Drop for LogCopying {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The windows copies on each route settled at, shared by the transfers.
#[derive(Debug, Default)]
pub struct Learned {
    settled: Mutex<HashMap<(Level, String, String), usize>>,
}

/// The route of one transfer: where its windows start and are kept.
#[derive(Debug, Clone, Default)]
pub struct Route {
    learned: Arc<Learned>,
    source: String,
    target: String,
}

impl Route {
    pub fn new(learned: Arc<Learned>, source: &str, target: &str) -> Self {
        Self {
            learned,
            source: source.to_string(),
            target: target.to_string(),
        }
    }

    /// A window of at most `cap` requests of about `unit` bytes, starting
    /// where the last one on this route settled (first: two).
    pub fn window(&self, level: Level, cap: usize, unit: u64) -> InFlight {
        let key = (level, self.source.clone(), self.target.clone());
        let start = self
            .learned
            .settled
            .lock()
            .ok()
            .and_then(|s| s.get(&key).copied())
            .unwrap_or(2);
        let gauge = metrics::gauge!(GAUGE, "level" => level.as_str(), "source" => self.source.clone(), "target" => self.target.clone());
        let controller = Controller::new(cap, unit, start);
        gauge.set(controller.window() as f64);
        InFlight {
            controller: Mutex::new(controller),
            origin: Instant::now(),
            gauge,
            learned: self.learned.clone(),
            key,
            gives_way: None,
        }
    }
}

/// One copy's window.
pub struct InFlight {
    controller: Mutex<Controller>,
    origin: Instant,
    gauge: metrics::Gauge,
    learned: Arc<Learned>,
    key: (Level, String, String),
    /// A FULL's parts: a share of the window while LOGs copy.
    gives_way: Option<Arc<LogsCopying>>,
}

impl InFlight {
    /// The window gives way to `logs` (a FULL's parts).
    pub fn giving_way_to(mut self, logs: Arc<LogsCopying>) -> Self {
        self.gives_way = Some(logs);
        self
    }

    /// How many may be in flight now (at least one).
    pub fn window(&self) -> usize {
        (self.adapted() / (1 + self.logs())).max(1)
    }

    fn logs(&self) -> usize {
        self.gives_way.as_ref().map_or(0, |logs| logs.count())
    }

    /// The window the controller settled at, whether or not it gives way.
    fn adapted(&self) -> usize {
        self.controller.lock().map_or(1, |c| c.window())
    }

    /// A request that moved `bytes` finished, having taken `latency`.
    pub fn done(&self, bytes: u64, latency: Duration) {
        // While it gives way, a request measures the share the logs left,
        // not the route: learning from it would shrink the window for good.
        if self.logs() > 0 {
            return;
        }
        let now = self.origin.elapsed();
        self.update(|c| c.on_done(now, bytes, latency));
    }

    /// A request failed.
    pub fn failed(&self) {
        self.update(Controller::on_error);
    }

    fn update(&self, f: impl FnOnce(&mut Controller) -> usize) {
        if let Ok(mut c) = self.controller.lock() {
            let window = f(&mut c);
            self.gauge.set(window as f64);
        }
    }
}

impl Drop for InFlight {
    /// The next copy on the route starts where this one ended.
    fn drop(&mut self) {
        let window = self.adapted();
        if let Ok(mut settled) = self.learned.settled.lock() {
            settled.insert(self.key.clone(), window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_copy_on_a_route_starts_where_the_last_settled() {
        let route = Route::new(Arc::default(), "a", "b");
        let first = route.window(Level::Parts, 8, 1);
        assert_eq!(first.window(), 2, "a new route starts at two");
        first.failed();
        assert_eq!(first.window(), 1);
        drop(first);
        assert_eq!(route.window(Level::Parts, 8, 1).window(), 1);
        // Another level or route keeps its own.
        assert_eq!(route.window(Level::Files, 8, 1).window(), 2);
        let other = Route::new(route.learned.clone(), "a", "c");
        assert_eq!(other.window(Level::Parts, 8, 1).window(), 2);
        // Never above the cap.
        assert_eq!(other.window(Level::Parts, 1, 1).window(), 1);
    }

    #[test]
    fn a_fulls_parts_give_way_while_logs_copy() {
        let learned = Arc::new(Learned::default());
        let key = (Level::Parts, "a".to_string(), "b".to_string());
        learned.settled.lock().unwrap().insert(key, 8);
        let route = Route::new(learned.clone(), "a", "b");
        let logs = Arc::new(LogsCopying::default());
        let full = route
            .window(Level::Parts, 16, 1)
            .giving_way_to(logs.clone());
        let a_logs_own = route.window(Level::Parts, 8, 1);
        assert_eq!(full.window(), 8);
        let first = logs.enter();
        let second = logs.enter();
        assert_eq!(full.window(), 8 / 3, "a third of the window with two logs");
        assert_eq!(a_logs_own.window(), 8, "a log's own parts do not give way");
        let many: Vec<_> = (0..10).map(|_| logs.enter()).collect();
        assert_eq!(full.window(), 1, "a FULL never stops");
        drop(many);
        // What requests measure while it gives way teaches the window
        // nothing (unheeded, these would grow it).
        for _ in 0..50 {
            full.done(1 << 20, Duration::from_millis(1));
        }
        drop(first);
        assert_eq!(full.window(), 4);
        drop(second);
        assert_eq!(full.window(), 8);
        // What the route learns is the adapted window, not the given-way one.
        let _third = logs.enter();
        drop(full);
        assert_eq!(route.window(Level::Parts, 8, 1).window(), 8);
    }
}
