use serde::{Deserialize, Serialize};
use xregion_common::CommonConfig;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogConfig {
    #[serde(flatten)]
    pub common: CommonConfig,
    pub catalog: CatalogSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogSettings {
    /// `sqlite://path?mode=rwc` (embedded default) or `postgres://...`.
    pub database_url: String,
    pub max_connections: u32,
    /// How often the outbox relay looks for pending events when not woken.
    pub relay_interval_ms: u64,
    /// Lag past which LagExceeded is published (product promise: 12 h).
    pub lag_threshold_secs: i64,
    /// How often every service's lag is compared with the threshold.
    pub lag_check_interval_secs: u64,
    /// Added to the system clock; lets tests move time.
    pub clock_offset_secs: i64,
    /// Test-only fault injection: `after_create_commit` aborts the process
    /// right after a create commits and before its event is published.
    pub fail_point: Option<String>,
    /// Concurrent upstream and event handlers.
    pub max_in_flight: usize,
    /// Turns usage into an amount; charging later is a configuration change.
    pub price_plan: PricePlan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PricePlan {
    pub name: String,
    pub currency: String,
    pub per_gb_transferred: f64,
    pub per_gb_day_stored: f64,
}

impl Default for PricePlan {
    fn default() -> Self {
        Self {
            name: "free-promotion".into(),
            currency: "CNY".into(),
            per_gb_transferred: 0.0,
            per_gb_day_stored: 0.0,
        }
    }
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://xregion-catalog.db?mode=rwc".into(),
            max_connections: 8,
            relay_interval_ms: 1000,
            lag_threshold_secs: 12 * 3600,
            lag_check_interval_secs: 30,
            clock_offset_secs: 0,
            fail_point: None,
            max_in_flight: 16,
            price_plan: PricePlan::default(),
        }
    }
}

impl xregion_runtime::HasCommon for CatalogConfig {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}
