use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use xregion_common::units::{self, non_zero_usize};
use xregion_common::validate::{positive, Invalid, Validate};

xregion_common::service_config! {
    /// The common sections and `[watcher]`.
    pub struct WatcherConfig { watcher: WatcherSettings }
}

impl Validate for WatcherConfig {
    fn validate(&self) -> Result<(), Invalid> {
        positive(
            "watcher.reconcile_interval_secs",
            self.watcher.reconcile_interval,
        )
    }
}

/// The `[watcher]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatcherSettings {
    /// How often every service is compared with its source.
    #[serde(rename = "reconcile_interval_secs", with = "units::secs")]
    pub reconcile_interval: Duration,
    /// Concurrent handlers per consumer.
    pub max_in_flight: NonZeroUsize,
    /// Services reconciled at once in a pass: one at a time, 10,000
    /// services took minutes, each waiting on its stores and the catalog.
    pub reconcile_concurrency: NonZeroUsize,
}

impl Default for WatcherSettings {
    fn default() -> Self {
        Self {
            reconcile_interval: Duration::from_secs(300),
            max_in_flight: const { non_zero_usize(8) },
            reconcile_concurrency: const { non_zero_usize(16) },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use xregion_common::config_cases::{each_refused_naming_its_key, load_set};

    #[test]
    fn a_zero_interval_or_concurrency_is_refused_at_load() {
        each_refused_naming_its_key::<WatcherConfig>(&[
            ("watcher.reconcile_interval_secs", "0"),
            ("watcher.max_in_flight", "0"),
            ("watcher.reconcile_concurrency", "0"),
        ])
        .unwrap();
        let cfg: WatcherConfig = load_set("watcher.reconcile_concurrency", "4").unwrap();
        assert_eq!(cfg.watcher.reconcile_concurrency.get(), 4);
        let cfg: WatcherConfig = load_set("watcher.reconcile_interval_secs", "2").unwrap();
        assert_eq!(cfg.watcher.reconcile_interval, Duration::from_secs(2));
    }
}
