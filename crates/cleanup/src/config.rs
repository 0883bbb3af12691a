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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            sweep_interval_secs: 600,
            orphan_grace_hours: 24,
            purge_ack_wait_secs: 300,
            clock_offset_secs: 0,
            fail_after_deletes: 0,
        }
    }
}
