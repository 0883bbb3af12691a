//! How wide a FULL may copy while logs copy beside it, so that a log takes
//! at most two round trips longer than it takes alone: a pure controller
//! fed with each log's copy time and the route's round trip, so a test can
//! drive it. One per route.
//!
//! - The round trip is the smallest of the last [`RTT_WINDOW`] (a route's
//!   round trip may change, if seldom; a single fast answer must not set
//!   the budget for good).
//! - A log copied with no FULL beside it updates its size's time alone
//!   (a moving average; sizes are told apart by powers of two), noting
//!   the round trip it was measured at.
//! - A log copied beside a FULL is judged against that time: over the
//!   budget (alone + 2 × RTT) the FULL's allowance halves, within one
//!   round trip of it the allowance grows by one, back to the FULL's own
//!   width (no narrowing). In between it stays.
//! - A log that copied beside more than [`CROWD`] others judges nothing and
//!   is no time alone: it waited on the other logs as much as on any FULL
//!   (a burst of logs is throughput, which narrowing a FULL cannot help).
//! - Without a round trip or a time alone for the log's size, or with a
//!   time alone older than [`ALONE_FRESH_FOR`] or measured at another
//!   round trip than now (what a log takes alone may have changed since:
//!   a FULL must not be held narrow on an old measure), the allowance
//!   grows back: a FULL is never narrowed on a guess.
//!
//! Where round trips are long (a real cross-region link), a log's own
//! round trips dominate and the FULL keeps its width; where they are short
//! and the FULL's requests queue the log's (shared cores, a shared link),
//! the FULL narrows as far as the budget needs.

use std::collections::BTreeMap;
use std::time::Duration;

/// Weight of the newest time alone in its average.
const ALONE_WEIGHT: f64 = 0.25;
/// A round trip too short to matter (a store on the same host) still
/// leaves the log this share of its time alone as slack, so noise alone
/// does not pin the FULL to one request.
const MIN_SLACK: f64 = 0.1;
/// Logs at once (this one included) beyond which a log's time says more
/// about the other logs than about a FULL.
pub const CROWD: usize = 4;
/// How long a time alone judges logs copied beside a FULL.
pub const ALONE_FRESH_FOR: Duration = Duration::from_secs(600);
/// The round trip is the smallest seen within this long. Long: lookups
/// made while a FULL loads the route answer late, and a budget widened by
/// them would let the logs wait longer; a route's round trip seldom moves.
pub const RTT_WINDOW: Duration = Duration::from_secs(600);
/// Two round trips this close (a share of the longer, plus a little for
/// the store's own time) are the same route's.
const SAME_RTT_SHARE: f64 = 0.25;
const SAME_RTT_PLUS: f64 = 0.005;

#[derive(Debug, Clone)]
pub struct LogPace {
    /// A FULL's own widest window: an allowance this wide narrows nothing.
    cap: usize,
    allowance: usize,
    /// By the power of two of a log's size.
    alone: BTreeMap<u32, Alone>,
    rtt: Option<RoundTrip>,
}

/// What a log of one size takes alone.
#[derive(Debug, Clone, Copy)]
struct Alone {
    secs: f64,
    /// When a log of that size last copied alone.
    seen: Duration,
    /// The round trip then.
    rtt: f64,
}

#[derive(Debug, Clone, Copy)]
struct RoundTrip {
    secs: f64,
    /// When it was measured.
    at: Duration,
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

    /// The same as a number: the FULL's whole window when not narrowed.
    pub fn allowance(&self) -> usize {
        self.allowance
    }

    /// A request that moves (almost) nothing took `secs`, answered at
    /// `now` (on any monotonic clock of the caller): a round trip.
    pub fn on_round_trip(&mut self, now: Duration, secs: f64) {
        if !secs.is_finite() || secs < 0.0 {
            return;
        }
        let replaces = self
            .rtt
            .is_none_or(|r| secs <= r.secs || now.saturating_sub(r.at) >= RTT_WINDOW);
        if replaces {
            self.rtt = Some(RoundTrip { secs, at: now });
        }
    }

