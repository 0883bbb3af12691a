//! Everything the watcher's handlers share: the catalog, the regions, and
//! publishing transfer jobs.

use prost::Message;
use xregion_bus::{BusError, CatalogClient, Publisher};
use xregion_common::{Regions, SharedClock};
use xregion_domain::layout;
use xregion_proto::convert::{kind_from_rds, lane_to_api, service_descriptor, timestamp};
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;

#[derive(Clone)]
pub struct Watcher {
    pub catalog: CatalogClient,
    pub publisher: Publisher,
    pub regions: Regions,
    pub clock: SharedClock,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("region {0} is not configured here")]
    UnknownRegion(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("{0}")]
    Target(#[from] xregion_common::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// NATS, the catalog or a store is unavailable (retry for as long as it
    /// lasts), as opposed to the message being at fault.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Bus(e) => e.is_unavailable(),
            Self::Store(e) | Self::Target(xregion_common::Error::ObjectStore(e)) => {
                xregion_common::unavailable::store_unavailable(e)
            }
            Self::Target(_) | Self::UnknownRegion(_) => false,
        }
    }

    /// The outcome of a handler that failed with this error.
    pub fn outcome(&self) -> xregion_bus::Outcome {
        if self.is_unavailable() {
            xregion_bus::Outcome::Unavailable(self.to_string())
        } else {
            xregion_bus::Outcome::Retry(self.to_string())
        }
    }
}

impl Watcher {
    /// One job per backup and service; the message id makes a repeat a no-op.
    pub async fn enqueue(&self, service: &pb::ServiceRef, backup: &BackupDescriptor) -> Result<()> {
        let Some(kind) = kind_from_rds(backup.kind) else {
            tracing::warn!(backup_id = %backup.backup_id, "backup of unknown kind not enqueued");
            return Ok(());
        };
        let lane = kind.lane();
        let job = pb::TransferRequested {
            service: Some(service.clone()),
            backup: Some(backup.clone()),
            lane: lane_to_api(lane) as i32,
            requested_at: Some(timestamp(self.clock.now_ms())),
        };
        self.publisher.emit(&job).await?;
        metrics::counter!(crate::metrics::JOBS, "lane" => lane.as_str()).increment(1);
        tracing::debug!(service_id = %service.service_id, backup_id = %backup.backup_id, lane = lane.as_str(), "transfer requested");
        Ok(())
    }

    /// `service.json`, the target's description of the service, naming this
    /// deployment. Idempotent; seeding and every reconciliation write it.
    pub async fn write_service_descriptor(&self, service: &pb::ServiceRef) -> Result<()> {
        let store = self
            .regions
            .store(&service.target_region)
            .ok_or_else(|| Error::UnknownRegion(service.target_region.clone()))?;
        let ns = self.publisher.namespace();
        let Some(descriptor) = service_descriptor(service, ns.prefix()) else {
            return Ok(());
        };
        xregion_common::descriptor::ensure_service_descriptor(
            store.as_ref(),
            &service.target_prefix,
            &descriptor,
        )
        .await?;
        Ok(())
    }

    /// Backup descriptors the upstream left in the source store for `instance`.
    pub async fn discover(
        &self,
        source_region: &str,
        instance: &str,
    ) -> Result<Vec<BackupDescriptor>> {
        use futures::{StreamExt, TryStreamExt};
        let store = self
            .regions
            .store(source_region)
            .ok_or_else(|| Error::UnknownRegion(source_region.to_string()))?;
        let prefix = object_store::path::Path::from(layout::source_descriptors_prefix(instance));
        let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
        // Thousands of descriptors per instance: read several at a time.
        let fetched: Vec<_> = futures::stream::iter(metas)
            .map(|meta| {
                let store = store.clone();
                async move {
                    let bytes = store.get(&meta.location).await?.bytes().await?;
                    Ok::<_, object_store::Error>((meta, bytes))
                }
            })
            .buffered(DISCOVER_READS)
            .try_collect()
            .await?;
        let mut out = Vec::with_capacity(fetched.len());
        for (meta, bytes) in fetched {
            match BackupDescriptor::decode(bytes.as_ref()) {
                Ok(d) if d.instance_id == instance => out.push(d),
                Ok(_) => {
                    tracing::warn!(key = %meta.location, "descriptor of another instance ignored")
                }
                Err(error) => {
                    tracing::warn!(key = %meta.location, %error, "undecodable descriptor ignored")
                }
            }
        }
        Ok(out)
    }
}

/// Descriptor reads in flight while discovering.
const DISCOVER_READS: usize = 16;
