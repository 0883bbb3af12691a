use serde::{Deserialize, Serialize};
use xregion_common::CommonConfig;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WatcherConfig {
    #[serde(flatten)]
    pub common: CommonConfig,
    pub watcher: Settings,
}

impl xregion_runtime::HasCommon for WatcherConfig {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// How often every service is compared with its source, in seconds.
    pub reconcile_interval_secs: u64,
    pub max_in_flight: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            reconcile_interval_secs: 300,
            max_in_flight: 8,
        }
    }
}
