use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use xregion_common::units::{self, non_zero_u32, non_zero_usize};
use xregion_common::validate::{at_least, non_negative, one_of, positive, Invalid, Validate};

xregion_common::service_config! {
    /// The common sections and `[catalog]`.
    pub struct CatalogConfig { catalog: CatalogSettings }
}

/// The outbox relay polls at most this often (it is woken on commit anyway).
pub const MIN_RELAY_INTERVAL: Duration = Duration::from_millis(10);

impl Validate for CatalogConfig {
    fn validate(&self) -> Result<(), Invalid> {
        let s = &self.catalog;
        at_least(
            "catalog.relay_interval_ms",
            s.relay_interval,
            MIN_RELAY_INTERVAL,
            "10",
        )?;
        positive("catalog.lag_threshold_secs", s.lag_threshold)?;
        positive("catalog.lag_check_interval_secs", s.lag_check_interval)?;
        positive("catalog.outbox_keep_days", s.outbox_keep)?;
        if let Some(point) = &s.fail_point {
            one_of(
                "catalog.fail_point",
                point,
                &[crate::service::FAIL_AFTER_CREATE_COMMIT],
            )?;
        }
        non_negative(
            "catalog.price_plan.per_gb_transferred",
            s.price_plan.per_gb_transferred,
        )?;
        non_negative(
            "catalog.price_plan.per_gb_day_stored",
            s.price_plan.per_gb_day_stored,
        )
    }
}

/// The `[catalog]` section.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogSettings {
    /// `sqlite://path?mode=rwc` (embedded default) or `postgres://...`.
    pub database_url: String,
    /// A file holding the database URL (it carries the password); when set
    /// it wins over `database_url`.
    pub database_url_file: Option<PathBuf>,
    pub max_connections: NonZeroU32,
    /// How often the outbox relay looks for pending events when not woken.
    #[serde(rename = "relay_interval_ms", with = "units::millis")]
    pub relay_interval: Duration,
    /// Lag past which LagExceeded is published (product promise: 12 h).
    #[serde(rename = "lag_threshold_secs", with = "units::secs")]
    pub lag_threshold: Duration,
    /// How often every service's lag is compared with the threshold.
    #[serde(rename = "lag_check_interval_secs", with = "units::secs")]
    pub lag_check_interval: Duration,
    /// Added to the system clock, in seconds (signed); lets tests move time.
    pub clock_offset_secs: i64,
    /// Test-only fault injection: `after_create_commit` aborts the process
    /// right after a create commits and before its event is published.
    pub fail_point: Option<String>,
    /// Concurrent upstream and event handlers. Each BackupSynced reads the
    /// copy's manifest back from the target region, a round trip over the
    /// WAN: with 16 at 150 ms the catalog recorded at most ~85 copies a
    /// second, behind a worker copying 64 logs at once.
    pub max_in_flight: NonZeroUsize,
    /// Published events are kept in the outbox this long, then removed
    /// (checked hourly); unpublished ones are never removed.
    #[serde(rename = "outbox_keep_days", with = "units::days")]
    pub outbox_keep: Duration,
    /// Catalog requests answered at once by this replica; one more is
    /// answered UNAVAILABLE at once ("catalog busy"), so a burst sheds
    /// load instead of piling up tasks and waiting on the connection pool.
    pub max_requests_in_flight: NonZeroUsize,
    /// Turns usage into an amount; charging later is a configuration change.
    pub price_plan: PricePlan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
            database_url_file: None,
            max_connections: const { non_zero_u32(8) },
            relay_interval: Duration::from_secs(1),
            lag_threshold: Duration::from_secs(12 * 3600),
            lag_check_interval: Duration::from_secs(30),
            clock_offset_secs: 0,
            fail_point: None,
            max_in_flight: const { non_zero_usize(64) },
            max_requests_in_flight: const { non_zero_usize(512) },
            outbox_keep: Duration::from_secs(30 * 24 * 3600),
            price_plan: PricePlan::default(),
        }
    }
}

impl CatalogSettings {
    /// The database URL to connect with: the content of `database_url_file`
    /// when set, else `database_url`.
    pub fn resolved_database_url(&self) -> Result<String, xregion_common::Error> {
        match &self.database_url_file {
            Some(path) => {
                xregion_common::secret_file::read_secret_file("catalog.database_url_file", path)
            }
            None => Ok(self.database_url.clone()),
        }
    }
}

/// The database URL's password is hidden.
impl std::fmt::Debug for CatalogSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogSettings")
            .field(
                "database_url",
                &xregion_common::redact::redact_url(&self.database_url),
            )
            .field("database_url_file", &self.database_url_file)
            .field("max_connections", &self.max_connections)
            .field("relay_interval", &self.relay_interval)
            .field("lag_threshold", &self.lag_threshold)
            .field("lag_check_interval", &self.lag_check_interval)
            .field("clock_offset_secs", &self.clock_offset_secs)
            .field("fail_point", &self.fail_point)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_requests_in_flight", &self.max_requests_in_flight)
            .field("outbox_keep", &self.outbox_keep)
            .field("price_plan", &self.price_plan)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use xregion_common::config_cases::{each_refused_naming_its_key, load_set};

    #[test]
    fn the_url_file_wins_and_debug_hides_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "postgres://xr:filepw@db/xr\n").unwrap();
        let mut settings = CatalogSettings {
            database_url: "postgres://xr:inlinepw@db/xr".into(),
            ..Default::default()
        };
        assert_eq!(
            settings.resolved_database_url().unwrap(),
            "postgres://xr:inlinepw@db/xr"
        );
        assert!(!format!("{settings:?}").contains("inlinepw"));
        settings.database_url_file = Some(file);
        assert_eq!(
            settings.resolved_database_url().unwrap(),
            "postgres://xr:filepw@db/xr"
        );
        settings.database_url_file = Some(dir.path().join("missing"));
        let err = settings.resolved_database_url().unwrap_err().to_string();
        assert!(err.contains("catalog.database_url_file"), "{err}");
    }

    #[test]
    fn limits_are_checked_at_load_naming_the_key() {
        each_refused_naming_its_key::<CatalogConfig>(&[
            ("catalog.relay_interval_ms", "9"),
            ("catalog.lag_threshold_secs", "0"),
            ("catalog.lag_check_interval_secs", "0"),
            ("catalog.max_connections", "0"),
            ("catalog.max_in_flight", "0"),
            ("catalog.max_requests_in_flight", "0"),
            ("catalog.outbox_keep_days", "0"),
            ("catalog.fail_point", "after_create"),
            ("catalog.price_plan.per_gb_transferred", "-1.0"),
        ])
        .unwrap();
        let cfg: CatalogConfig = load_set("catalog.relay_interval_ms", "200").unwrap();
        assert_eq!(cfg.catalog.relay_interval, Duration::from_millis(200));
        let err = load_set::<CatalogConfig>("catalog.price_plan.currncy", "EUR").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown key `catalog.price_plan.currncy` (section `catalog`)"),
            "{err}"
        );
    }
}
