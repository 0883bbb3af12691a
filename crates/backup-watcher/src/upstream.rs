//! BackupCreated: one transfer job per live service of the instance.

use xregion_bus::{Delivery, Outcome, TryHandler};
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;

use crate::jobs::Watcher;

pub struct JobPerBackup {
    pub watcher: Watcher,
}

#[async_trait::async_trait]
impl TryHandler for JobPerBackup {
    async fn try_handle(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        let backup = d.decode_part(|e: rds::BackupCreated| e.backup, "descriptor")?;
        self.jobs_for(&backup).await
    }
}

impl JobPerBackup {
    /// One job per live service of the backup's instance and tenant.
    pub(crate) async fn jobs_for(
        &self,
        backup: &rds::BackupDescriptor,
    ) -> Result<Outcome, Outcome> {
        let rejected = |reason| Outcome::Reject(format!("backup {:?}: {reason}", backup.backup_id));
        let now = self.watcher.clock.now_ms();
        xregion_proto::convert::backup::validate_at(backup, now).map_err(rejected)?;
        let services = match self.watcher.live_services(&backup.instance_id).await {
            Ok(s) => s,
            Err(e) if e.is_unavailable() => return Err(Outcome::Unavailable(e.to_string())),
            Err(e) => return Err(Outcome::Retry(e.to_string())),
        };
        for service in services.iter().filter(|s| s.tenant_id == backup.tenant_id) {
            // The same checks as the catalog's when it records the backup:
            // files only from the instance's own folder of its own region.
            self.source_checks(service, backup).map_err(rejected)?;
            self.watcher
                .enqueue(service, backup)
                .await
                .map_err(|e| e.outcome())?;
        }
        Ok(Outcome::Ack)
    }

    fn source_checks(
        &self,
        service: &pb::ServiceRef,
        backup: &rds::BackupDescriptor,
    ) -> Result<(), String> {
        if backup.region != service.source_region {
            return Err(format!(
                "names region {:?}, but instance {:?} is synced from {:?}",
                backup.region, service.instance_id, service.source_region
            ));
        }
        self.watcher.regions.check_source_keys(
            &service.source_region,
            &backup.tenant_id,
            &backup.instance_id,
            backup.files.iter().map(|f| f.key.as_str()),
        )
    }
}
