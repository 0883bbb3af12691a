//! How wide a FULL may copy while logs copy beside it, so that a log takes
//! at most two round trips longer than it takes alone: a pure controller
//! fed with each log's copy time and the route's round trip, so a test can
//! drive it.
//!
//! - A log copied with no FULL beside it updates its size's time alone
//!   (a moving average; sizes are told apart by powers of two).
//! - A log copied beside a FULL is judged against that time: over the
//!   budget (alone + 2 × RTT) the FULL's allowance halves, within one
//!   round trip of it the allowance grows by one, back to the FULL's own
//!   width (no narrowing). In between it stays.
//! - Without a time alone for the log's size or a round trip, nothing
//!   changes: a FULL is never narrowed on a guess.
//!
//! Where round trips are long (a real cross-region link), a log's own
//! round trips dominate and the FULL keeps its width; where they are short
//! and the FULL's requests queue the log's (shared cores, a shared link),
//! the FULL narrows as far as the budget needs.

use std::collections::BTreeMap;

/// Weight of the newest time alone in its average.
const ALONE_WEIGHT: f64 = 0.25;
/// A round trip too short to matter (a store on the same host) still
/// leaves the log this share of its time alone as slack, so noise alone
/// does not pin the FULL to one request.
const MIN_SLACK: f64 = 0.1;

#[derive(Debug, Clone)]
pub struct LogPace {
    /// A FULL's own widest window: an allowance this wide narrows nothing.
    cap: usize,
    allowance: usize,
    /// Seconds a log copies alone, by the power of two of its size.
    alone: BTreeMap<u32, f64>,
    /// Smallest round trip seen, seconds.
    rtt: Option<f64>,
}

impl LogPace {
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Self {
            cap,
            allowance: cap,
            alone: BTreeMap::new(),
            rtt: None,
        }
    }

    /// The most a FULL keeps in flight while a log copies; `None`: its
    /// whole window.
    pub fn keep(&self) -> Option<usize> {
        (self.allowance < self.cap).then_some(self.allowance)
    }

    /// A request that moves (almost) nothing took `secs`: a round trip.
    pub fn on_round_trip(&mut self, secs: f64) {
        if secs.is_finite() && secs >= 0.0 {
            self.rtt = Some(self.rtt.map_or(secs, |r| r.min(secs)));
        }
    }

    /// A log of `bytes` copied in `secs`, with a FULL beside it or not.
    pub fn on_log(&mut self, bytes: u64, secs: f64, beside_full: bool) {
        if !secs.is_finite() || secs < 0.0 {
            return;
        }
        let class = size_class(bytes);
        if !beside_full {
            let avg = self.alone.entry(class).or_insert(secs);
            *avg += ALONE_WEIGHT * (secs - *avg);
            return;
        }
        let (Some(&alone), Some(rtt)) = (self.alone.get(&class), self.rtt) else {
            return;
        };
        let slack = MIN_SLACK * alone;
        if secs > alone + (2.0 * rtt).max(slack) {
            self.allowance = (self.allowance / 2).max(1);
        } else if secs <= alone + rtt.max(slack / 2.0) {
            self.allowance = (self.allowance + 1).min(self.cap);
        }
    }
}

