//! Periodic reconciliation: for every live service, compare what the source
//! holds (inventory plus a listing of the source store) with what is synced,
//! and queue what is missing. Services are read page by page, and one
//! service that fails (its store, a bad answer) does not stop the others.

use xregion_proto::xregion::v1 as pb;

use crate::jobs::{Result, Watcher};

/// Consecutive failed services after which a pass stops: the catalog or
/// NATS is down, and the next pass starts over anyway.
const GIVE_UP_AFTER: usize = 10;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub services: usize,
    pub queued: usize,
    pub failed: usize,
}

/// One pass, as the periodic loop runs it: logged, never fatal.
pub async fn reconcile_and_report(watcher: &Watcher) {
    match reconcile_all(watcher).await {
        Ok(pass) => tracing::info!(
            services = pass.services,
            queued = pass.queued,
            failed = pass.failed,
            "reconciliation done"
        ),
        Err(error) => tracing::warn!(%error, "reconciliation failed"),
    }
}

pub async fn reconcile_all(watcher: &Watcher) -> Result<Pass> {
    let services = watcher.live_services("").await?;
    let mut pass = Pass {
        services: services.len(),
        ..Pass::default()
    };
    let mut failed_in_a_row = 0;
    for service in &services {
        match reconcile_one(watcher, service).await {
            Ok(queued) => {
                pass.queued += queued;
                failed_in_a_row = 0;
            }
            Err(error) => {
                pass.failed += 1;
                failed_in_a_row += 1;
                metrics::counter!("xregion_watcher_reconcile_failures_total").increment(1);
                tracing::warn!(service_id = %service.service_id, %error, "reconciliation of a service failed; the pass goes on");
                if failed_in_a_row >= GIVE_UP_AFTER {
                    return Err(error);
                }
            }
        }
    }
    Ok(pass)
}

/// Queues what one service is missing; returns how many jobs. Also writes
/// `service.json` when it is missing (a seeding that never finished).
async fn reconcile_one(watcher: &Watcher, service: &pb::ServiceRef) -> Result<usize> {
    watcher.write_service_descriptor(service).await?;
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
    }
    Ok(pending.backups.len())
}
