//! BackupCreated: one transfer job per live service of the instance.

use xregion_bus::{Delivery, Handler, Outcome};
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;

use crate::jobs::Watcher;

pub struct JobPerBackup {
    pub watcher: Watcher,
}

#[async_trait::async_trait]
impl Handler for JobPerBackup {
    async fn handle(&self, d: &Delivery) -> Outcome {
        let event = match d.decode::<rds::BackupCreated>() {
            Ok(e) => e,
            Err(o) => return o,
        };
        let Some(backup) = event.backup else {
            return Outcome::Reject("BackupCreated without descriptor".into());
        };
        let now = crate::jobs::now_ms();
        if let Err(reason) = xregion_proto::convert::backup::validate_at(&backup, now) {
            return Outcome::Reject(format!("backup {:?}: {reason}", backup.backup_id));
        }
        let services = match self.watcher.live_services(&backup.instance_id).await {
            Ok(s) => s,
            Err(e) if e.is_unavailable() => return Outcome::Unavailable(e.to_string()),
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        for service in services.iter().filter(|s| s.tenant_id == backup.tenant_id) {
            // The same checks as the catalog's when it records the backup:
            // files only from the instance's own folder of its own region.
            if let Err(reason) = self.source_checks(service, &backup) {
                return Outcome::Reject(format!("backup {:?}: {reason}", backup.backup_id));
            }
            if let Err(e) = self.watcher.enqueue(service, &backup).await {
                return e.outcome();
            }
        }
        Outcome::Ack
    }
}

impl JobPerBackup {
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