    /// A log of `bytes` copied in `secs`, with a FULL beside it or not,
    /// and `logs_at_once` logs (itself included) copying, ending at `now`.
    pub fn on_log(
        &mut self,
        now: Duration,
        bytes: u64,
        secs: f64,
        beside_full: bool,
        logs_at_once: usize,
    ) {
        if !secs.is_finite() || secs < 0.0 {
            return;
        }
        let rtt = self.rtt.map(|r| r.secs).filter(|_| logs_at_once <= CROWD);
        let Some(rtt) = rtt else {
            self.widen();
            return;
        };
        let class = size_class(bytes);
        if !beside_full {
            let fresh = Alone {
                secs,
                seen: now,
                rtt,
            };
            self.alone
                .entry(class)
                .and_modify(|a| {
                    *a = match same_route(a.rtt, rtt) {
                        true => Alone {
                            secs: a.secs + ALONE_WEIGHT * (secs - a.secs),
                            ..fresh
                        },
                        false => fresh,
                    }
                })
                .or_insert(fresh);
            return;
        }
        let alone = self
            .alone
            .get(&class)
            .filter(|a| now.saturating_sub(a.seen) < ALONE_FRESH_FOR && same_route(a.rtt, rtt));
        let Some(alone) = alone.map(|a| a.secs) else {
            self.widen();
            return;
        };
        let slack = MIN_SLACK * alone;
        if secs > alone + (2.0 * rtt).max(slack) {
            self.allowance = (self.allowance / 2).max(1);
        } else if secs <= alone + rtt.max(slack / 2.0) {
            self.widen();
        }
    }

    fn widen(&mut self) {
        self.allowance = (self.allowance + 1).min(self.cap);
    }
}

fn same_route(then: f64, now: f64) -> bool {
    (then - now).abs() <= SAME_RTT_SHARE * then.max(now) + SAME_RTT_PLUS
}

