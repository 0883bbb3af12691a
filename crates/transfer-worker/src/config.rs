use serde::{Deserialize, Serialize};
use xregion_common::CommonConfig;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    #[serde(flatten)]
    pub common: CommonConfig,
    pub worker: Settings,
}

impl xregion_runtime::HasCommon for WorkerConfig {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Target regions served; empty: all.
    pub regions: Vec<String>,
    /// Concurrent LOG transfers.
    pub log_concurrency: usize,
    /// Concurrent FULL transfers.
    pub full_concurrency: usize,
    /// Size of each uploaded part, in MiB (at least 5 for S3).
    pub part_size_mib: usize,
    /// Parts of one file in flight at once.
    pub parts_in_flight: usize,
    /// How long a job may go unacknowledged before it is redelivered to
    /// another worker; in-flight copies extend it as they progress.
    pub ack_wait_secs: u64,
    /// Initial bandwidth limits, written to the limits bucket when absent;
    /// change them at runtime in the bucket (README, "Changing the bandwidth
    /// at runtime").
    pub bandwidth: Vec<BandwidthLimit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandwidthLimit {
    pub source: String,
    pub target: String,
    /// Full lane, bytes per second.
    pub bytes_per_sec: u64,
    /// Log lane, bytes per second; unset: logs are not throttled.
    #[serde(default)]
    pub log_bytes_per_sec: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            regions: Vec::new(),
            log_concurrency: 8,
            full_concurrency: 2,
            part_size_mib: 8,
            parts_in_flight: 4,
            ack_wait_secs: 60,
            bandwidth: Vec::new(),
        }
    }
}
