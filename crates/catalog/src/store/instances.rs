//! The instance inventory, fed by upstream InstanceCreated/InstanceDeleted.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use xregion_domain::Engine;

use super::query::{execute, fetch_all, fetch_optional, from_columns, AnyQuery};
use crate::error::{CatalogError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    pub instance_id: String,
    pub tenant_id: String,
    pub engine: Engine,
    pub region: String,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
}

const COLUMNS: &str = "instance_id, tenant_id, engine, region, created_at, deleted_at";

from_columns!(InstanceRow {
    instance_id,
    tenant_id,
    engine: engine_column,
    region,
    created_at,
    deleted_at
});

/// The `engine` column, which only this code writes.
pub(super) fn engine_column(row: &AnyRow) -> Result<Engine> {
    let engine: String = row.try_get("engine")?;
    Engine::parse(&engine).ok_or_else(|| CatalogError::Corrupt(format!("engine {engine:?}")))
}

/// The [`insert_sql`] statement `sql` bound to `row`, with `deleted_at` as `$6`.
fn upsert<'q>(sql: &'q str, row: &'q InstanceRow, deleted_at: Option<i64>) -> AnyQuery<'q> {
    sqlx::query(sql)
        .bind(&row.instance_id)
        .bind(&row.tenant_id)
        .bind(row.engine.as_str())
        .bind(&row.region)
        .bind(row.created_at)
        .bind(deleted_at)
}

/// `on_conflict` says what an instance already recorded becomes.
fn insert_sql(on_conflict: &str) -> String {
    format!("INSERT INTO instances ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instance_id) {on_conflict}")
}

/// Idempotent: a redelivered event, or one arriving after the instance's
/// deletion, changes nothing.
pub async fn insert(conn: &mut AnyConnection, row: &InstanceRow) -> Result<bool> {
    let sql = insert_sql("DO NOTHING");
    Ok(execute(conn, upsert(&sql, row, row.deleted_at)).await? > 0)
}

/// Marks the instance deleted; records it even when its creation was never
/// seen, so a late InstanceCreated cannot bring it back.
pub async fn mark_deleted(
    conn: &mut AnyConnection,
    row: &InstanceRow,
    deleted_at: i64,
) -> Result<()> {
    let sql = insert_sql("DO UPDATE SET deleted_at = COALESCE(instances.deleted_at, $6)");
    execute(conn, upsert(&sql, row, Some(deleted_at))).await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, instance_id: &str) -> Result<Option<InstanceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM instances WHERE instance_id = $1");
    fetch_optional(conn, sqlx::query(&sql).bind(instance_id)).await
}

/// Live instances of the tenant in the region with the engine, without a
/// live sync service.
pub async fn eligible(
    conn: &mut AnyConnection,
    tenant_id: &str,
    region: &str,
    engine: Engine,
) -> Result<Vec<InstanceRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM instances i WHERE tenant_id = $1 AND region = $2 AND engine = $3 \
         AND deleted_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM services s WHERE s.live_instance = i.instance_id) \
         ORDER BY instance_id"
    );
    let query = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(region)
        .bind(engine.as_str());
    fetch_all(conn, query).await
}
