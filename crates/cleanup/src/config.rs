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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            sweep_interval_secs: 600,
            orphan_grace_hours: 24,
        }
    }
}
