use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use xregion_common::units::{self, non_zero_usize, ByteSize};
use xregion_common::validate::{at_least, at_most, size_at_least, Invalid, Validate};

xregion_common::service_config! {
    /// The common sections and `[worker]`.
    pub struct WorkerConfig { worker: WorkerSettings }
}

/// S3 refuses parts below 5 MiB (except the last).
pub const MIN_PART_SIZE: ByteSize = ByteSize::from_mib(5);
/// Copies heartbeat every third of `ack_wait`, in whole seconds.
pub const MIN_ACK_WAIT: Duration = Duration::from_secs(3);
pub const MAX_ACK_WAIT: Duration = Duration::from_secs(3600);

impl Validate for WorkerConfig {
    fn validate(&self) -> Result<(), Invalid> {
        let s = &self.worker;
        size_at_least("worker.part_size_mib", s.part_size, MIN_PART_SIZE)?;
        at_least("worker.ack_wait_secs", s.ack_wait, MIN_ACK_WAIT, "3")?;
        // A copy's heartbeat (a third) stays well inside the shortest
        // orphan grace period there is (1 h) besides none: a LOG's files
        // are spared by their age until its first marker.
        at_most("worker.ack_wait_secs", s.ack_wait, MAX_ACK_WAIT, "3600")?;
        for (i, pair) in s.server_side_copy.iter().enumerate() {
            let key = format!("worker.server_side_copy[{i}]");
            let region = |id: &str| {
                let found = self.common.regions.iter().find(|r| r.id == id);
                found.ok_or_else(|| Invalid::new(&key, format!("region {id} is not configured")))
            };
            let (source, target) = (region(&pair.source)?, region(&pair.target)?);
            // Sealing needs the bytes to pass through the worker.
            if target.encryption.is_some() {
                return Err(Invalid::new(
                    &key,
                    format!("region {} encrypts; server-side copy cannot", target.id),
                ));
            }
            crate::server_side::check_pair(source, target).map_err(|e| Invalid::new(&key, e))?;
        }
        Ok(())
    }
}

/// The `[worker]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Target regions served; empty: all.
    pub regions: Vec<String>,
    /// Concurrent LOG transfers.
    pub log_concurrency: NonZeroUsize,
    /// Concurrent FULL transfers.
    pub full_concurrency: NonZeroUsize,
    /// Size of each uploaded part, configured in MiB (at least 5 for S3).
    #[serde(rename = "part_size_mib", with = "units::mib")]
    pub part_size: ByteSize,
    /// Most parts of one file in flight at once; how many are, within
    /// that, adapts to the route's bandwidth-delay product.
    pub parts_in_flight: NonZeroUsize,
    /// Most files of one backup copied at once, adapting the same way.
    pub files_in_flight: NonZeroUsize,
    /// How a FULL yields to the logs copying beside it on this worker.
    pub full_beside_logs: FullBesideLogs,
    /// How long a job may go unacknowledged before it is redelivered to
    /// another worker; in-flight copies extend it as they progress.
    #[serde(rename = "ack_wait_secs", with = "units::secs")]
    pub ack_wait: Duration,
    /// Initial bandwidth limits, written to the limits bucket when absent;
    /// change them at runtime in the bucket (README, "Changing the bandwidth
    /// at runtime").
    pub bandwidth: Vec<BandwidthLimit>,
    /// Region pairs whose files are copied inside their S3 endpoint, never
    /// through the worker: both S3, one endpoint, one set of credentials.
    pub server_side_copy: Vec<RegionPair>,
}

/// How a FULL yields to the logs copying beside it (`priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Written", into = "Written")]
pub enum FullBesideLogs {
    /// While a log copies, at most this many files, and parts of each, in
    /// flight.
    AtMost(NonZeroUsize),
    /// As many as keep the logs within two round trips of their copy time
    /// alone (`xregion_domain::log_pace`).
    Paced,
    /// FULLs never yield.
    Never,
}

/// `full_beside_logs` as written: a number or a word.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Written {
    Number(i64),
    Word(String),
}

const PACED: &str = "paced";
const NEVER: &str = "never";

impl TryFrom<Written> for FullBesideLogs {
    type Error = String;

    fn try_from(w: Written) -> Result<Self, String> {
        let expected = format!("expected a number of at least 1, \"{PACED}\" or \"{NEVER}\"");
        match w {
            Written::Word(word) if word == PACED => Ok(Self::Paced),
            Written::Word(word) if word == NEVER => Ok(Self::Never),
            Written::Number(n) => usize::try_from(n)
                .ok()
                .and_then(NonZeroUsize::new)
                .map(Self::AtMost)
                .ok_or_else(|| format!("{n}: {expected}")),
            Written::Word(word) => Err(format!("{word:?}: {expected}")),
        }
    }
}

