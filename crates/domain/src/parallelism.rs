//! How many requests (parts of a file, files of a backup) to keep in flight,
//! adapted to the measured bandwidth-delay product instead of a fixed
//! number: a pure controller fed with what each finished request moved and
//! how long it took (≈ round trip + transfer), so a simulated link can test
//! it.
//!
//! It counts in rounds: a round ends once as many requests finished as were
//! allowed in flight when it began. A round's throughput is its bytes over
//! its wall time. The estimate, as in BBR, is the largest throughput of the
//! last few rounds times the smallest latency seen (a latency inflated by
//! queueing must not feed back into a larger window), divided by the unit
//! (part or file size), plus one so a link with room left shows it:
//!
//! - start-up: the window doubles while a round's throughput still rises by
//!   a quarter over the best so far;
//! - then the window is the estimate: it still grows one by one while the
//!   extra request raises the throughput, and stays put once it does not;
//! - an error or throttling halves the window and the remembered throughput.
//!
//! The configured setting is the cap; the window is never below one.

use std::collections::VecDeque;
use std::time::Duration;

/// Rounds whose throughput is remembered: a lost capacity is noticed after
/// that many rounds.
const BANDWIDTH_ROUNDS: usize = 8;
/// Start-up goes on while each round is this much faster than the best.
const STILL_RISING: f64 = 1.25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    StartUp,
    Steady,
}

#[derive(Debug, Clone)]
pub struct Controller {
    cap: usize,
    /// Bytes of one request (part size, or mean file size), at least 1.
    unit: u64,
    window: usize,
    phase: Phase,
    /// Smallest latency seen, seconds.
    min_latency: Option<f64>,
    /// Throughput of the last rounds, bytes per second.
    rounds: VecDeque<f64>,
    round: Round,
}

#[derive(Debug, Clone, Default)]
struct Round {
    /// When it began, on the caller's clock (seconds); unset until its first
    /// request finished (then: that request's start).
    started: Option<f64>,
    bytes: u64,
    done: usize,
    /// How many must finish to close it: the window when it began.
    size: usize,
}

impl Controller {
    /// A controller never above `cap` (the configured setting), starting at
    /// `start` (e.g. what the last copy on the same route settled at).
    pub fn new(cap: usize, unit: u64, start: usize) -> Self {
        let cap = cap.max(1);
        let window = start.clamp(1, cap);
        Self {
            cap,
            unit: unit.max(1),
            window,
            phase: Phase::StartUp,
            min_latency: None,
            rounds: VecDeque::new(),
            round: Round {
                size: window,
                ..Round::default()
            },
        }
    }

