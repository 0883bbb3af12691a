//! The catalog's operations on sync services and the instance inventory.
//! Every state change writes its event to the outbox in the same transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sqlx::AnyConnection;
use tokio::sync::Notify;
use xregion_domain::source_keys::SourceKeyPrefix;
use xregion_domain::validation::{self, validate_create, CreateServiceInput};
use xregion_domain::{ids, layout, ServiceState};
use xregion_proto::convert::{engine_from_api, engine_to_api, state_to_api, timestamp};
use xregion_proto::xregion::v1 as pb;

use crate::clock::SharedClock;
use crate::error::{CatalogError, Result};
use crate::paging;
use crate::store::instances::{self, InstanceRow};
use crate::store::services::{self, ListFilter, ServiceRow};
use crate::store::{outbox, Db};

pub const FAIL_AFTER_CREATE_COMMIT: &str = "after_create_commit";

#[derive(Clone)]
pub struct Catalog {
    pub db: Db,
    pub clock: SharedClock,
    regions: Arc<BTreeSet<String>>,
    relay_wake: Arc<Notify>,
    fail_point: Option<String>,
    pub lag_threshold_secs: i64,
    /// Source key prefix templates by region (`source_key_prefix`).
    source_prefixes: Arc<BTreeMap<String, SourceKeyPrefix>>,
    /// The regions' stores, to see a copy in its target before recording it.
    targets: Option<xregion_common::Regions>,
}

impl Catalog {
    pub fn new(
        db: Db,
        clock: SharedClock,
        regions: impl IntoIterator<Item = String>,
        fail_point: Option<String>,
        lag_threshold_secs: i64,
    ) -> Self {
        Self {
            db,
            clock,
            regions: Arc::new(regions.into_iter().collect()),
            relay_wake: Arc::new(Notify::new()),
            fail_point,
            lag_threshold_secs,
            source_prefixes: Arc::new(BTreeMap::new()),
            targets: None,
        }
    }

    /// A copy is recorded only once its manifest is seen in the target.
    pub fn with_target_stores(mut self, regions: xregion_common::Regions) -> Self {
        self.targets = Some(regions);
        self
    }

    pub(crate) fn targets(&self) -> Option<&xregion_common::Regions> {
        self.targets.as_ref()
    }

    /// Where each source region keeps an instance's files; descriptors
    /// listing files elsewhere are refused.
    pub fn with_source_key_prefixes(
        mut self,
        prefixes: impl IntoIterator<Item = (String, SourceKeyPrefix)>,
    ) -> Self {
        self.source_prefixes = Arc::new(prefixes.into_iter().collect());
        self
    }

    pub fn source_key_prefix(&self, region: &str) -> Option<&SourceKeyPrefix> {
        self.source_prefixes.get(region)
    }

    /// Ends a write: commits it, then wakes the outbox relay to publish
    /// the events it enqueued.
    pub(crate) async fn commit(&self, tx: sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
        tx.commit().await?;
        self.relay_wake.notify_one();
        Ok(())
    }

