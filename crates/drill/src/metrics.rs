//! The drill role's metrics. Per-service results (verified point, RTO,
//! failed) are the catalog's gauges, kept with the service's row; these
//! count what this replica ran.

use metrics::{describe_counter, describe_histogram, Unit};

pub const DRILLS: &str = "xregion_drills_total";
pub const DRILL_DURATION: &str = "xregion_drill_duration_seconds";

/// Every name this crate exports, for the dashboard and alert checks.
pub const NAMES: [&str; 2] = [DRILLS, DRILL_DURATION];

pub fn describe() {
    describe_counter!(
        DRILLS,
        Unit::Count,
        "restore drills run by this replica, by outcome (ok, failed)"
    );
    describe_histogram!(
        DRILL_DURATION,
        Unit::Seconds,
        "how long a drill ran, from starting the child to its report"
    );
}

pub fn record(success: bool, seconds: f64) {
    let outcome = if success { "ok" } else { "failed" };
    metrics::counter!(DRILLS, "outcome" => outcome).increment(1);
    metrics::histogram!(DRILL_DURATION).record(seconds);
}
