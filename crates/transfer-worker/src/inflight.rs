//! The adaptive number of parts (of a file) and files (of a backup) in
//! flight: `xregion_domain::parallelism::Controller` on the worker's clock,
//! exported as a gauge, and what each route last settled at, so the next
//! copy between the same regions starts there instead of at one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xregion_domain::parallelism::Controller;

use crate::priority::Yield;

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
        self.window_yielding(level, cap, unit, None)
    }

    /// The same, narrowed while logs copy when `yields` (a FULL's).
    pub fn window_yielding(
        &self,
        level: Level,
        cap: usize,
        unit: u64,
        yields: Option<Yield>,
    ) -> InFlight {
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
            yields,
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
    yields: Option<Yield>,
}

impl InFlight {
    /// How many may be in flight now (at least one).
    pub fn window(&self) -> usize {
        let window = self.learned_window();
        self.yields.as_ref().map_or(window, |y| y.narrow(window))
    }

    /// The window the controller reached, whatever yields.
    fn learned_window(&self) -> usize {
        self.controller.lock().map_or(1, |c| c.window())
    }

    /// A request that moved `bytes` finished, having taken `latency`.
    pub fn done(&self, bytes: u64, latency: Duration) {
        // A window held narrow for the logs moves less than the route can:
        // learning from it would keep the FULL narrow once they are done.
        if let Some(y) = &self.yields {
            if y.narrows(self.learned_window()) {
                return;
            }
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
        let window = self.learned_window();
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
    fn a_full_yields_while_a_log_copies_and_the_route_keeps_what_it_learned() {
        let logs = Arc::new(crate::presence::Local::default());
        let route = Route::new(Arc::default(), "a", "b");
        let yields = Yield {
            transfers: logs.clone(),
            keep: crate::priority::Keep::AtMost(1),
            target: "b".into(),
        };
        let full = route.window_yielding(Level::Parts, 8, 1, Some(yields));
        assert_eq!(full.window(), 2);
        let log = logs.enter("bw.a.b.log", true);
        assert_eq!(full.window(), 1, "narrowed while the log copies");
        assert_eq!(
            route.window(Level::Files, 8, 1).window(),
            2,
            "a log's own window"
        );
        // What the narrowed window moves is not learned from: a thousand
        // slow requests leave the window where it was.
        for _ in 0..1000 {
            full.done(1, Duration::from_secs(1));
        }
        drop(log);
        assert_eq!(full.window(), 2);
        let _log = logs.enter("bw.a.b.log", true);
        drop(full);
        // The next copy starts at the learned window, not the narrowed one.
        assert_eq!(route.window(Level::Parts, 8, 1).window(), 2);
    }
}
