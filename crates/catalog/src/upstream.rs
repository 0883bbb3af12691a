//! Consumes the upstream RDS stream: the instance inventory (and, for the
//! sync issue, the backup inventory).

use xregion_bus::{Delivery, Namespace, Outcome, TryHandler, UpstreamEvent};
use xregion_proto::convert::{engine_from_rds, opt_millis};
use xregion_proto::rds::v1 as rds;

use crate::service::Catalog;
use crate::store::instances::InstanceRow;

pub struct UpstreamHandler {
    pub catalog: Catalog,
    pub ns: Namespace,
}

#[async_trait::async_trait]
impl TryHandler for UpstreamHandler {
    async fn try_handle(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        let result = match self.ns.upstream_event_of(&d.subject) {
            Some(UpstreamEvent::InstanceCreated) => self.instance_created(d.decode()?).await,
            Some(UpstreamEvent::InstanceDeleted) => self.instance_deleted(d.decode()?).await,
            Some(UpstreamEvent::BackupCreated) => self.backup_created(d.decode()?).await,
            None => return Err(Outcome::Reject(format!("unexpected subject {}", d.subject))),
        };
        Ok(match result {
            Ok(outcome) => outcome,
            Err(error) if error.is_unavailable() => Outcome::Unavailable(error.to_string()),
            Err(error) => Outcome::Retry(error.to_string()),
        })
    }
}

impl UpstreamHandler {
    #[tracing::instrument(skip_all, fields(instance_id = %e.instance_id))]
    async fn instance_created(&self, e: rds::InstanceCreated) -> crate::Result<Outcome> {
        let Some(row) = instance_row(
            &e.instance_id,
            &e.tenant_id,
            engine_from_rds(e.engine),
            &e.region,
            opt_millis(e.created_at.as_ref()).unwrap_or(0),
        ) else {
            return Ok(Outcome::Reject(format!(
                "invalid InstanceCreated for {:?}",
                e.instance_id
            )));
        };
        self.catalog.instance_created(&row).await?;
        Ok(Outcome::Ack)
    }

    #[tracing::instrument(skip_all)]
    async fn backup_created(&self, e: rds::BackupCreated) -> crate::Result<Outcome> {
        let Some(d) = e.backup else {
            return Ok(Outcome::Reject("BackupCreated without a descriptor".into()));
        };
        match self.catalog.record_backup(&d).await {
            Ok(_) => Ok(Outcome::Ack),
            // A descriptor that can never be valid: keep it for inspection.
            Err(crate::CatalogError::FailedPrecondition(_, reason)) => Ok(Outcome::Reject(
                format!("backup {:?}: {reason}", d.backup_id),
            )),
            Err(other) => Err(other),
        }
    }

    #[tracing::instrument(skip_all, fields(instance_id = %e.instance_id))]
    async fn instance_deleted(&self, e: rds::InstanceDeleted) -> crate::Result<Outcome> {
        let now = self.catalog.now();
        // The engine of a deleted instance never seen before does not matter:
        // it is recorded only so that a late InstanceCreated stays deleted.
        let Some(row) = instance_row(
            &e.instance_id,
            &e.tenant_id,
            Some(xregion_domain::Engine::Mysql),
            &e.region,
            now,
        ) else {
            return Ok(Outcome::Reject(format!(
                "invalid InstanceDeleted for {:?}",
                e.instance_id
            )));
        };
        let deleted_at = opt_millis(e.deleted_at.as_ref()).unwrap_or(now);
        match self.catalog.instance_deleted(&row, deleted_at).await {
            Ok(()) => Ok(Outcome::Ack),
            // Another tenant's or region's instance: kept for inspection,
            // never acted on.
            Err(crate::CatalogError::FailedPrecondition(_, reason)) => {
                tracing::warn!(%reason, "instance deletion refused");
                Ok(Outcome::Reject(reason))
            }
            Err(other) => Err(other),
        }
    }
}

fn instance_row(
    id: &str,
    tenant: &str,
    engine: Option<xregion_domain::Engine>,
    region: &str,
    created_at: i64,
) -> Option<InstanceRow> {
    use xregion_domain::ids::is_valid_id;
    if !(is_valid_id(id) && is_valid_id(tenant) && is_valid_id(region)) {
        return None;
    }
    Some(InstanceRow {
        instance_id: id.to_string(),
        tenant_id: tenant.to_string(),
        engine: engine?,
        region: region.to_string(),
        created_at,
        deleted_at: None,
    })
}