fn size_class(bytes: u64) -> u32 {
    bytes.max(1).ilog2()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1 << 20;

    fn paced(alone: f64, rtt: f64) -> LogPace {
        let mut p = LogPace::new(8);
        p.on_round_trip(rtt);
        p.on_log(8 * MIB, alone, false);
        p
    }

    #[test]
    fn nothing_narrows_before_a_time_alone_and_a_round_trip_are_known() {
        let mut p = LogPace::new(8);
        p.on_log(8 * MIB, 9.0, true);
        assert_eq!(p.keep(), None, "no time alone, no round trip");
        p.on_round_trip(0.04);
        p.on_log(8 * MIB, 9.0, true);
        assert_eq!(p.keep(), None, "no time alone");
        p.on_log(MIB, 0.1, false);
        p.on_log(8 * MIB, 9.0, true);
        assert_eq!(p.keep(), None, "a time alone of another size only");
    }

    #[test]
    fn a_log_over_its_budget_halves_the_full_and_logs_within_it_give_width_back() {
        let mut p = paced(0.4, 0.04);
        p.on_log(8 * MIB, 0.49, true);
        assert_eq!(p.keep(), Some(4), "0.49 s > 0.4 + 2 × 0.04");
        p.on_log(8 * MIB, 0.6, true);
        p.on_log(8 * MIB, 0.6, true);
        p.on_log(8 * MIB, 0.6, true);
        assert_eq!(p.keep(), Some(1), "never below one");
        p.on_log(8 * MIB, 0.47, true);
        assert_eq!(
            p.keep(),
            Some(1),
            "within the budget, not within a round trip: held"
        );
        for _ in 0..6 {
            p.on_log(8 * MIB, 0.43, true);
        }
        assert_eq!(p.keep(), Some(7));
        p.on_log(8 * MIB, 0.43, true);
        assert_eq!(p.keep(), None, "back to the FULL's own width");
        p.on_log(8 * MIB, 0.43, true);
        assert_eq!(p.keep(), None, "never wider than it");
    }

    #[test]
    fn long_round_trips_leave_the_full_its_width() {
        // 150 ms away a log alone takes 0.75 s; the FULL beside it adds
        // 0.2 s: within two round trips.
        let mut p = paced(0.75, 0.15);
        for _ in 0..20 {
            p.on_log(8 * MIB, 0.95, true);
        }
        assert_eq!(p.keep(), None);
    }

    #[test]
    fn a_store_on_the_same_host_leaves_a_tenth_of_the_time_alone_as_slack() {
        let mut p = paced(0.3, 0.0);
        p.on_log(8 * MIB, 0.32, true);
        assert_eq!(p.keep(), None, "within a tenth");
        p.on_log(8 * MIB, 0.34, true);
        assert_eq!(p.keep(), Some(4));
    }

    #[test]
    fn the_smallest_round_trip_counts_and_nonsense_is_ignored() {
        let mut p = paced(0.4, 0.04);
        p.on_round_trip(0.5);
        p.on_round_trip(f64::NAN);
        p.on_round_trip(-1.0);
        p.on_log(8 * MIB, f64::INFINITY, true);
        p.on_log(8 * MIB, -3.0, false);
        p.on_log(8 * MIB, 0.47, true);
        assert_eq!(p.keep(), None, "budget still 0.4 + 2 × 0.04");
    }

    proptest! {
        #[test]
        fn the_allowance_stays_within_one_and_the_fulls_width(
            cap in 0usize..64,
            events in proptest::collection::vec((0u64..1 << 30, 0.0f64..5.0, any::<bool>(), 0.0f64..0.3), 0..200),
        ) {
            let mut p = LogPace::new(cap);
            for (bytes, secs, beside, rtt) in events {
                p.on_round_trip(rtt);
                p.on_log(bytes, secs, beside);
                if let Some(k) = p.keep() {
                    prop_assert!(k >= 1 && k < cap.max(1));
                }
            }
        }

        #[test]
        fn logs_alone_never_narrow_a_full(
            events in proptest::collection::vec((0u64..1 << 30, 0.0f64..5.0), 0..100),
        ) {
            let mut p = LogPace::new(8);
            p.on_round_trip(0.0);
            for (bytes, secs) in events {
                p.on_log(bytes, secs, false);
                prop_assert_eq!(p.keep(), None);
            }
        }

        #[test]
        fn a_log_over_its_budget_never_widens_a_full(
            alone in 0.01f64..5.0,
            rtt in 0.0f64..0.3,
            start_over in proptest::collection::vec(0.0f64..5.0, 0..20),
            over in 0.001f64..5.0,
        ) {
            let mut p = paced(alone, rtt);
            for extra in start_over {
                p.on_log(8 * MIB, alone + extra, true);
            }
            let before = p.keep().unwrap_or(8);
            p.on_log(8 * MIB, alone + (2.0 * rtt).max(MIN_SLACK * alone) + over, true);
            let after = p.keep().unwrap_or(8);
            prop_assert!(after < before || after == 1);
        }
    }
}
