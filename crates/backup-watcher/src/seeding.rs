//! ServiceCreated: describe the service in its target, queue the seed set,
//! and move the service to SEEDING.

use xregion_bus::{Delivery, Outcome, TryHandler};
use xregion_proto::xregion::v1 as pb;

use crate::jobs::Watcher;

pub struct SeedOnCreate {
    pub watcher: Watcher,
}

#[async_trait::async_trait]
impl TryHandler for SeedOnCreate {
    async fn try_handle(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        let service = d.decode_part(|e: pb::ServiceCreated| e.service, "service")?;
        self.seed(&service).await.map_err(|e| e.outcome())?;
        Ok(Outcome::Ack)
    }
}

impl SeedOnCreate {
    #[tracing::instrument(skip_all, fields(service_id = %service.service_id, instance_id = %service.instance_id))]
    pub(crate) async fn seed(&self, service: &pb::ServiceRef) -> crate::jobs::Result<()> {
        let w = &self.watcher;
        w.write_service_descriptor(service).await?;
        let mut pending = w.pending(&service.service_id, Vec::new()).await?;
        if !pending.has_full {
            // The inventory may miss events; the source store is the truth.
            let discovered = w
                .discover(&service.source_region, &service.instance_id)
                .await?;
            pending = w.pending(&service.service_id, discovered).await?;
        }
        for backup in &pending.backups {
            w.enqueue(service, backup).await?;
        }
        let waiting = if pending.has_full {
            String::new()
        } else {
            format!(
                "waiting for a full backup of instance {}",
                service.instance_id
            )
        };
        let req = pb::MarkSeedingRequest {
            service_id: service.service_id.clone(),
            waiting_reason: waiting,
        };
        w.catalog.request("", &req).await?;
        tracing::info!(
            jobs = pending.backups.len(),
            has_full = pending.has_full,
            "seeding queued"
        );
        Ok(())
    }
}