fn size_class(bytes: u64) -> u32 {
    bytes.max(1).ilog2()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1 << 20;
    const T0: Duration = Duration::ZERO;

    fn paced(alone: f64, rtt: f64) -> LogPace {
        let mut p = LogPace::new(8);
        p.on_round_trip(T0, rtt);
        p.on_log(T0, 8 * MIB, alone, false, 1);
        p
    }

    #[test]
    fn nothing_narrows_before_a_time_alone_and_a_round_trip_are_known() {
        let mut p = LogPace::new(8);
        p.on_log(T0, 8 * MIB, 9.0, true, 1);
        assert_eq!(p.keep(), None, "no time alone, no round trip");
        p.on_round_trip(T0, 0.04);
        p.on_log(T0, 8 * MIB, 9.0, true, 1);
        assert_eq!(p.keep(), None, "no time alone");
        p.on_log(T0, MIB, 0.1, false, 1);
        p.on_log(T0, 8 * MIB, 9.0, true, 1);
        assert_eq!(p.keep(), None, "a time alone of another size only");
    }

    #[test]
    fn a_log_over_its_budget_halves_the_full_and_logs_within_it_give_width_back() {
        let mut p = paced(0.4, 0.04);
        p.on_log(T0, 8 * MIB, 0.49, true, 1);
        assert_eq!(p.keep(), Some(4), "0.49 s > 0.4 + 2 × 0.04");
        assert_eq!(p.allowance(), 4);
        p.on_log(T0, 8 * MIB, 0.6, true, 1);
        p.on_log(T0, 8 * MIB, 0.6, true, 1);
        p.on_log(T0, 8 * MIB, 0.6, true, 1);
        assert_eq!(p.keep(), Some(1), "never below one");
        p.on_log(T0, 8 * MIB, 0.47, true, 1);
        assert_eq!(
            p.keep(),
            Some(1),
            "within the budget, not within a round trip: held"
        );
        for _ in 0..6 {
            p.on_log(T0, 8 * MIB, 0.43, true, 1);
        }
        assert_eq!(p.keep(), Some(7));
        p.on_log(T0, 8 * MIB, 0.43, true, 1);
        assert_eq!(p.keep(), None, "back to the FULL's own width");
        assert_eq!(p.allowance(), 8, "the gauge shows the whole window");
        p.on_log(T0, 8 * MIB, 0.43, true, 1);
        assert_eq!(p.keep(), None, "never wider than it");
    }

    #[test]
    fn a_time_alone_gone_stale_no_longer_holds_a_full_narrow() {
        let mut p = paced(0.4, 0.04);
        for _ in 0..4 {
            p.on_log(T0, 8 * MIB, 0.9, true, 1);
        }
        assert_eq!(p.keep(), Some(1));
        let later = T0 + ALONE_FRESH_FOR / 2;
        p.on_log(later, 8 * MIB, 0.9, true, 1);
        assert_eq!(p.keep(), Some(1), "still judged against a fresh time alone");
        let stale = T0 + ALONE_FRESH_FOR;
        for _ in 0..7 {
            p.on_log(stale, 8 * MIB, 0.9, true, 1);
        }
        assert_eq!(p.keep(), None, "grown back, one a log");
        p.on_log(stale, 8 * MIB, 0.4, false, 1);
        p.on_log(stale, 8 * MIB, 0.9, true, 1);
        assert_eq!(p.keep(), Some(4), "judged again once a log copied alone");
    }

    #[test]
    fn the_round_trip_is_the_smallest_of_its_window() {
        let mut p = paced(0.4, 0.04);
        p.on_round_trip(T0 + RTT_WINDOW / 2, 0.2);
        p.on_log(T0 + RTT_WINDOW / 2, 8 * MIB, 0.49, true, 1);
        assert_eq!(p.keep(), Some(4), "judged with 0.04 s, not 0.2 s");
        p.on_round_trip(T0 + RTT_WINDOW, 0.042);
        // The time alone measured again, so that it is still fresh.
        p.on_log(T0 + RTT_WINDOW, 8 * MIB, 0.4, false, 1);
        p.on_round_trip(T0 + RTT_WINDOW + RTT_WINDOW / 2, 0.05);
        p.on_log(T0 + RTT_WINDOW, 8 * MIB, 0.49, true, 1);
        assert_eq!(
            p.keep(),
            Some(2),
            "0.042 s replaced the old minimum, 0.05 s did not"
        );
    }

    #[test]
    fn a_time_alone_measured_at_another_round_trip_judges_nothing() {
        let mut p = paced(0.28, 0.0);
        let later = T0 + RTT_WINDOW;
        p.on_round_trip(later, 0.04);
        for _ in 0..3 {
            p.on_log(later, 8 * MIB, 0.41, true, 1);
        }
        assert_eq!(p.keep(), None, "0.28 s was measured 40 ms closer");
        p.on_log(later, 8 * MIB, 0.4, false, 1);
        p.on_log(later, 8 * MIB, 0.41, true, 1);
        assert_eq!(p.keep(), None, "within the new budget: 0.4 + 2 × 0.04");
        p.on_log(later, 8 * MIB, 0.6, true, 1);
        assert_eq!(
            p.keep(),
            Some(4),
            "measured again, not averaged with the old"
        );
    }

    #[test]
    fn logs_in_a_crowd_judge_nothing_and_are_no_time_alone() {
        let mut p = paced(0.4, 0.04);
        p.on_log(T0, 8 * MIB, 0.9, true, 1);
        assert_eq!(p.keep(), Some(4));
        p.on_log(T0, 8 * MIB, 5.0, true, CROWD + 1);
        assert_eq!(p.keep(), Some(5), "a crowded log gives width back");
        p.on_log(T0, 8 * MIB, 5.0, false, CROWD + 1);
        assert_eq!(p.keep(), Some(6));
        p.on_log(T0, 8 * MIB, 0.49, true, CROWD);
        assert_eq!(p.keep(), Some(3), "still judged against 0.4 s");
    }

    #[test]
    fn long_round_trips_leave_the_full_its_width() {
        // 150 ms away a log alone takes 0.75 s; the FULL beside it adds
        // 0.2 s: within two round trips.
        let mut p = paced(0.75, 0.15);
        for _ in 0..20 {
            p.on_log(T0, 8 * MIB, 0.95, true, 1);
        }
        assert_eq!(p.keep(), None);
    }

    #[test]
    fn a_store_on_the_same_host_leaves_a_tenth_of_the_time_alone_as_slack() {
        let mut p = paced(0.3, 0.0);
        p.on_log(T0, 8 * MIB, 0.32, true, 1);
        assert_eq!(p.keep(), None, "within a tenth");
        p.on_log(T0, 8 * MIB, 0.34, true, 1);
        assert_eq!(p.keep(), Some(4));
    }

    #[test]
    fn the_smallest_round_trip_counts_and_nonsense_is_ignored() {
        let mut p = paced(0.4, 0.04);
        p.on_round_trip(T0, 0.5);
        p.on_round_trip(T0, f64::NAN);
        p.on_round_trip(T0, -1.0);
        p.on_log(T0, 8 * MIB, f64::INFINITY, true, 1);
        p.on_log(T0, 8 * MIB, -3.0, false, 1);
        p.on_log(T0, 8 * MIB, 0.47, true, 1);
        assert_eq!(p.keep(), None, "budget still 0.4 + 2 × 0.04");
    }

    proptest! {
        #[test]
        fn the_allowance_stays_within_one_and_the_fulls_width(
            cap in 0usize..64,
            events in proptest::collection::vec((0u64..1 << 30, 0.0f64..5.0, any::<bool>(), 0.0f64..0.3, 0u64..120, 1usize..8), 0..200),
        ) {
            let mut p = LogPace::new(cap);
            let mut now = T0;
            for (bytes, secs, beside, rtt, later, at_once) in events {
                now += Duration::from_secs(later);
                p.on_round_trip(now, rtt);
                p.on_log(now, bytes, secs, beside, at_once);
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
            p.on_round_trip(T0, 0.0);
            for (bytes, secs) in events {
                p.on_log(T0, bytes, secs, false, 1);
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
                p.on_log(T0, 8 * MIB, alone + extra, true, 1);
            }
            let before = p.keep().unwrap_or(8);
            p.on_log(T0, 8 * MIB, alone + (2.0 * rtt).max(MIN_SLACK * alone) + over, true, 1);
            let after = p.keep().unwrap_or(8);
            prop_assert!(after < before || after == 1);
        }
    }
}