    pub fn relay_wake(&self) -> Arc<Notify> {
        self.relay_wake.clone()
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn region_exists(&self, id: &str) -> bool {
        self.regions.contains(id)
    }

    pub async fn eligible_instances(
        &self,
        tenant: &str,
        req: &pb::ListEligibleInstancesRequest,
    ) -> Result<Vec<InstanceRow>> {
        let engine = engine_from_api(req.engine).ok_or_else(|| {
            xregion_domain::DomainError::invalid("engine", "must be MYSQL or SQLSERVER")
        })?;
        ids::validate_id("source_region", &req.source_region)?;
        if !self.region_exists(&req.source_region) {
            return Err(xregion_domain::DomainError::invalid(
                "source_region",
                format!("region {:?} is not configured", req.source_region),
            )
            .into());
        }
        let mut conn = self.db.pool.acquire().await?;
        instances::eligible(&mut conn, tenant, &req.source_region, engine).await
    }

    pub async fn create_service(
        &self,
        tenant: &str,
        req: &pb::CreateSyncServiceRequest,
    ) -> Result<ServiceRow> {
        ids::validate_id("tenant", tenant)?;
        let valid = validate_create(
            &CreateServiceInput {
                engine: engine_from_api(req.engine),
                source_region: &req.source_region,
                source_instance_id: &req.source_instance_id,
                target_region: &req.target_region,
                retention_days: req.retention_days,
                request_id: &req.request_id,
            },
            |r| self.region_exists(r),
        )?;
        let request_id = (!req.request_id.is_empty()).then(|| req.request_id.clone());
        let mut conn = self.db.pool.acquire().await?;
        if let Some(rid) = &request_id {
            if let Some(existing) = services::by_request(&mut conn, tenant, rid).await? {
                return same_request(existing, &req.source_instance_id);
            }
        }
        let instance = instances::get(&mut conn, &req.source_instance_id)
            .await?
            .filter(|i| i.tenant_id == tenant && i.region == req.source_region)
            .ok_or_else(|| {
                CatalogError::NotFound(
                    xregion_domain::Reason::InstanceNotFound,
                    format!(
                        "instance {:?} not found in region {:?}",
                        req.source_instance_id, req.source_region
                    ),
                )
            })?;
        if instance.deleted_at.is_some() {
            return Err(CatalogError::FailedPrecondition(
                xregion_domain::Reason::InstanceDeleted,
                format!("instance {:?} has been deleted", instance.instance_id),
            ));
        }
        if instance.engine != valid.engine {
            return Err(CatalogError::FailedPrecondition(
                xregion_domain::Reason::EngineMismatch,
                format!(
                    "instance {:?} runs {}, not {}",
                    instance.instance_id,
                    instance.engine.as_str(),
                    valid.engine.as_str()
                ),
            ));
        }
        let now = self.now();
        let row = ServiceRow {
            seq: 0,
            service_id: new_service_id(),
            tenant_id: tenant.to_string(),
            engine: valid.engine,
            source_region: req.source_region.clone(),
            instance_id: req.source_instance_id.clone(),
            target_region: req.target_region.clone(),
            retention_days: valid.retention_days,
            state: ServiceState::Creating,
            request_id: request_id.clone(),
            created_at: now,
            updated_at: now,
            latest_data_time: None,
            earliest_data_time: None,
            synced_backups: 0,
            synced_bytes: 0,
            last_error: String::new(),
            delete_reason: None,
            failed_backup_id: None,
            lag_alerted: false,
            drill: Default::default(),
        };
        match self.insert_with_event(&mut conn, &row, now).await {
            Ok(()) => {}
            Err(CatalogError::Database(db_error)) => {
                // Lost the race (or a retry of the same request won it): the
                // unique indexes decided; tell the caller who won.
                if let Some(rid) = &request_id {
                    if let Some(existing) = services::by_request(&mut conn, tenant, rid).await? {
                        return same_request(existing, &req.source_instance_id);
                    }
                }
                if let Some(existing) =
                    services::live_for_instance(&mut conn, &row.instance_id).await?
                {
                    return Err(already_exists(&existing));
                }
                return Err(CatalogError::Database(db_error));
            }
            Err(other) => return Err(other),
        }
        // Committed, not yet woken: the one write whose commit and wake are
        // apart, so the crash test can stop between them.
        if self.fail_point.as_deref() == Some(FAIL_AFTER_CREATE_COMMIT) {
            tracing::error!(service_id = %row.service_id, "fail point reached: aborting after commit");
            std::process::abort();
        }
        self.relay_wake.notify_one();
        services::get(&mut conn, &row.service_id)
            .await?
            .ok_or_else(|| CatalogError::Corrupt("created service vanished".into()))
    }

    async fn insert_with_event(
        &self,
        conn: &mut AnyConnection,
        row: &ServiceRow,
        now: i64,
    ) -> Result<()> {
        // On the caller's connection: SQLite's pool has only one.
        let mut tx = sqlx::Connection::begin(conn).await?;
        services::insert(&mut tx, row).await?;
        let event = pb::ServiceCreated {
            service: Some(service_ref(row)),
            created_at: Some(timestamp(now)),
        };
        outbox::enqueue(&mut tx, &event, now).await?;
        tx.commit().await?;
        tracing::info!(service_id = %row.service_id, instance_id = %row.instance_id, "sync service created");
        Ok(())
    }

    pub async fn get_service(&self, tenant: &str, id: &str) -> Result<ServiceRow> {
        ids::validate_id("id", id)?;
        let mut conn = self.db.pool.acquire().await?;
        services::get(&mut conn, id)
            .await?
            .filter(|s| s.tenant_id == tenant)
            .ok_or_else(|| {
                CatalogError::NotFound(
                    xregion_domain::Reason::ServiceNotFound,
                    format!("sync service {id:?} not found"),
                )
            })
    }

    pub async fn list_services(
        &self,
        tenant: &str,
        req: &pb::ListSyncServicesRequest,
    ) -> Result<(Vec<ServiceRow>, String)> {
        let limit = validation::page_size(req.page_size);
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let engine =
            match req.engine {
                0 => None,
                e => Some(engine_from_api(e).ok_or_else(|| {
                    xregion_domain::DomainError::invalid("engine", "unknown engine")
                })?),
            };
        let state =
            match req.state {
                0 => None,
                s => Some(xregion_proto::convert::state_from_api(s).ok_or_else(|| {
                    xregion_domain::DomainError::invalid("state", "unknown state")
                })?),
            };
        let bound = paging::Binding::of(&[
            tenant,
            &req.source_region,
            &req.target_region,
            &req.engine.to_string(),
            &req.state.to_string(),
            &req.source_instance_id,
            &req.include_deleted.to_string(),
        ]);
        let filter = ListFilter {
            tenant_id: tenant.to_string(),
            source_region: opt(&req.source_region),
            target_region: opt(&req.target_region),
            engine,
            state,
            instance_id: opt(&req.source_instance_id),
            include_deleted: req.include_deleted,
            after_seq: paging::SERVICES
                .parse(&bound, &req.page_token)?
                .unwrap_or(0),
            limit: i64::from(limit) + 1,
        };
        let mut conn = self.db.pool.acquire().await?;
        let rows = services::list(&mut conn, &filter).await?;
        Ok(paging::SERVICES.page(&bound, rows, limit as usize, |r| r.seq))
    }

    pub async fn delete_service(
        &self,
        tenant: &str,
        id: &str,
        reason: pb::DeleteReason,
    ) -> Result<ServiceRow> {
        let row = self.get_service(tenant, id).await?;
        let mut tx = self.db.pool.begin().await?;
        self.begin_delete(&mut tx, &row, reason).await?;
        self.commit(tx).await?;
        self.get_service(tenant, id).await
    }

    /// Moves a live service to DELETING and announces it; a no-op for a
    /// service already being deleted, so retries and redeliveries are safe.
    pub(crate) async fn begin_delete(
        &self,
        conn: &mut AnyConnection,
        row: &ServiceRow,
        reason: pb::DeleteReason,
    ) -> Result<()> {
        if !row.state.is_live() {
            return Ok(());
        }
        let now = self.now();
        if !services::set_state(
            conn,
            &row.service_id,
            row.state,
            ServiceState::Deleting,
            now,
            None,
        )
        .await?
        {
            return Err(CatalogError::FailedPrecondition(
                xregion_domain::Reason::ConcurrentChange,
                format!(
                    "sync service {:?} changed concurrently; retry",
                    row.service_id
                ),
            ));
        }
        services::set_delete_reason(conn, &row.service_id, reason.as_str_name()).await?;
        let event = pb::ServiceDeleted {
            service: Some(service_ref(row)),
            reason: reason as i32,
            deleted_at: Some(timestamp(now)),
        };
        outbox::enqueue(conn, &event, now).await?;
        enqueue_state_change(
            conn,
            row,
            row.state,
            ServiceState::Deleting,
            reason.as_str_name(),
            now,
        )
        .await?;
        tracing::info!(service_id = %row.service_id, reason = reason.as_str_name(), "sync service deleting");
        Ok(())
    }

    pub async fn instance_created(&self, row: &InstanceRow) -> Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        if instances::insert(&mut conn, row).await? {
            tracing::info!(instance_id = %row.instance_id, region = %row.region, "instance recorded");
        }
        Ok(())
    }

