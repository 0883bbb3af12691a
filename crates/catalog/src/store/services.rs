//! Sync services. One live service per instance is enforced by a unique
//! index on `live_instance` (NULL once the service is being deleted), never
//! by a read-then-write check.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use xregion_domain::{Engine, ServiceState};

use super::instances::engine_column;
use super::query::{execute, fetch_all, fetch_optional, from_columns};
use crate::error::{CatalogError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRow {
    pub seq: i64,
    pub service_id: String,
    pub tenant_id: String,
    pub engine: Engine,
    pub source_region: String,
    pub instance_id: String,
    pub target_region: String,
    pub retention_days: u32,
    pub state: ServiceState,
    pub request_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub latest_data_time: Option<i64>,
    pub earliest_data_time: Option<i64>,
    pub synced_backups: i64,
    pub synced_bytes: i64,
    pub last_error: String,
    pub delete_reason: Option<String>,
    /// The backup whose failed copy `last_error` names, if any.
    pub failed_backup_id: Option<String>,
    /// The last lag crossing enqueued was a LagExceeded.
    pub lag_alerted: bool,
    pub drill: DrillColumns,
}

/// What the service's restore drills showed (`store::drills`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrillColumns {
    pub verified_point: Option<i64>,
    pub last_drill_id: Option<String>,
    pub last_drill_at: Option<i64>,
    pub last_drill_rto_ms: Option<i64>,
    pub last_drill_error: String,
    /// The last drill failed and that made the service DEGRADED.
    pub drill_degraded: bool,
}

const COLUMNS: &str = "seq, service_id, tenant_id, engine, source_region, instance_id, target_region, \
    retention_days, state, request_id, created_at, updated_at, latest_data_time, earliest_data_time, \
    synced_backups, synced_bytes, last_error, delete_reason, verified_point, last_drill_id, \
    last_drill_at, last_drill_rto_ms, last_drill_error, drill_degraded, failed_backup_id, lag_alerted";

from_columns!(ServiceRow {
    seq,
    service_id,
    tenant_id,
    engine: engine_column,
    source_region,
    instance_id,
    target_region,
    retention_days: retention_column,
    state: state_column,
    request_id,
    created_at,
    updated_at,
    latest_data_time,
    earliest_data_time,
    synced_backups,
    synced_bytes,
    last_error,
    delete_reason,
    failed_backup_id,
    lag_alerted: lag_alerted_column,
    drill: drill_columns
});

fn lag_alerted_column(row: &AnyRow) -> Result<bool> {
    Ok(row.try_get::<i64, _>("lag_alerted")? != 0)
}

fn drill_columns(row: &AnyRow) -> Result<DrillColumns> {
    Ok(DrillColumns {
        verified_point: row.try_get("verified_point")?,
        last_drill_id: row.try_get("last_drill_id")?,
        last_drill_at: row.try_get("last_drill_at")?,
        last_drill_rto_ms: row.try_get("last_drill_rto_ms")?,
        last_drill_error: row.try_get("last_drill_error")?,
        drill_degraded: row.try_get::<i64, _>("drill_degraded")? != 0,
    })
}

fn retention_column(row: &AnyRow) -> Result<u32> {
    let retention: i64 = row.try_get("retention_days")?;
    u32::try_from(retention).map_err(|_| CatalogError::Corrupt(format!("retention {retention}")))
}

fn state_column(row: &AnyRow) -> Result<ServiceState> {
    let state: String = row.try_get("state")?;
    ServiceState::parse(&state).ok_or_else(|| CatalogError::Corrupt(format!("state {state:?}")))
}

/// `SELECT` of whole service rows `WHERE condition` (which may go on with
/// `ORDER BY` and `LIMIT`).
fn select(condition: &str) -> String {
    format!("SELECT {COLUMNS} FROM services WHERE {condition}")
}

/// The one service whose `column` is `value`, if any.
async fn find(conn: &mut AnyConnection, column: &str, value: &str) -> Result<Option<ServiceRow>> {
    let sql = select(&format!("{column} = $1"));
    fetch_optional(conn, sqlx::query(&sql).bind(value)).await
}