    /// How many may be in flight now: within 1..=cap.
    pub fn window(&self) -> usize {
        self.window
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The throughput the estimate rests on, bytes per second (0: none yet).
    pub fn bandwidth(&self) -> f64 {
        self.rounds.iter().copied().fold(0.0, f64::max)
    }

    /// A request finished at `now` (seconds on any monotonic clock of the
    /// caller) having moved `bytes` in `latency`. Returns the new window.
    pub fn on_done(&mut self, now: Duration, bytes: u64, latency: Duration) -> usize {
        let (now, latency) = (now.as_secs_f64(), latency.as_secs_f64());
        if latency > 0.0 {
            self.min_latency = Some(self.min_latency.map_or(latency, |m| m.min(latency)));
        }
        let round = &mut self.round;
        // A round begins where the last ended; the first where its first
        // request began.
        round.started.get_or_insert(now - latency);
        round.bytes = round.bytes.saturating_add(bytes);
        round.done += 1;
        if round.done >= round.size {
            let elapsed = round.started.map_or(0.0, |s| now - s);
            let bytes = round.bytes;
            self.round = Round {
                started: Some(now),
                size: self.window,
                ..Round::default()
            };
            if elapsed > 0.0 {
                self.end_round(bytes as f64 / elapsed);
            }
        }
        self.window
    }

    /// A request failed, or the other end asked to slow down.
    pub fn on_error(&mut self) -> usize {
        self.phase = Phase::Steady;
        for r in self.rounds.iter_mut() {
            *r /= 2.0;
        }
        self.window = (self.window / 2).max(1);
        self.round = Round {
            size: self.window,
            ..Round::default()
        };
        self.window
    }

    fn end_round(&mut self, throughput: f64) {
        let best = self.bandwidth();
        self.rounds.push_back(throughput);
        while self.rounds.len() > BANDWIDTH_ROUNDS {
            self.rounds.pop_front();
        }
        if self.phase == Phase::StartUp {
            if best == 0.0 || throughput >= best * STILL_RISING {
                self.window = (self.window * 2).min(self.cap);
                self.round.size = self.window;
                return;
            }
            self.phase = Phase::Steady;
        }
        self.window = self.estimate();
        self.round.size = self.window;
    }

    /// Bandwidth × delay over the unit, plus one; within 1..=cap.
    fn estimate(&self) -> usize {
        let bdp = self.bandwidth() * self.min_latency.unwrap_or(0.0);
        let units = (bdp / self.unit as f64).ceil();
        // A float of any size saturates to usize::MAX, NaN to 0.
        let units = if units.is_finite() { units as usize } else { 0 };
        units.saturating_add(1).clamp(1, self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1024 * 1024;
    const PART: u64 = 8 * MIB;

    /// A link of `total` bytes/s shared by the requests in flight, each
    /// also limited to `per_connection`, `rtt` seconds away: a request
    /// takes a round trip plus its transfer, or longer once the link is
    /// full (Little's law).
    struct Link {
        rtt: f64,
        per_connection: f64,
        total: f64,
    }

    impl Link {
        /// How long a part takes with `n` in flight.
        fn latency(&self, n: usize) -> f64 {
            let alone = self.rtt + PART as f64 / self.per_connection;
            alone.max(n as f64 * PART as f64 / self.total)
        }
    }

    /// Runs `rounds` windows of parts over `link`; returns the windows seen.
    fn run(link: &Link, cap: usize, rounds: usize) -> Vec<usize> {
        let mut c = Controller::new(cap, PART, 1);
        let mut now = 0.0;
        let mut seen = Vec::new();
        for _ in 0..rounds {
            let n = c.window();
            let l = link.latency(n);
            now += l;
            for _ in 0..n {
                c.on_done(
                    Duration::from_secs_f64(now),
                    PART,
                    Duration::from_secs_f64(l),
                );
            }
            seen.push(c.window());
        }
        seen
    }

    const MB32: f64 = 32.0 * MIB as f64;

    #[test]
    fn a_long_fat_link_goes_beyond_the_old_fixed_four() {
        let link = Link {
            rtt: 0.150,
            per_connection: MB32,
            total: 256.0 * MIB as f64,
        };
        let seen = run(&link, 32, 40);
        // BDP: 256 MiB/s × (0.15 s + 8 MiB at 32 MiB/s) = 102.4 MiB, 12.8
        // parts, plus one.
        let last = *seen.last().unwrap();
        assert!((13..=15).contains(&last), "{seen:?}");
        assert!(seen[30..].iter().all(|&w| w == last), "settles: {seen:?}");
    }

    #[test]
    fn with_no_round_trip_one_connection_filling_the_link_stays_low() {
        let link = Link {
            rtt: 0.0,
            per_connection: MB32,
            total: MB32,
        };
        let seen = run(&link, 32, 40);
        assert!(seen[5..].iter().all(|&w| w <= 2), "{seen:?}");
    }

    #[test]
    fn the_cap_is_never_passed() {
        let link = Link {
            rtt: 0.150,
            per_connection: MB32,
            total: 10_000.0 * MIB as f64,
        };
        let seen = run(&link, 6, 40);
        assert!(seen.iter().all(|&w| w <= 6), "{seen:?}");
        assert_eq!(*seen.last().unwrap(), 6, "still rising: up to the cap");
        assert_eq!(run(&link, 1, 10), vec![1; 10]);
    }

    #[test]
    fn errors_halve_the_window_never_below_one() {
        let mut c = Controller::new(32, PART, 16);
        assert_eq!(c.on_error(), 8);
        assert_eq!(c.on_error(), 4);
        for _ in 0..5 {
            c.on_error();
        }
        assert_eq!(c.window(), 1);
        assert_eq!(Controller::new(0, 0, 0).window(), 1);
        assert_eq!(Controller::new(4, PART, 9).window(), 4, "start capped");
    }

    #[test]
    fn after_an_error_the_window_grows_back_while_throughput_rises() {
        let link = Link {
            rtt: 0.150,
            per_connection: MB32,
            total: 256.0 * MIB as f64,
        };
        let mut c = Controller::new(32, PART, 14);
        c.on_error();
        c.on_error();
        let mut now = 0.0;
        for _ in 0..60 {
            let n = c.window();
            let l = link.latency(n);
            now += l;
            for _ in 0..n {
                c.on_done(
                    Duration::from_secs_f64(now),
                    PART,
                    Duration::from_secs_f64(l),
                );
            }
        }
        assert!((13..=15).contains(&c.window()), "{}", c.window());
    }

    #[derive(Debug, Clone)]
    enum Event {
        Done { at_ms: u64, bytes: u64, ms: u64 },
        Error,
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            8 => (0u64..1 << 40, any::<u64>(), 0u64..1 << 40).prop_map(|(at_ms, bytes, ms)| Event::Done { at_ms, bytes, ms }),
            1 => Just(Event::Error),
        ]
    }

    proptest! {
        #[test]
        fn the_window_stays_within_one_and_the_cap(
            cap in 0usize..64,
            unit in any::<u64>(),
            start in any::<usize>(),
            events in proptest::collection::vec(event(), 0..200),
        ) {
            let mut c = Controller::new(cap, unit, start);
            let top = cap.max(1);
            prop_assert!((1..=top).contains(&c.window()));
            for e in events {
                let w = match e {
                    Event::Done { at_ms, bytes, ms } => c.on_done(
                        Duration::from_millis(at_ms),
                        bytes,
                        Duration::from_millis(ms),
                    ),
                    Event::Error => c.on_error(),
                };
                prop_assert!((1..=top).contains(&w), "{w} of {top}");
                prop_assert_eq!(w, c.window());
            }
        }
    }
}
