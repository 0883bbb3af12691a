//! A lane's bandwidth limit split among the workers copying on it.
//!
//! Every worker with at least one transfer running on a lane gets an equal
//! share, whatever its demand. A worker whose copies need less than their
//! share (a nearly finished file, a slow source) leaves the rest unused
//! until its last transfer on the lane ends, when the others' shares grow;
//! weighting by demand would need each worker to publish and chase its
//! measured rate, and the aggregate could then overshoot while shares
//! settle. Equal shares never add up to more than the limit.

/// The bytes per second one of `workers` active workers may use of `limit`
/// (0: unlimited, which stays unlimited). The worker asking counts itself,
/// so fewer than one worker is one. Rounded down, so the shares never add up
/// to more than the limit; never 0, which would mean unlimited.
pub fn share(limit: u64, workers: usize) -> u64 {
    if limit == 0 {
        return 0;
    }
    let workers = workers.max(1) as u64;
    (limit / workers).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn unlimited_stays_unlimited() {
        for workers in 0..5 {
            assert_eq!(share(0, workers), 0);
        }
    }

    #[test]
    fn a_worker_alone_gets_all_of_it() {
        assert_eq!(share(4 * MIB, 1), 4 * MIB);
        assert_eq!(share(4 * MIB, 0), 4 * MIB, "it counts itself");
    }

    #[test]
    fn three_workers_get_a_third_each() {
        assert_eq!(share(3 * MIB, 3), MIB);
        assert_eq!(share(4 * MIB, 3), 1_398_101);
    }

    #[test]
    fn rounding_never_exceeds_the_limit_and_wastes_less_than_a_byte_each() {
        for limit in 1..=2_000u64 {
            for workers in 1..=limit.min(16) as usize {
                let total = share(limit, workers) * workers as u64;
                assert!(total <= limit, "{workers} × share of {limit} = {total}");
                assert!(total > limit - workers as u64, "{limit}/{workers}");
            }
        }
    }

    #[test]
    fn a_limit_below_one_byte_each_still_limits() {
        assert_eq!(share(2, 3), 1);
    }
}
