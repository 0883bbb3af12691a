//! The watcher's metrics: names and their `# HELP`.

use metrics::{describe_counter, Unit};

pub const JOBS: &str = "xregion_watcher_jobs_total";
pub const RECONCILE_FAILURES: &str = "xregion_watcher_reconcile_failures_total";

/// Every name this crate exports, for the dashboard and alert checks.
pub const NAMES: [&str; 2] = [JOBS, RECONCILE_FAILURES];

pub fn describe() {
    describe_counter!(
        JOBS,
        Unit::Count,
        "transfer jobs queued, by lane (full, log)"
    );
    describe_counter!(
        RECONCILE_FAILURES,
        Unit::Count,
        "reconcile passes over a service that failed (retried at the next pass)"
    );
}
