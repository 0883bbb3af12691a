//! `UpdateSyncService` (AIP-134): changes a live service's retention and
//! nothing else. It deletes nothing: a lower retention makes the copies
//! older than the new window eligible for the next retention pass of
//! cleanup, which reads the retention from the catalog and decides with
//! its own rule; a higher one keeps everything. The change and its event
//! (a `ServiceStateChanged` with the same state on both sides and
//! `updated_fields`) commit together; an update to the value the service
//! already has changes nothing and announces nothing.

use xregion_domain::validation::validate_retention;
use xregion_domain::{ids, DomainError};
use xregion_proto::convert::{state_to_api, timestamp};
use xregion_proto::xregion::v1 as pb;

use crate::error::{CatalogError, Result};
use crate::service::Catalog;
use crate::store::outbox;
use crate::store::services::{self, ServiceRow};

/// The one path of `SyncService` an update may change.
pub const RETENTION_DAYS: &str = "retention_days";

/// The fields of `SyncService` that exist but cannot change: named as
/// immutable rather than unknown in the refusal.
const IMMUTABLE: [&str; 18] = [
    "id",
    "engine",
    "source_region",
    "source_instance_id",
    "target_region",
    "state",
    "created_at",
    "latest_data_time",
    "lag_seconds",
    "synced_backups",
    "synced_bytes",
    "last_error",
    "tenant_id",
    "updated_at",
    "verified_restorable_time",
    "last_drill_time",
    "last_drill_rto_ms",
    "last_drill_error",
];

/// Checks the mask and the value: the retention to set. An empty mask or
/// `*` means every updatable field, which is `retention_days`.
pub fn validate_update(req: &pb::UpdateSyncServiceRequest) -> Result<u32> {
    let paths = req.update_mask.as_ref().map_or(&[][..], |m| &m.paths[..]);
    for path in paths {
        match path.as_str() {
            RETENTION_DAYS | "*" => {}
            p if IMMUTABLE.contains(&p) => {
                return Err(invalid_mask(format!("{p:?} cannot be updated")));
            }
            p => return Err(invalid_mask(format!("{p:?} is not a field of SyncService"))),
        }
    }
    let days = req
        .retention_days
        .ok_or_else(|| DomainError::invalid("retention_days", "must be set"))?;
    Ok(validate_retention(Some(days))?)
}

fn invalid_mask(reason: String) -> CatalogError {
    DomainError::invalid("update_mask", reason).into()
}

impl Catalog {
    /// Sets a live service's retention; see the module's comment.
    pub async fn update_service(
        &self,
        tenant: &str,
        req: &pb::UpdateSyncServiceRequest,
    ) -> Result<ServiceRow> {
        ids::validate_id("id", &req.id)?;
        let retention = validate_update(req)?;
        let not_found = || {
            CatalogError::NotFound(
                xregion_domain::Reason::ServiceNotFound,
                format!("sync service {:?} not found", req.id),
            )
        };
        let mut tx = self.db.pool.begin().await?;
        // Serialises concurrent updates and deletes of the service.
        let row = services::lock(&mut tx, &req.id)
            .await?
            .filter(|s| s.tenant_id == tenant)
            .ok_or_else(not_found)?;
        if !row.state.is_live() {
            return Err(CatalogError::FailedPrecondition(
                xregion_domain::Reason::ServiceNotLive,
                format!(
                    "sync service {:?} is {} and cannot be updated",
                    row.service_id,
                    row.state.as_str()
                ),
            ));
        }
        if row.retention_days == retention {
            return Ok(row);
        }
        let now = self.now();
        services::set_retention(&mut tx, &row.service_id, retention, now).await?;
        let event = pb::ServiceStateChanged {
            service_id: row.service_id.clone(),
            tenant_id: row.tenant_id.clone(),
            from: state_to_api(row.state) as i32,
            to: state_to_api(row.state) as i32,
            reason: format!(
                "retention_days changed from {} to {retention}",
                row.retention_days
            ),
            changed_at: Some(timestamp(now)),
            updated_fields: vec![RETENTION_DAYS.to_string()],
            previous_retention_days: row.retention_days,
            retention_days: retention,
        };
        outbox::enqueue(&mut tx, &event, now).await?;
        self.commit(tx).await?;
        tracing::info!(
            service_id = %row.service_id,
            from = row.retention_days,
            to = retention,
            "sync service retention updated"
        );
        // The row under the lock, with what this update wrote.
        Ok(ServiceRow {
            retention_days: retention,
            updated_at: now,
            ..row
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "update_tests.rs"]
mod tests;
