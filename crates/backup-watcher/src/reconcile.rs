//! Periodic reconciliation: for every live service, compare what the source
//! holds (inventory plus a listing of the source store) with what is synced,
//! and queue what is missing.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use xregion_bus::methods;
use xregion_proto::xregion::v1 as pb;

use crate::jobs::{Result, Watcher};

pub async fn reconcile_loop(watcher: Watcher, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match reconcile_all(&watcher).await {
            Ok(queued) => tracing::info!(queued, "reconciliation done"),
            Err(error) => tracing::warn!(%error, "reconciliation failed"),
        }
    }
}

/// Returns how many jobs were queued.
pub async fn reconcile_all(watcher: &Watcher) -> Result<usize> {
    let services: pb::LiveServicesResponse = watcher
        .catalog
        .call(
            methods::LIVE_SERVICES,
            "",
            &pb::LiveServicesRequest::default(),
        )
        .await?;
    let mut queued = 0;
    for service in &services.services {
        let discovered = match watcher
            .discover(&service.source_region, &service.instance_id)
            .await
        {
            Ok(d) => d
                .into_iter()
                .filter(|d| d.tenant_id == service.tenant_id)
                .collect(),
            Err(error) => {
                tracing::warn!(service_id = %service.service_id, %error, "cannot list the source; using the inventory alone");
                Vec::new()
            }
        };
        let pending = watcher.pending(&service.service_id, discovered).await?;
        for backup in &pending.backups {
            watcher.enqueue(service, backup).await?;
            queued += 1;
        }
    }
    Ok(queued)
}
