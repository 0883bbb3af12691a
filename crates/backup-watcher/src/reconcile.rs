//! Periodic reconciliation: for every live service, compare what the source
//! holds (inventory plus a listing of the source store) with what is synced,
//! and queue what is missing. Services are read page by page as the pass
//! goes, several are reconciled at once (`watcher.reconcile_concurrency`),
//! and one service that fails (its store, a bad answer) does not stop the
//! others.

use std::time::Instant;

use futures::StreamExt;
use xregion_proto::xregion::v1 as pb;

use crate::jobs::{Error, Result, Watcher};

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
pub async fn reconcile_and_report(watcher: &Watcher, concurrency: usize) {
    let started = Instant::now();
    match reconcile_all(watcher, concurrency).await {
        Ok(pass) => tracing::info!(
            services = pass.services,
            queued = pass.queued,
            failed = pass.failed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "reconciliation done"
        ),
        Err(error) => tracing::warn!(%error, "reconciliation failed"),
    }
}

/// One pass over every live service, `concurrency` services at a time (at
/// least one). Memory stays bounded by one page of services and the
/// services in flight, however large the fleet.
pub async fn reconcile_all(watcher: &Watcher, concurrency: usize) -> Result<Pass> {
    let mut outcomes = std::pin::pin!(watcher
        .live_service_stream()
        .map(|service| async move {
            // A page that cannot be read ends the pass: nothing to go on with.
            let service = service?;
            let outcome = reconcile_one(watcher, &service).await;
            Ok::<_, Error>((service.service_id, outcome))
        })
        .buffer_unordered(concurrency.max(1)));
    let mut pass = Pass::default();
    // In completion order: with the catalog or NATS down, every service in
    // flight fails, and the pass stops as it did one at a time.
    let mut failed_in_a_row = 0;
    while let Some(next) = outcomes.next().await {
        let (service_id, outcome): (String, Result<usize>) = next?;
        pass.services += 1;
        match outcome {
            Ok(queued) => {
                pass.queued += queued;
                failed_in_a_row = 0;
            }
            Err(error) => {
                pass.failed += 1;
                failed_in_a_row += 1;
                metrics::counter!(crate::metrics::RECONCILE_FAILURES).increment(1);
                tracing::warn!(%service_id, %error, "reconciliation of a service failed; the pass goes on");
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
