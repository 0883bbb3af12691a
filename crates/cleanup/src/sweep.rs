//! The periodic sweep: retention for every live service, then orphans in
//! every region.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use xregion_bus::{methods, CatalogClient, Publisher};
use xregion_common::Regions;
use xregion_proto::xregion::v1 as pb;

use crate::orphans::collect_orphans;
use crate::retention::expire_service;

pub struct Sweeper {
    pub regions: Regions,
    pub publisher: Publisher,
    pub catalog: CatalogClient,
    pub clock_offset_ms: i64,
    pub orphan_grace_ms: i64,
    pub js: async_nats::jetstream::Context,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub expired: usize,
    pub orphans: u64,
    pub stale_uploads: u64,
}

impl Sweeper {
    pub fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        now + self.clock_offset_ms
    }

    pub async fn sweep(&self) -> Result<SweepReport, String> {
        let live: pb::LiveServicesResponse = self
            .catalog
            .call(
                methods::LIVE_SERVICES,
                "",
                &pb::LiveServicesRequest::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let now = self.now_ms();
        let mut report = SweepReport::default();
        for service in &live.services {
            let Some(store) = self.regions.store(&service.target_region) else {
                continue;
            };
            match expire_service(&store, &self.publisher, service, now).await {
                Ok(ids) => report.expired += ids.len(),
                Err(error) => {
                    tracing::warn!(service_id = %service.service_id, %error, "retention failed; will retry next sweep")
                }
            }
        }
        let owned: BTreeSet<String> = live.services.iter().map(|s| s.service_id.clone()).collect();
        for id in self.regions.ids() {
            let Some(store) = self.regions.store(id) else {
                continue;
            };
            match collect_orphans(&store, &owned, now - self.orphan_grace_ms).await {
                Ok(n) => report.orphans += n,
                Err(error) => tracing::warn!(region = id, %error, "orphan collection failed"),
            }
        }
        // The bucket exists once a worker has started.
        if let Ok(uploads) = self
            .js
            .get_key_value(self.publisher.namespace().uploads_bucket())
            .await
        {
            match crate::uploads::abort_stale(&uploads, &self.regions, now - self.orphan_grace_ms)
                .await
            {
                Ok(n) => report.stale_uploads = n,
                Err(error) => tracing::warn!(%error, "stale upload collection failed"),
            }
        }
        Ok(report)
    }
}

pub async fn sweep_loop(sweeper: Arc<Sweeper>, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match sweeper.sweep().await {
            Ok(report) => tracing::info!(
                expired = report.expired,
                orphans = report.orphans,
                "sweep done"
            ),
            Err(error) => tracing::warn!(%error, "sweep failed"),
        }
    }
}
