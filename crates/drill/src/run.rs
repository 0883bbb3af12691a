//! The drill role's loop: one replica (the `drill` lease) looks for the
//! most overdue service every `drill.tick_secs` and drills it, then the
//! next overdue one at once, until none is due.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use xregion_bus::{BusError, CatalogClient};
use xregion_common::clock::SharedClock;
use xregion_common::regions::RegionConfig;
use xregion_proto::convert::timestamp;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::ErrorCode;
use xregion_runtime::{Context, Pace, ServiceError};

use crate::child::{self, DrillRun};
use crate::config::{DrillConfig, DrillSettings};
use crate::due::{in_regions, next_due, Candidate};
use crate::error::{DrillError, Result};
use crate::report::Outcome;

/// The catalog takes at most this many ids per `ServiceStates`.
const STATES_BATCH: usize = 1000;

pub async fn run(cx: Context<DrillConfig>) -> std::result::Result<(), ServiceError> {
    let (config, bus, mut host) = cx.parts();
    crate::metrics::describe();
    let cli = config
        .drill
        .cli_path()
        .map_err(|e| ServiceError::Setup(format!("drill.cli: {e}")))?;
    let driller = Arc::new(Driller {
        catalog: bus.catalog(),
        regions: config.common.regions.clone(),
        settings: config.drill.clone(),
        cli,
        clock: xregion_common::clock::system(),
        stop: host.shutdown().clone(),
        tmp_root: std::env::temp_dir(),
        elsewhere: Mutex::default(),
    });
    // After a drill the next due service is looked for at once: a queue
    // of overdue services is drilled back to back, not one a tick.
    host.every_leased_paced("drill", config.drill.tick, move || {
        let driller = driller.clone();
        async move {
            match driller.tick().await {
                Ok(Some(_)) => Pace::Again,
                Ok(None) => Pace::Wait,
                Err(error) => {
                    tracing::warn!(%error, "drill pass failed");
                    Pace::Wait
                }
            }
        }
    });
    host.run().await
}

pub struct Driller {
    pub catalog: CatalogClient,
    pub regions: Vec<RegionConfig>,
    pub settings: DrillSettings,
    pub cli: PathBuf,
    pub clock: SharedClock,
    /// The role stopping: a drill under way is killed, and not reported.
    pub stop: CancellationToken,
    /// Where each drill's private temporary folder is made.
    pub tmp_root: PathBuf,
    /// The services last set aside for their region, warned about once.
    pub elsewhere: Mutex<Vec<String>>,
}

impl Driller {
    /// Drills the most overdue service, if one is due; returns it and the
    /// report sent to the catalog.
    pub async fn tick(&self) -> Result<Option<pb::RecordDrillRequest>> {
        let regions: Vec<&str> = self.regions.iter().map(|r| r.id.as_str()).collect();
        let (candidates, elsewhere) = in_regions(self.candidates().await?, &regions);
        self.warn_elsewhere(elsewhere);
        let now = self.clock.now_ms();
        let engines = self.settings.engines();
        let Some(due) = next_due(&candidates, now, self.settings.interval, &engines) else {
            return Ok(None);
        };
        let svc = &due.service;
        let Some(point) = due.latest_data_time else {
            return Ok(None); // next_due takes only services with data
        };
        let region = self
            .regions
            .iter()
            .find(|r| r.id == svc.target_region)
            .ok_or_else(|| DrillError::UnknownRegion {
                service_id: svc.service_id.clone(),
                region: svc.target_region.clone(),
            })?;
        let drill_id = format!("drill-{now}");
        tracing::info!(service_id = %svc.service_id, %drill_id, region = %region.id, "drill started");
        let key_args = child::key_args(region.encryption.as_ref());
        let run = DrillRun {
            cli: &self.cli,
            store_url: &region.url,
            store_options: &region.options,
            instance_id: &svc.instance_id,
            service_id: &svc.service_id,
            key_args: &key_args,
            timeout: self.settings.timeout,
            point,
            tmp_root: &self.tmp_root,
        };
        let mut outcome = tokio::select! {
            outcome = child::run(&run, || self.clock.now_ms()) => outcome,
            // Dropping the drill kills it; it proved nothing either way.
            _ = self.stop.cancelled() => {
                tracing::info!(service_id = %svc.service_id, %drill_id, "drill abandoned: the role is stopping");
                return Ok(None);
            }
        };
        if outcome.restored_to.is_some_and(|at| at > point) {
            outcome = Outcome::failed(
                format!("the drill restored a point after the one asked ({point} ms)"),
                outcome.rto_ms,
            );
        }
        crate::metrics::record(
            outcome.restored_to.is_some(),
            outcome.rto_ms as f64 / 1000.0,
        );
        let report = pb::RecordDrillRequest {
            service_id: svc.service_id.clone(),
            drill_id: drill_id.clone(),
            started_at: Some(timestamp(now)),
            success: outcome.restored_to.is_some(),
            restored_to: outcome.restored_to.map(timestamp),
            rto_ms: outcome.rto_ms,
            error: outcome.error.clone(),
        };
        let report = match self.catalog.request("", &report).await {
            Ok(_) => report,
            // A report the catalog refuses for what the drill reported
            // would make the same service due again at once, for ever:
            // record the refusal as the drill's failure instead. A refusal
            // of what this role adds (its clock, its ids) is no fault of
            // the service: an error of the pass, the service untouched.
            Err(BusError::Remote {
                code: ErrorCode::InvalidArgument,
                message,
                field,
                ..
            }) if report_fault(&field) => {
                let failed = pb::RecordDrillRequest {
                    success: false,
                    restored_to: None,
                    error: format!("the catalog refused the drill's report: {message}"),
                    ..report
                };
                self.catalog.request("", &failed).await?;
                failed
            }
            Err(e) => return Err(e.into()),
        };
        if report.success {
            tracing::info!(service_id = %svc.service_id, %drill_id, rto_ms = outcome.rto_ms, "drill succeeded");
        } else {
            tracing::warn!(service_id = %svc.service_id, %drill_id, error = %report.error, "drill failed");
        }
        Ok(Some(report))
    }

    /// Warns about the services set aside for their region when that set
    /// changes, not every tick.
    fn warn_elsewhere(&self, mut elsewhere: Vec<String>) {
        elsewhere.sort();
        let Ok(mut last) = self.elsewhere.lock() else {
            return;
        };
        if *last != elsewhere {
            if !elsewhere.is_empty() {
                tracing::warn!(services = ?elsewhere, "services copying into regions this configuration lacks are not drilled");
            }
            *last = elsewhere;
        }
    }

    /// Every live service as the catalog describes it.
    async fn candidates(&self) -> Result<Vec<Candidate>> {
        let ids: Vec<String> = self
            .catalog
            .live_services("")
            .await?
            .into_iter()
            .map(|s| s.service_id)
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(STATES_BATCH) {
            let statuses = self.catalog.service_states(batch).await?;
            out.extend(statuses.iter().filter_map(Candidate::of));
        }
        Ok(out)
    }
}

/// Whether the catalog's refusal of a report (the field it names) is about
/// what the drill found, not about what the role added to it.
pub fn report_fault(field: &str) -> bool {
    matches!(field, "restored_to" | "rto_ms" | "error" | "success")
}
