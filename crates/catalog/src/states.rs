//! What cleanup asks before it deletes: the catalog's own record of services
//! found in a store, and forgetting an expired copy before its files go.

use xregion_domain::chain::{expirable, ChainBackup};
use xregion_domain::ids::is_valid_id;
use xregion_proto::convert::{state_to_api, timestamp};
use xregion_proto::xregion::v1 as pb;

use crate::error::{CatalogError, Result};
use crate::service::{service_ref, Catalog};
use crate::store::services::ServiceRow;
use crate::store::{outbox, services, synced};
use crate::sync::{copies_changed, CopyChange};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Whether retention lets `backup_id` go from `chain` at `now`.
pub fn past_retention(svc: &ServiceRow, chain: &[ChainBackup], backup_id: &str, now: i64) -> bool {
    let cutoff = now.saturating_sub(i64::from(svc.retention_days).saturating_mul(DAY_MS));
    expirable(svc.engine, chain, cutoff)
        .iter()
        .any(|id| id == backup_id)
}

/// More ids than this in one request is a caller's bug, not a page.
pub const MAX_STATE_IDS: usize = 1000;

impl Catalog {
    /// One status per requested id, in order. An id the catalog has no row
    /// for is `known = false`: cleanup must then leave its data alone.
    pub async fn service_states(&self, ids: &[String]) -> Result<Vec<pb::ServiceStatus>> {
        if ids.len() > MAX_STATE_IDS {
            return Err(xregion_domain::DomainError::invalid(
                "service_ids",
                format!("at most {MAX_STATE_IDS} per request, got {}", ids.len()),
            )
            .into());
        }
        let mut conn = self.db.pool.acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = if is_valid_id(id) {
                services::get(&mut conn, id).await?
            } else {
                None
            };
            out.push(match row {
                Some(row) => pb::ServiceStatus {
                    service_id: id.clone(),
                    known: true,
                    state: state_to_api(row.state) as i32,
                    service: Some(service_ref(&row)),
                    latest_data_time: row.latest_data_time.map(timestamp),
                    last_drill_time: row.drill.last_drill_at.map(timestamp),
                },
                None => pb::ServiceStatus {
                    service_id: id.clone(),
                    known: false,
                    ..Default::default()
                },
            });
        }
        Ok(out)
    }

    /// Forgets an expired copy and announces it, in one transaction; cleanup
    /// deletes the files only after this answered. Idempotent.
    pub async fn expire_backup(&self, req: &pb::ExpireBackupRequest) -> Result<()> {
        if !is_valid_id(&req.service_id) || !is_valid_id(&req.backup_id) {
            return Err(xregion_domain::DomainError::invalid(
                "backup_id",
                "service_id and backup_id must be valid ids",
            )
            .into());
        }
        let mut tx = self.db.pool.begin().await?;
        let Some(svc) = services::lock(&mut tx, &req.service_id).await? else {
            return Err(CatalogError::NotFound(
                xregion_domain::Reason::ServiceNotFound,
                format!("service {} is unknown", req.service_id),
            ));
        };
        let now = self.now();
        // Cleanup decided from the store; the catalog decides again from its
        // own record, so no request can make it forget a copy retention
        // still needs.
        let chain: Vec<ChainBackup> = synced::for_service(&mut tx, &svc.service_id)
            .await?
            .iter()
            .map(|r| r.manifest.chain_backup())
            .collect();
        let recorded = chain.iter().any(|c| c.backup_id == req.backup_id);
        if recorded && !past_retention(&svc, &chain, &req.backup_id, now) {
            return Err(CatalogError::precondition(format!(
                "backup {} of service {} is still within its retention",
                req.backup_id, svc.service_id
            )));
        }
        if let Some(bytes) = synced::delete(&mut tx, &svc.service_id, &req.backup_id).await? {
            let window =
                copies_changed(&mut tx, &svc, CopyChange::Forgotten { bytes }, now).await?;
            let event = pb::BackupExpired {
                service_id: svc.service_id.clone(),
                tenant_id: svc.tenant_id.clone(),
                backup_id: req.backup_id.clone(),
                expired_at: Some(timestamp(now)),
            };
            outbox::enqueue(&mut tx, &event, now).await?;
            tracing::info!(service_id = %svc.service_id, backup_id = %req.backup_id, earliest = ?window.as_ref().map(|w| w.earliest), "expired copy forgotten");
        }
        self.commit(tx).await
    }
}