/// Inserts a new live service. Fails with a unique violation when the
/// instance already has a live service or the request id was used.
pub async fn insert(conn: &mut AnyConnection, s: &ServiceRow) -> Result<()> {
    let query = sqlx::query(
        "INSERT INTO services (service_id, tenant_id, engine, source_region, instance_id, target_region, \
         retention_days, state, request_id, live_instance, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&s.service_id)
    .bind(&s.tenant_id)
    .bind(s.engine.as_str())
    .bind(&s.source_region)
    .bind(&s.instance_id)
    .bind(&s.target_region)
    .bind(i64::from(s.retention_days))
    .bind(s.state.as_str())
    .bind(s.request_id.as_deref())
    .bind(&s.instance_id)
    .bind(s.created_at)
    .bind(s.updated_at);
    execute(conn, query).await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, service_id: &str) -> Result<Option<ServiceRow>> {
    find(conn, "service_id", service_id).await
}

pub async fn by_request(
    conn: &mut AnyConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<ServiceRow>> {
    let sql = select("tenant_id = $1 AND request_id = $2");
    fetch_optional(conn, sqlx::query(&sql).bind(tenant_id).bind(request_id)).await
}

pub async fn live_for_instance(
    conn: &mut AnyConnection,
    instance_id: &str,
) -> Result<Option<ServiceRow>> {
    find(conn, "live_instance", instance_id).await
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub tenant_id: String,
    pub source_region: Option<String>,
    pub target_region: Option<String>,
    pub engine: Option<Engine>,
    pub state: Option<ServiceState>,
    pub instance_id: Option<String>,
    pub include_deleted: bool,
    pub after_seq: i64,
    pub limit: i64,
}

/// One page in `seq` order: stable under concurrent inserts, so paging
/// returns every service exactly once.
pub async fn list(conn: &mut AnyConnection, f: &ListFilter) -> Result<Vec<ServiceRow>> {
    let mut sql = select("tenant_id = $1 AND seq > $2");
    let mut binds: Vec<String> = Vec::new();
    let mut add = |column: &str, value: &str, binds: &mut Vec<String>| {
        binds.push(value.to_string());
        sql.push_str(&format!(" AND {column} = ${}", binds.len() + 2));
    };
    if let Some(v) = &f.source_region {
        add("source_region", v, &mut binds);
    }
    if let Some(v) = &f.target_region {
        add("target_region", v, &mut binds);
    }
    if let Some(v) = f.engine {
        add("engine", v.as_str(), &mut binds);
    }
    if let Some(v) = f.state {
        add("state", v.as_str(), &mut binds);
    }
    if let Some(v) = &f.instance_id {
        add("instance_id", v, &mut binds);
    }
    if !f.include_deleted && f.state != Some(ServiceState::Deleted) {
        sql.push_str(" AND state <> 'DELETED'");
    }
    sql.push_str(&format!(" ORDER BY seq LIMIT ${}", binds.len() + 3));
    let mut query = sqlx::query(&sql).bind(&f.tenant_id).bind(f.after_seq);
    for b in &binds {
        query = query.bind(b.as_str());
    }
    fetch_all(conn, query.bind(f.limit)).await
}

/// Moves a service to `to` if its current state allows it; returns the
/// previous state when a change was made.
pub async fn set_state(
    conn: &mut AnyConnection,
    service_id: &str,
    from: ServiceState,
    to: ServiceState,
    now: i64,
    last_error: Option<&str>,
) -> Result<bool> {
    let releases_instance = !to.is_live();
    let query = sqlx::query(
        "UPDATE services SET state = $1, updated_at = $2, last_error = COALESCE($3, last_error), \
         live_instance = CASE WHEN $4 = 1 THEN NULL ELSE live_instance END \
         WHERE service_id = $5 AND state = $6",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(last_error)
    .bind(i64::from(releases_instance))
    .bind(service_id)
    .bind(from.as_str());
    Ok(execute(conn, query).await? > 0)
}

pub async fn set_delete_reason(
    conn: &mut AnyConnection,
    service_id: &str,
    reason: &str,
) -> Result<()> {
    let query = sqlx::query("UPDATE services SET delete_reason = $1 WHERE service_id = $2")
        .bind(reason)
        .bind(service_id);
    execute(conn, query).await?;
    Ok(())
}

/// Sets a live service's retention (the caller holds its lock and has
/// checked it is live; the state condition keeps a racing delete out).
pub async fn set_retention(
    conn: &mut AnyConnection,
    service_id: &str,
    retention_days: u32,
    now: i64,
) -> Result<()> {
    let query = sqlx::query(
        "UPDATE services SET retention_days = $1, updated_at = $2 \
         WHERE service_id = $3 AND state NOT IN ('DELETING', 'DELETED')",
    )
    .bind(i64::from(retention_days))
    .bind(now)
    .bind(service_id);
    if execute(conn, query).await? == 0 {
        return Err(CatalogError::FailedPrecondition(
            xregion_domain::Reason::ConcurrentChange,
            format!("sync service {service_id:?} changed concurrently; retry"),
        ));
    }
    Ok(())
}

/// Records a copy added (`copies = 1`) or expired (`copies = -1`) and the
/// restore window that results.
pub async fn record_copy_change(
    conn: &mut AnyConnection,
    service_id: &str,
    copies: i64,
    bytes: i64,
    window: Option<&xregion_domain::chain::RestoreWindow>,
    now: i64,
) -> Result<()> {
    let query = sqlx::query(
        "UPDATE services SET synced_backups = synced_backups + $1, synced_bytes = synced_bytes + $2, \
         earliest_data_time = $3, latest_data_time = $4, updated_at = $5 WHERE service_id = $6",
    )
    .bind(copies)
    .bind(bytes)
    .bind(window.map(|w| w.earliest))
    .bind(window.map(|w| w.latest))
    .bind(now)
    .bind(service_id);
    execute(conn, query).await?;
    Ok(())
}

pub async fn set_failure(
    conn: &mut AnyConnection,
    service_id: &str,
    backup_id: Option<&str>,
    error: &str,
    now: i64,
) -> Result<()> {
    let query = sqlx::query(
        "UPDATE services SET last_error = $1, failed_backup_id = $2, updated_at = $3 WHERE service_id = $4",
    )
    .bind(error)
    .bind(backup_id)
    .bind(now)
    .bind(service_id);
    execute(conn, query).await?;
    Ok(())
}

/// Flips the lag alert flag; returns whether it changed.
pub async fn set_lag_alerted(
    conn: &mut AnyConnection,
    service_id: &str,
    alerted: bool,
) -> Result<bool> {
    let query = sqlx::query(
        "UPDATE services SET lag_alerted = $1 WHERE service_id = $2 AND lag_alerted <> $1",
    )
    .bind(i64::from(alerted))
    .bind(service_id);
    Ok(execute(conn, query).await? > 0)
}

/// One page of live services (of one instance, or all) in `seq` order,
/// after `after_seq`.
pub async fn live_page(
    conn: &mut AnyConnection,
    instance_id: Option<&str>,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<ServiceRow>> {
    let sql = match instance_id {
        Some(_) => select("live_instance = $1 AND seq > $2 ORDER BY seq LIMIT $3"),
        None => select("live_instance IS NOT NULL AND seq > $1 ORDER BY seq LIMIT $2"),
    };
    let query = match instance_id {
        Some(i) => sqlx::query(&sql).bind(i),
        None => sqlx::query(&sql),
    };
    fetch_all(conn, query.bind(after_seq).bind(limit)).await
}

/// Takes the service row's write lock until the transaction ends and
/// returns the row as locked (a no-op update works as `SELECT … FOR UPDATE`
/// on both backends; `RETURNING` makes the lock and the read one statement).
pub async fn lock(conn: &mut AnyConnection, service_id: &str) -> Result<Option<ServiceRow>> {
    let sql = format!("UPDATE services SET seq = seq WHERE service_id = $1 RETURNING {COLUMNS}");
    fetch_optional(conn, sqlx::query(&sql).bind(service_id)).await
}
