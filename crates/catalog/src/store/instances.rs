//! The instance inventory, fed by upstream InstanceCreated/InstanceDeleted.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use xregion_domain::Engine;

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

fn from_row(row: &AnyRow) -> Result<InstanceRow> {
    let engine: String = row.try_get("engine")?;
    Ok(InstanceRow {
        instance_id: row.try_get("instance_id")?,
        tenant_id: row.try_get("tenant_id")?,
        engine: Engine::parse(&engine)
            .ok_or_else(|| CatalogError::Corrupt(format!("engine {engine:?}")))?,
        region: row.try_get("region")?,
        created_at: row.try_get("created_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// Idempotent: a redelivered event, or one arriving after the instance's
/// deletion, changes nothing.
pub async fn insert(conn: &mut AnyConnection, row: &InstanceRow) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO instances (instance_id, tenant_id, engine, region, created_at, deleted_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instance_id) DO NOTHING",
    )
    .bind(&row.instance_id)
    .bind(&row.tenant_id)
    .bind(row.engine.as_str())
    .bind(&row.region)
    .bind(row.created_at)
    .bind(row.deleted_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks the instance deleted; records it even when its creation was never
/// seen, so a late InstanceCreated cannot bring it back.
pub async fn mark_deleted(
    conn: &mut AnyConnection,
    row: &InstanceRow,
    deleted_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO instances (instance_id, tenant_id, engine, region, created_at, deleted_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (instance_id) DO UPDATE SET deleted_at = COALESCE(instances.deleted_at, $6)",
    )
    .bind(&row.instance_id)
    .bind(&row.tenant_id)
    .bind(row.engine.as_str())
    .bind(&row.region)
    .bind(row.created_at)
    .bind(deleted_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, instance_id: &str) -> Result<Option<InstanceRow>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM instances WHERE instance_id = $1"
    ))
    .bind(instance_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Live instances of the tenant in the region with the engine, without a
/// live sync service.
pub async fn eligible(
    conn: &mut AnyConnection,
    tenant_id: &str,
    region: &str,
    engine: Engine,
) -> Result<Vec<InstanceRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM instances i WHERE tenant_id = $1 AND region = $2 AND engine = $3 \
         AND deleted_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM services s WHERE s.live_instance = i.instance_id) \
         ORDER BY instance_id"
    ))
    .bind(tenant_id)
    .bind(region)
    .bind(engine.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}
