//! The periodic sweep: retention for every live service, then orphans in
//! every region that live services copy into (regions used only as sources
//! are never swept), then stale multipart uploads.

use std::collections::BTreeSet;
use xregion_bus::{CatalogClient, Publisher};
use xregion_common::{Regions, SharedClock};
use xregion_proto::convert::timestamp;
use xregion_proto::xregion::v1 as pb;

use crate::config::FailPoint;
use crate::error::Result;
use crate::orphans::{sweep_region, OrphanPolicy};
use crate::retention::expire_service;

pub struct Sweeper {
    pub regions: Regions,
    pub publisher: Publisher,
    pub catalog: CatalogClient,
    pub clock: SharedClock,
    pub orphan_grace_ms: i64,
    /// The breaker: at most this share of a region's service folders per sweep.
    pub max_removal_share: f64,
    pub fail_point: FailPoint,
    pub js: async_nats::jetstream::Context,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub expired: usize,
    pub orphans: u64,
    pub stale_uploads: u64,
    pub halted_regions: Vec<String>,
}

impl Sweeper {
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub async fn sweep(&self) -> Result<SweepReport> {
        let live = self.catalog.live_services("").await?;
        let now = self.now_ms();
        let mut report = SweepReport::default();
        // Retention needs every manifest of a service: one that does not
        // read could be the link a restore needs, so nothing of that
        // service expires until it reads (counted, named in the log).
        let mut blocked = 0usize;
        for service in &live {
            let Some(store) = self.regions.store(&service.target_region) else {
                continue;
            };
            match expire_service(&store, &self.catalog, service, now, self.fail_point).await {
                Ok(ids) => report.expired += ids.len(),
                Err(error) => {
                    blocked += 1;
                    tracing::warn!(service_id = %service.service_id, %error, "retention failed; nothing of this service expires until it runs; will retry next sweep")
                }
            }
        }
        metrics::gauge!(crate::metrics::RETENTION_BLOCKED).set(blocked as f64);
        let targets: BTreeSet<&str> = live.iter().map(|s| s.target_region.as_str()).collect();
        let older_than_ms = now.saturating_sub(self.orphan_grace_ms);
        let namespace = self.publisher.namespace().prefix().to_string();
        for region in targets {
            let Some(store) = self.regions.store(region) else {
                continue;
            };
            let policy = OrphanPolicy {
                region,
                namespace: &namespace,
                older_than_ms,
                max_share: self.max_removal_share,
            };
            match sweep_region(store.as_ref(), &self.catalog, &policy).await {
                Ok(r) => {
                    for (why, n) in &r.skipped {
                        metrics::gauge!(crate::metrics::LEFT_ALONE, "region" => region.to_string(), "reason" => why.as_str())
                            .set(*n as f64);
                    }
                    report.orphans += r.objects_removed;
                    if r.halted {
                        self.halted(region, &r, now).await;
                        report.halted_regions.push(region.to_string());
                    }
                }
                Err(error) => tracing::warn!(region, %error, "orphan collection failed"),
            }
        }
        // The bucket exists once a worker has started.
        if let Ok(uploads) = self
            .js
            .get_key_value(self.publisher.namespace().uploads_bucket())
            .await
        {
            match crate::uploads::abort_stale(&uploads, &self.regions, older_than_ms).await {
                Ok(n) => report.stale_uploads = n,
                Err(error) => tracing::warn!(%error, "stale upload collection failed"),
            }
        }
        Ok(report)
    }

    /// The breaker tripped: count it and say so on the bus.
    async fn halted(&self, region: &str, r: &crate::orphans::RegionReport, now: i64) {
        tracing::error!(
            region,
            folders = r.folders,
            to_remove = r.deleted_folders,
            max_share = self.max_removal_share,
            "orphan sweep halted: it would remove more than the allowed share of service folders"
        );
        metrics::counter!(crate::metrics::HALTED, "region" => region.to_string()).increment(1);
        let event = pb::SweepHalted {
            region: region.to_string(),
            folders_found: r.folders as u64,
            folders_to_remove: r.deleted_folders as u64,
            max_share: self.max_removal_share,
            halted_at: Some(timestamp(now)),
        };
        if let Err(error) = self.publisher.emit(&event).await {
            tracing::warn!(%error, "sweep halted event not published");
        }
    }
}

/// One sweep, as the periodic loop runs it: counted and logged.
pub async fn sweep_and_report(sweeper: &Sweeper) {
    let started = std::time::Instant::now();
    let result = sweeper.sweep().await;
    crate::metrics::record(result.as_ref().ok(), started.elapsed(), sweeper.now_ms());
    match result {
        Ok(report) => tracing::info!(
            expired = report.expired,
            orphans = report.orphans,
            halted = report.halted_regions.len(),
            "sweep done"
        ),
        Err(error) => tracing::warn!(%error, "sweep failed"),
    }
}