impl From<FullBesideLogs> for Written {
    fn from(f: FullBesideLogs) -> Self {
        match f {
            FullBesideLogs::AtMost(n) => {
                Written::Number(i64::try_from(n.get()).unwrap_or(i64::MAX))
            }
            FullBesideLogs::Paced => Written::Word(PACED.to_string()),
            FullBesideLogs::Never => Written::Word(NEVER.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPair {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthLimit {
    pub source: String,
    pub target: String,
    /// Full lane, bytes per second.
    pub bytes_per_sec: u64,
    /// Log lane, bytes per second; unset: logs are not throttled.
    #[serde(default)]
    pub log_bytes_per_sec: Option<u64>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            regions: Vec::new(),
            log_concurrency: const { non_zero_usize(64) },
            full_concurrency: const { non_zero_usize(2) },
            part_size: ByteSize::from_mib(8),
            parts_in_flight: const { non_zero_usize(8) },
            files_in_flight: const { non_zero_usize(2) },
            full_beside_logs: FullBesideLogs::Paced,
            ack_wait: Duration::from_secs(60),
            bandwidth: Vec::new(),
            server_side_copy: Vec::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use xregion_common::config_cases::{each_refused_naming_its_key, load_set};

    fn load(key: &str, value: &str) -> xregion_common::Result<WorkerConfig> {
        load_set(key, value)
    }

    #[test]
    fn limits_are_checked_at_load_naming_the_key() {
        each_refused_naming_its_key::<WorkerConfig>(&[
            ("worker.part_size_mib", "4"),
            ("worker.ack_wait_secs", "2"),
            ("worker.ack_wait_secs", "3601"),
            ("worker.log_concurrency", "0"),
            ("worker.full_concurrency", "0"),
            ("worker.parts_in_flight", "0"),
            ("worker.files_in_flight", "0"),
            ("worker.full_beside_logs", "0"),
            ("worker.full_beside_logs", "-1"),
            ("worker.full_beside_logs", "\"fast\""),
        ])
        .unwrap();
        let cfg = load("worker.part_size_mib", "5").unwrap();
        assert_eq!(cfg.worker.part_size.bytes(), 5 * 1024 * 1024);
        let cfg = load("worker.ack_wait_secs", "3").unwrap();
        assert_eq!(cfg.worker.ack_wait, MIN_ACK_WAIT);
        assert_eq!(
            WorkerConfig::default().worker.full_beside_logs,
            FullBesideLogs::Paced
        );
        let cfg = load("worker.full_beside_logs", "1").unwrap();
        assert_eq!(
            Some(cfg.worker.full_beside_logs),
            NonZeroUsize::new(1).map(FullBesideLogs::AtMost)
        );
        let cfg = load("worker.full_beside_logs", "\"never\"").unwrap();
        assert_eq!(cfg.worker.full_beside_logs, FullBesideLogs::Never);
    }

    #[test]
    fn full_beside_logs_is_dumped_as_written() {
        for (written, dumped) in [
            ("3", serde_json::json!(3)),
            ("\"paced\"", "paced".into()),
            ("\"never\"", "never".into()),
        ] {
            let cfg = load("worker.full_beside_logs", written).unwrap();
            let worker = serde_json::to_value(&cfg.worker).unwrap();
            assert_eq!(worker["full_beside_logs"], dumped);
        }
        let err = load("worker.full_beside_logs", "0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected a number of at least 1, \"paced\" or \"never\""),
            "{err}"
        );
    }

    #[test]
    fn the_set_example_of_every_binarys_help_is_a_real_key() {
        // CommonArgs documents `--set worker.log_concurrency=8`.
        let cfg = load("worker.log_concurrency", "8").unwrap();
        assert_eq!(cfg.worker.log_concurrency.get(), 8);
    }

    #[test]
    fn a_server_side_pair_of_unknown_regions_is_refused_naming_it() {
        let err = load(
            "worker.server_side_copy",
            "[{ source = \"a\", target = \"b\" }]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("worker.server_side_copy[0]")
                && err.contains("region a is not configured"),
            "{err}"
        );
    }

    #[test]
    fn a_server_side_pair_into_an_encrypting_region_is_refused() {
        let region = |id: &str, bucket: &str| -> xregion_common::RegionConfig {
            serde_json::from_value(serde_json::json!({
                "id": id,
                "url": format!("s3://{bucket}"),
                "options": {
                    "aws_endpoint": "http://127.0.0.1:3900",
                    "aws_allow_http": "true",
                    "aws_access_key_id": "K",
                    "aws_secret_access_key": "S",
                },
            }))
            .unwrap()
        };
        let mut cfg = WorkerConfig::default();
        cfg.common.regions = vec![region("a", "one"), region("b", "two")];
        cfg.worker.server_side_copy = vec![RegionPair {
            source: "a".into(),
            target: "b".into(),
        }];
        cfg.validate().unwrap();
        cfg.common.regions[1].encryption = Some(
            serde_json::from_value(serde_json::json!({ "key_id": "k1", "key_env": "K" })).unwrap(),
        );
        let err = cfg.validate().unwrap_err().to_string();
        assert!(
            err.contains("worker.server_side_copy[0]") && err.contains("region b encrypts"),
            "{err}"
        );
    }

    #[test]
    fn a_bandwidth_entry_with_an_unknown_key_is_refused() {
        let err = load(
            "worker.bandwidth",
            "[{ source = \"a\", target = \"b\", bytes_per_second = 1 }]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown key `worker.bandwidth[0].bytes_per_second` (section `worker`)"),
            "{err}"
        );
    }
}
