//! Tenant-facing reads of synced data: copies, the restore window, plans.

use xregion_domain::manifest::Manifest;
use xregion_domain::validation;
use xregion_domain::BackupKind;
use xregion_proto::convert::backup as conv;
use xregion_proto::convert::millis;
use xregion_proto::xregion::v1 as pb;

use crate::error::{CatalogError, Result};
use crate::paging;
use crate::service::Catalog;
use crate::store::synced::{self, SyncedRow};

impl Catalog {
    async fn synced_of(
        &self,
        tenant: &str,
        service_id: &str,
    ) -> Result<(crate::store::services::ServiceRow, Vec<SyncedRow>)> {
        let svc = self.get_service(tenant, service_id).await?;
        let mut conn = self.db.pool.acquire().await?;
        let rows = synced::for_service(&mut conn, &svc.service_id).await?;
        Ok((svc, rows))
    }

    pub async fn list_synced(
        &self,
        tenant: &str,
        req: &pb::ListSyncedBackupsRequest,
    ) -> Result<pb::ListSyncedBackupsResponse> {
        let limit = validation::page_size(req.page_size) as usize;
        let kind = match pb::BackupKindFilter::try_from(req.kind) {
            Ok(pb::BackupKindFilter::Any) => None,
            Ok(pb::BackupKindFilter::Full) => Some(BackupKind::Full),
            Ok(pb::BackupKindFilter::Log) => Some(BackupKind::Log),
            Err(_) => {
                return Err(xregion_domain::DomainError::invalid("kind", "unknown kind").into())
            }
        };
        let from = req.from.as_ref().map(millis);
        let to = req.to.as_ref().map(millis);
        let shown = |t: Option<i64>| t.map(|t| t.to_string()).unwrap_or_default();
        let bound = paging::Binding::of(&[
            tenant,
            &req.service_id,
            &req.kind.to_string(),
            &shown(from),
            &shown(to),
        ]);
        let after = paging::SYNCED_BACKUPS.parse(&bound, &req.page_token)?;
        let (_, mut rows) = self.synced_of(tenant, &req.service_id).await?;
        // Keyset order in Rust, not the database's collation: a copy
        // expired between pages shifts nothing.
        rows.sort_by(|a, b| {
            (a.manifest.data_end, &a.manifest.backup_id)
                .cmp(&(b.manifest.data_end, &b.manifest.backup_id))
        });
        let candidates: Vec<&SyncedRow> = rows
            .iter()
            .filter(|r| kind.is_none_or(|k| r.manifest.kind == k))
            .filter(|r| from.is_none_or(|f| r.manifest.data_end >= f))
            .filter(|r| to.is_none_or(|t| r.manifest.data_start <= t))
            .filter(|r| {
                after
                    .as_ref()
                    .is_none_or(|a| a.precedes(r.manifest.data_end, &r.manifest.backup_id))
            })
            .take(limit + 1)
            .collect();
        // The next page starts after the last copy of this one.
        let (page, next_page_token) =
            paging::SYNCED_BACKUPS.page(&bound, candidates, limit, |r| paging::BackupPosition {
                data_end: r.manifest.data_end,
                backup_id: r.manifest.backup_id.clone(),
            });
        Ok(pb::ListSyncedBackupsResponse {
            backups: page
                .iter()
                .map(|r| conv::synced_to_proto(&r.manifest, &r.manifest_key))
                .collect(),
            next_page_token,
        })
    }

    /// The window the service's row keeps (the same as from every copy,
    /// without reading them); computed from the copies for a row that has
    /// none yet.
    pub async fn window(&self, tenant: &str, service_id: &str) -> Result<pb::RestoreWindow> {
        let svc = self.get_service(tenant, service_id).await?;
        let mut conn = self.db.pool.acquire().await?;
        if let Some(state) = crate::store::window::get(&mut conn, &svc.service_id).await? {
            return Ok(state
                .window
                .map(|w| conv::window_to_proto(&w))
                .unwrap_or_default());
        }
        drop(conn);
        let (_, rows) = self.synced_of(tenant, service_id).await?;
        let manifests: Vec<Manifest> = rows.into_iter().map(|r| r.manifest).collect();
        Ok(xregion_common::target::window_of(&manifests)
            .map(|w| conv::window_to_proto(&w))
            .unwrap_or_default())
    }

    pub async fn plan(
        &self,
        tenant: &str,
        req: &pb::GetRestorePlanRequest,
    ) -> Result<pb::RestorePlan> {
        let time =
            req.restore_time.as_ref().map(millis).ok_or_else(|| {
                xregion_domain::DomainError::invalid("restore_time", "must be set")
            })?;
        let (svc, rows) = self.synced_of(tenant, &req.service_id).await?;
        let manifests: Vec<Manifest> = rows.into_iter().map(|r| r.manifest).collect();
        match xregion_common::target::plan_of(&manifests, time) {
            Ok((plan, files)) => Ok(conv::plan_to_proto(&svc.target_region, &plan, &files)),
            Err(xregion_common::Error::Plan(e)) => Err(CatalogError::FailedPrecondition(
                xregion_domain::Reason::NoRestorePoint,
                e.to_string(),
            )),
            Err(other) => Err(CatalogError::Corrupt(other.to_string())),
        }
    }
}

impl Catalog {
    /// Usage per UTC day in `[from, to]` (default: everything), priced by
    /// the configured plan.
    pub async fn usage(
        &self,
        tenant: &str,
        req: &pb::GetUsageRequest,
        plan: &crate::config::PricePlan,
    ) -> Result<pb::GetUsageResponse> {
        use crate::store::usage;
        let svc = self.get_service(tenant, &req.service_id).await?;
        let from = req
            .from
            .as_ref()
            .map(|t| usage::day_bound(millis(t)))
            .unwrap_or_else(|| "0000-00-00".into());
        let to = req
            .to
            .as_ref()
            .map(|t| usage::day_bound(millis(t)))
            .unwrap_or_else(|| "9999-99-99".into());
        let mut conn = self.db.pool.acquire().await?;
        let recorded = usage::days(&mut conn, &svc.service_id, &from, &to).await?;
        // Days without a row still store what the day before ended with,
        // up to today (or `to`).
        let carried = usage::stored_before(&mut conn, &svc.service_id, &from).await?;
        // A service being deleted stores nothing after its last change.
        let today = usage::utc_day(if svc.state.is_live() {
            self.now()
        } else {
            svc.updated_at
        });
        let rows = usage::fill_days(&recorded, carried, &from, to.as_str().min(today.as_str()));
        const GB: f64 = 1e9;
        let days: Vec<pb::UsageDay> = rows
            .iter()
            .map(|r| pb::UsageDay {
                day: r.day.clone(),
                bytes_transferred: r.bytes_transferred.max(0) as u64,
                objects_transferred: r.objects_transferred.max(0) as u64,
                bytes_stored: r.bytes_stored.max(0) as u64,
                gb_days: r.bytes_stored.max(0) as f64 / GB,
            })
            .collect();
        let amount = days
            .iter()
            .map(|d| {
                d.bytes_transferred as f64 / GB * plan.per_gb_transferred
                    + d.gb_days * plan.per_gb_day_stored
            })
            .sum();
        Ok(pb::GetUsageResponse {
            days,
            price_plan: plan.name.clone(),
            amount,
            currency: plan.currency.clone(),
        })
    }
}
