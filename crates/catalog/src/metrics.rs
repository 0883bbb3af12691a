//! The catalog's metrics: names, their `# HELP`, and the per-service gauges
//! refreshed with each lag check (the input of the lag and DEGRADED alerts
//! in `deploy/prometheus/alerts.yml`).

use std::sync::{Arc, OnceLock};

use metrics::{describe_counter, Unit};
use xregion_telemetry::{gauge_family, GaugeFamily, Series};

use crate::store::services::ServiceRow;

pub const OUTBOX_PUBLISHED: &str = "xregion_outbox_published_total";
pub const OUTBOX_PARKED: &str = "xregion_outbox_parked_total";
pub const WINDOW_UPDATES: &str = "xregion_catalog_window_updates_total";
pub const SERVICE_LAG: &str = "xregion_service_lag_seconds";
pub const SERVICE_LATEST_DATA_TIME: &str = "xregion_service_latest_data_time_seconds";
pub const SERVICE_STATE: &str = "xregion_service_state";
pub const SERVICE_VERIFIED_TIME: &str = "xregion_service_verified_restorable_time_seconds";
pub const SERVICE_DRILL_RTO: &str = "xregion_service_drill_rto_seconds";
pub const SERVICE_DRILL_FAILED: &str = "xregion_service_drill_failed";

/// Every name this crate exports, for the dashboard and alert checks.
pub const NAMES: [&str; 9] = [
    OUTBOX_PUBLISHED,
    OUTBOX_PARKED,
    WINDOW_UPDATES,
    SERVICE_LAG,
    SERVICE_LATEST_DATA_TIME,
    SERVICE_STATE,
    SERVICE_VERIFIED_TIME,
    SERVICE_DRILL_RTO,
    SERVICE_DRILL_FAILED,
];

pub fn describe() {
    describe_counter!(
        OUTBOX_PUBLISHED,
        Unit::Count,
        "events the outbox relay published to NATS"
    );
    describe_counter!(
        OUTBOX_PARKED,
        Unit::Count,
        "outbox rows of an event kind this version does not know, left unpublished"
    );
    describe_counter!(
        WINDOW_UPDATES,
        Unit::Count,
        "restore window updates, by how: extended by one copy, or recomputed from every copy"
    );
    families();
}

struct Families {
    lag: Arc<GaugeFamily>,
    latest: Arc<GaugeFamily>,
    state: Arc<GaugeFamily>,
    verified: Arc<GaugeFamily>,
    rto: Arc<GaugeFamily>,
    drill_failed: Arc<GaugeFamily>,
}

fn families() -> &'static Families {
    static FAMILIES: OnceLock<Families> = OnceLock::new();
    FAMILIES.get_or_init(|| Families {
        lag: gauge_family(
            SERVICE_LAG,
            "seconds between now and the service's latest data time point (services with a synced copy)",
        ),
        latest: gauge_family(
            SERVICE_LATEST_DATA_TIME,
            "the service's latest data time point, the latest moment restorable in the target region, in Unix seconds",
        ),
        state: gauge_family(
            SERVICE_STATE,
            "1 for each live service in its current state (CREATING, SEEDING, RUNNING or DEGRADED); deleted services have no series",
        ),
        verified: gauge_family(
            SERVICE_VERIFIED_TIME,
            "the point the service's last successful restore drill restored from the target store alone, in Unix seconds",
        ),
        rto: gauge_family(
            SERVICE_DRILL_RTO,
            "how long the service's last successful restore drill took to restore, in seconds (its RTO)",
        ),
        drill_failed: gauge_family(
            SERVICE_DRILL_FAILED,
            "1 when the service's last restore drill failed, 0 when it succeeded (services drilled at least once)",
        ),
    })
}

/// The per-service gauge series of one pass over the live services (the
/// lag check's, `Catalog::check_all_lags`), exported when the pass ends.
#[derive(Default)]
pub(crate) struct ServiceGauges {
    lag: Vec<Series>,
    latest: Vec<Series>,
    state: Vec<Series>,
    verified: Vec<Series>,
    rto: Vec<Series>,
    drill_failed: Vec<Series>,
}

impl ServiceGauges {
    /// Adds the series of one live service, its lag as of `now`.
    pub(crate) fn add(&mut self, svc: &ServiceRow, now: i64) {
        let ids = || {
            vec![
                ("service_id", svc.service_id.clone()),
                ("tenant_id", svc.tenant_id.clone()),
            ]
        };
        // With no restorable point yet, the lag runs from the creation
        // (XregionLagOverPromise covers a service that never seeds).
        let behind = crate::sync::lag_ms(svc, now) as f64 / 1000.0;
        self.lag.push((ids(), behind));
        if let Some(at) = svc.latest_data_time {
            self.latest.push((ids(), at as f64 / 1000.0));
        }
        if let Some(at) = svc.drill.verified_point {
            self.verified.push((ids(), at as f64 / 1000.0));
        }
        if let Some(ms) = svc.drill.last_drill_rto_ms {
            self.rto.push((ids(), ms.max(0) as f64 / 1000.0));
        }
        if svc.drill.last_drill_at.is_some() {
            let failed = !svc.drill.last_drill_error.is_empty();
            self.drill_failed
                .push((ids(), if failed { 1.0 } else { 0.0 }));
        }
        let mut labels = ids();
        labels.push(("state", svc.state.as_str().to_string()));
        self.state.push((labels, 1.0));
    }

    /// Replaces the exported series with these: one per live service added,
    /// none for deleted ones.
    pub(crate) fn export(self) {
        let f = families();
        f.lag.replace(self.lag);
        f.latest.replace(self.latest);
        f.state.replace(self.state);
        f.verified.replace(self.verified);
        f.rto.replace(self.rto);
        f.drill_failed.replace(self.drill_failed);
    }
}
