//! The cleanup's metrics: names, their `# HELP`, and what one sweep adds.

use std::time::Duration;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

use crate::sweep::SweepReport;

pub const SWEEPS: &str = "xregion_cleanup_sweeps_total";
pub const SWEEP_DURATION: &str = "xregion_cleanup_sweep_duration_seconds";
pub const LAST_SWEEP: &str = "xregion_cleanup_last_sweep_timestamp_seconds";
pub const EXPIRED: &str = "xregion_cleanup_expired_backups_total";
pub const ORPHANS: &str = "xregion_cleanup_orphan_objects_removed_total";
pub const STALE_UPLOADS: &str = "xregion_cleanup_stale_uploads_aborted_total";
pub const HALTED: &str = "xregion_cleanup_sweep_halted_total";
pub const LEFT_ALONE: &str = "xregion_cleanup_folders_left_alone";
pub const RETENTION_BLOCKED: &str = "xregion_cleanup_retention_blocked_services";

/// Every name this crate exports, for the dashboard and alert checks.
pub const NAMES: [&str; 9] = [
    SWEEPS,
    SWEEP_DURATION,
    LAST_SWEEP,
    EXPIRED,
    ORPHANS,
    STALE_UPLOADS,
    HALTED,
    LEFT_ALONE,
    RETENTION_BLOCKED,
];

pub fn describe() {
    describe_counter!(
        SWEEPS,
        Unit::Count,
        "sweeps run by this replica (the one holding the sweep lease), by outcome (ok, failed)"
    );
    describe_histogram!(
        SWEEP_DURATION,
        Unit::Seconds,
        "duration of a whole sweep: retention, orphans and stale uploads"
    );
    describe_gauge!(
        LAST_SWEEP,
        "when this replica's last sweep ended, in Unix seconds, whatever its outcome"
    );
    describe_counter!(
        EXPIRED,
        Unit::Count,
        "synced copies removed because they left their service's retention"
    );
    describe_counter!(
        ORPHANS,
        Unit::Count,
        "objects removed from target regions because no live service owns them"
    );
    describe_counter!(
        STALE_UPLOADS,
        Unit::Count,
        "multipart uploads aborted because no worker touched them within the grace"
    );
    describe_counter!(
        HALTED,
        Unit::Count,
        "orphan sweeps halted by the breaker (too large a share of a region's folders to remove), by region"
    );
    describe_gauge!(
        LEFT_ALONE,
        "service folders the last orphan sweep left alone, by region and reason"
    );
    describe_gauge!(
        RETENTION_BLOCKED,
        "live services whose retention this replica's last sweep could not run (e.g. a manifest that does not read): nothing of theirs expires, so their storage grows; cleanup's log names each service and why; only the replica holding the sweep lease sweeps"
    );
}

/// Every region's breaker counter at 0, so that the first halt is an
/// increase (alert XregionSweepHalted).
pub fn start_at_zero<'a>(regions: impl IntoIterator<Item = &'a str>) {
    for region in regions {
        metrics::counter!(HALTED, "region" => region.to_string()).increment(0);
    }
}

/// What one sweep did, in the counters; `report` is None when it failed.
pub fn record(report: Option<&SweepReport>, took: Duration, now_ms: i64) {
    let outcome = if report.is_some() { "ok" } else { "failed" };
    metrics::counter!(SWEEPS, "outcome" => outcome).increment(1);
    metrics::histogram!(SWEEP_DURATION).record(took.as_secs_f64());
    metrics::gauge!(LAST_SWEEP).set(now_ms as f64 / 1000.0);
    if let Some(r) = report {
        metrics::counter!(EXPIRED).increment(r.expired as u64);
        metrics::counter!(ORPHANS).increment(r.orphans);
        metrics::counter!(STALE_UPLOADS).increment(r.stale_uploads);
    }
}
