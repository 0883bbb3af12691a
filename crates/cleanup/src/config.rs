use serde::{Deserialize, Serialize};
use xregion_common::CommonConfig;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CleanupConfig {
    #[serde(flatten)]
    pub common: CommonConfig,
    pub cleanup: Settings,
}

impl xregion_runtime::HasCommon for CleanupConfig {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// How often retention and orphan collection run, in seconds.
    pub sweep_interval_secs: u64,
    /// Orphans younger than this are left alone, in hours.
    pub orphan_grace_hours: u64,
    /// How long a purge may run unacknowledged before another cleanup
    /// instance takes it over (it resumes where the first stopped).
    pub purge_ack_wait_secs: u64,
    /// Added to the system clock; lets tests move time.
    pub clock_offset_secs: i64,
    /// Test-only fault injection: abort the process after this many object
    /// deletions of a purge (0: never).
    pub fail_after_deletes: u64,
    /// The orphan sweep's circuit breaker: a sweep that would remove more
    /// than this share (0..=1) of a region's service folders deletes nothing
    /// and raises `SweepHalted`. One folder per sweep is always allowed.
    pub max_removal_share: f64,
    /// Test-only fault injection between the steps of expiring a copy.
    pub fail_point: FailPoint,
}

/// Where a test makes cleanup abort, to prove each step is crash-safe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailPoint {
    #[default]
    Never,
    /// The catalog forgot the copy; its manifest and files are still there.
    AfterExpireRecorded,
    /// The manifest is gone; the files are still there.
    AfterManifestRemoved,
}

impl FailPoint {
    /// Aborts the process when `at` is the configured point.
    pub fn reached(self, at: FailPoint) {
        if self != FailPoint::Never && self == at {
            tracing::error!(fail_point = ?at, "fail point reached: aborting");
            std::process::abort();
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            sweep_interval_secs: 600,
            orphan_grace_hours: 24,
            purge_ack_wait_secs: 300,
            clock_offset_secs: 0,
            fail_after_deletes: 0,
            max_removal_share: 0.1,
            fail_point: FailPoint::Never,
        }
    }
}
