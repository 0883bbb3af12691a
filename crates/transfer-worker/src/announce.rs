//! What a transfer tells others and leaves in the target besides the bytes:
//! the catalog's liveness answer acted on, `service.json`, removal of a copy
//! whose service is gone, and the BackupSynced / BackupSyncFailed events.

use std::sync::Arc;

use object_store::ObjectStore;
use xregion_domain::manifest::Manifest;
use xregion_proto::convert::timestamp;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;

use crate::commit;
use crate::liveness::{self, Liveness};
use crate::transfer::{Failure, Transfers};

impl Transfers {
    /// Goes on only while the catalog has the service live: a service known
    /// to be deleted gets the copy removed, an unknown one is retried later
    /// with nothing removed.
    pub(crate) async fn still_live(
        &self,
        target: &Arc<dyn ObjectStore>,
        service: &pb::ServiceRef,
        manifest: &Manifest,
    ) -> Result<(), Failure> {
        match liveness::ask(&self.catalog, &service.service_id).await? {
            Liveness::Live(_) => Ok(()),
            Liveness::Unknown => Err(Failure::Unknown),
            Liveness::Gone => {
                self.remove_copy(target, service, manifest).await;
                Err(Failure::Cancelled)
            }
        }
    }

    /// The copy of a service deleted meanwhile: nothing of it may stay.
    pub(crate) async fn remove_copy(
        &self,
        target: &Arc<dyn ObjectStore>,
        service: &pb::ServiceRef,
        manifest: &Manifest,
    ) {
        if let Err(error) =
            commit::remove_copy(target.as_ref(), &service.target_prefix, manifest).await
        {
            // Cleanup's sweep removes what is left: the service is DELETED.
            tracing::warn!(%error, "copy of a deleted service not fully removed");
        }
        // Counted once the removal is over, so a watcher of the metric
        // sees the cancelled copy's end, not its start.
        metrics::counter!(crate::metrics::CANCELLED).increment(1);
    }

    /// `service.json`, so a restore finds every service that has a copy.
    pub(crate) async fn ensure_service_descriptor(
        &self,
        target: &Arc<dyn ObjectStore>,
        service: &pb::ServiceRef,
    ) -> Result<(), Failure> {
        let ns = self.publisher.namespace();
        let Some(descriptor) = xregion_proto::convert::service_descriptor(service, ns.prefix())
        else {
            return Err(Failure::Invalid("service of unknown engine".into()));
        };
        xregion_common::descriptor::ensure_service_descriptor(
            target.as_ref(),
            &service.target_prefix,
            &descriptor,
        )
        .await
        .map_err(|e| match e {
            xregion_common::Error::ObjectStore(e) => Failure::Store(e),
            e => Failure::Target(e.to_string()),
        })
    }

    pub(crate) async fn announce_synced(
        &self,
        service: &pb::ServiceRef,
        backup: &BackupDescriptor,
        manifest_key: &str,
        bytes: u64,
        synced_at: i64,
        duration_ms: u64,
    ) -> Result<(), Failure> {
        let event = pb::BackupSynced {
            service: Some(service.clone()),
            backup: Some(backup.clone()),
            manifest_key: manifest_key.to_string(),
            bytes,
            synced_at: Some(timestamp(synced_at)),
            duration_ms,
        };
        self.publisher.emit(&event).await?;
        Ok(())
    }

    pub(crate) async fn announce_failure(
        &self,
        service: &pb::ServiceRef,
        backup_id: &str,
        reason: &str,
        attempt: u32,
        permanent: bool,
    ) {
        tracing::warn!(service_id = %service.service_id, backup_id, reason, attempt, permanent, "transfer failed");
        let event = pb::BackupSyncFailed {
            service: Some(service.clone()),
            backup_id: backup_id.to_string(),
            reason: reason.to_string(),
            attempt,
            permanent,
            failed_at: Some(timestamp(self.clock.now_ms())),
        };
        if let Err(error) = self.publisher.emit(&event).await {
            tracing::warn!(%error, "failure event not published");
        }
    }
}
