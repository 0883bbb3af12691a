//! BackupCreated: one transfer job per live service of the instance.

use xregion_bus::{methods, Delivery, Handler, Outcome};
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
        if let Err(reason) = xregion_proto::convert::backup::validate(&backup) {
            return Outcome::Reject(format!("backup {:?}: {reason}", backup.backup_id));
        }
        let req = pb::LiveServicesRequest {
            instance_id: backup.instance_id.clone(),
        };
        let services: pb::LiveServicesResponse = match self
            .watcher
            .catalog
            .call(methods::LIVE_SERVICES, "", &req)
            .await
        {
            Ok(s) => s,
            Err(e) if e.is_unavailable() => return Outcome::Unavailable(e.to_string()),
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        for service in services
            .services
            .iter()
            .filter(|s| s.tenant_id == backup.tenant_id)
        {
            if let Err(e) = self.watcher.enqueue(service, &backup).await {
                return e.outcome();
            }
        }
        Outcome::Ack
    }
}