    /// Records the deletion and deletes the instance's service, if any.
    /// An event naming another tenant or region than the recorded instance
    /// is refused whole (FailedPrecondition): nothing is marked or deleted.
    pub async fn instance_deleted(&self, row: &InstanceRow, deleted_at: i64) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        if let Some(known) = instances::get(&mut tx, &row.instance_id).await? {
            if known.tenant_id != row.tenant_id || known.region != row.region {
                return Err(CatalogError::precondition(format!(
                    "InstanceDeleted for {:?} names tenant {:?} in region {:?}, but the instance belongs to tenant {:?} in region {:?}",
                    row.instance_id, row.tenant_id, row.region, known.tenant_id, known.region
                )));
            }
        }
        instances::mark_deleted(&mut tx, row, deleted_at).await?;
        if let Some(service) = services::live_for_instance(&mut tx, &row.instance_id).await? {
            self.begin_delete(&mut tx, &service, pb::DeleteReason::SourceInstanceDeleted)
                .await?;
        }
        self.commit(tx).await
    }

    pub fn to_proto(&self, row: &ServiceRow) -> pb::SyncService {
        to_proto(row, self.now())
    }
}

pub(crate) async fn enqueue_state_change(
    conn: &mut AnyConnection,
    row: &ServiceRow,
    from: ServiceState,
    to: ServiceState,
    reason: &str,
    now: i64,
) -> Result<()> {
    let event = pb::ServiceStateChanged {
        service_id: row.service_id.clone(),
        tenant_id: row.tenant_id.clone(),
        from: state_to_api(from) as i32,
        to: state_to_api(to) as i32,
        reason: reason.to_string(),
        changed_at: Some(timestamp(now)),
        ..Default::default()
    };
    outbox::enqueue(conn, &event, now).await
}

