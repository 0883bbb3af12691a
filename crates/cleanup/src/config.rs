use std::time::Duration;

use serde::{Deserialize, Serialize};
use xregion_common::units;
use xregion_common::validate::{positive, share, Invalid, Validate};

xregion_common::service_config! {
    /// The common sections and `[cleanup]`.
    pub struct CleanupConfig { cleanup: CleanupSettings }
}

impl Validate for CleanupConfig {
    fn validate(&self) -> Result<(), Invalid> {
        let s = &self.cleanup;
        positive("cleanup.sweep_interval_secs", s.sweep_interval)?;
        positive("cleanup.purge_ack_wait_secs", s.purge_ack_wait)?;
        share("cleanup.max_removal_share", s.max_removal_share)
    }
}

/// The `[cleanup]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CleanupSettings {
    /// How often retention and orphan collection run.
    #[serde(rename = "sweep_interval_secs", with = "units::secs")]
    pub sweep_interval: Duration,
    /// Orphans younger than this are left alone (0: none is spared).
    #[serde(rename = "orphan_grace_hours", with = "units::hours")]
    pub orphan_grace: Duration,
    /// How long a purge may run unacknowledged before another cleanup
    /// instance takes it over (it resumes where the first stopped).
    #[serde(rename = "purge_ack_wait_secs", with = "units::secs")]
    pub purge_ack_wait: Duration,
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

impl Default for CleanupSettings {
    fn default() -> Self {
        Self {
            sweep_interval: Duration::from_secs(600),
            orphan_grace: Duration::from_secs(24 * 3600),
            purge_ack_wait: Duration::from_secs(300),
            clock_offset_secs: 0,
            fail_after_deletes: 0,
            max_removal_share: 0.1,
            fail_point: FailPoint::Never,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use xregion_common::config_cases::{each_refused_naming_its_key, load_set};

    #[test]
    fn limits_are_checked_at_load_naming_the_key() {
        each_refused_naming_its_key::<CleanupConfig>(&[
            ("cleanup.max_removal_share", "1.5"),
            ("cleanup.max_removal_share", "-0.1"),
            ("cleanup.sweep_interval_secs", "0"),
            ("cleanup.purge_ack_wait_secs", "0"),
            ("cleanup.fail_point", "sometimes"),
        ])
        .unwrap();
        let cfg: CleanupConfig = load_set("cleanup.orphan_grace_hours", "0").unwrap();
        assert_eq!(cfg.cleanup.orphan_grace, Duration::ZERO);
        let cfg: CleanupConfig = load_set("cleanup.max_removal_share", "1.0").unwrap();
        assert_eq!(cfg.cleanup.max_removal_share, 1.0);
    }
}