fn same_request(existing: ServiceRow, instance_id: &str) -> Result<ServiceRow> {
    if existing.instance_id == instance_id {
        Ok(existing)
    } else {
        Err(CatalogError::AlreadyExists(
            xregion_domain::Reason::RequestIdReused,
            format!(
                "request_id was already used to create sync service {} for another instance",
                existing.service_id
            ),
        ))
    }
}

fn already_exists(existing: &ServiceRow) -> CatalogError {
    CatalogError::AlreadyExists(
        xregion_domain::Reason::ServiceExists,
        format!(
            "instance {:?} already has sync service {}",
            existing.instance_id, existing.service_id
        ),
    )
}

fn new_service_id() -> String {
    format!(
        "{}{}",
        layout::SERVICE_ID_PREFIX,
        uuid::Uuid::now_v7().simple()
    )
}

pub fn service_ref(row: &ServiceRow) -> pb::ServiceRef {
    pb::ServiceRef {
        service_id: row.service_id.clone(),
        tenant_id: row.tenant_id.clone(),
        engine: engine_to_api(row.engine) as i32,
        source_region: row.source_region.clone(),
        instance_id: row.instance_id.clone(),
        target_region: row.target_region.clone(),
        retention_days: row.retention_days,
        target_prefix: layout::service_prefix(&row.tenant_id, &row.instance_id, &row.service_id),
    }
}

pub fn to_proto(row: &ServiceRow, now: i64) -> pb::SyncService {
    pb::SyncService {
        id: row.service_id.clone(),
        engine: engine_to_api(row.engine) as i32,
        source_region: row.source_region.clone(),
        source_instance_id: row.instance_id.clone(),
        target_region: row.target_region.clone(),
        state: state_to_api(row.state) as i32,
        created_at: Some(timestamp(row.created_at)),
        latest_data_time: row.latest_data_time.map(timestamp),
        lag_seconds: row
            .latest_data_time
            .map(|t| now.saturating_sub(t).max(0) / 1000),
        synced_backups: row.synced_backups.max(0) as u64,
        synced_bytes: row.synced_bytes.max(0) as u64,
        retention_days: row.retention_days,
        last_error: row.last_error.clone(),
        tenant_id: row.tenant_id.clone(),
        updated_at: Some(timestamp(row.updated_at)),
        verified_restorable_time: row.drill.verified_point.map(timestamp),
        last_drill_time: row.drill.last_drill_at.map(timestamp),
        last_drill_rto_ms: row.drill.last_drill_rto_ms.unwrap_or(0).max(0) as u64,
        last_drill_error: row.drill.last_drill_error.clone(),
    }
}

pub fn instance_to_proto(row: &InstanceRow) -> pb::Instance {
    pb::Instance {
        id: row.instance_id.clone(),
        engine: engine_to_api(row.engine) as i32,
        region: row.region.clone(),
        created_at: Some(timestamp(row.created_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ids_follow_the_id_grammar() {
        assert!(ids::is_valid_id(&new_service_id()));
    }
}
