//! Synced copies: one row per (service, backup) whose manifest is written.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use xregion_domain::manifest::Manifest;

use super::query::{execute, fetch_all, fetch_value, from_columns};
use crate::error::{CatalogError, Result};

/// Idempotent; returns whether the copy was new.
pub async fn insert(conn: &mut AnyConnection, m: &Manifest, manifest_key: &str) -> Result<bool> {
    let query = sqlx::query(
        "INSERT INTO synced_backups (service_id, backup_id, kind, data_start, data_end, bytes, files, manifest_key, synced_at, descriptor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (service_id, backup_id) DO NOTHING",
    )
    .bind(&m.service_id)
    .bind(&m.backup_id)
    .bind(m.kind.as_str())
    .bind(m.data_start)
    .bind(m.data_end)
    .bind(i64::try_from(m.bytes()).unwrap_or(i64::MAX))
    .bind(m.files.len() as i64)
    .bind(manifest_key)
    .bind(m.synced_at)
    .bind(m.to_json());
    Ok(execute(conn, query).await? > 0)
}

#[derive(Debug, Clone)]
pub struct SyncedRow {
    pub manifest: Manifest,
    pub manifest_key: String,
}

from_columns!(SyncedRow {
    manifest: manifest_column,
    manifest_key
});

/// The `descriptor` column holds the manifest's JSON.
fn manifest_column(row: &AnyRow) -> Result<Manifest> {
    let json: Vec<u8> = row.try_get("descriptor")?;
    Manifest::from_json(&json).map_err(CatalogError::Corrupt)
}

/// The service's synced copies, oldest data first.
pub async fn for_service(conn: &mut AnyConnection, service_id: &str) -> Result<Vec<SyncedRow>> {
    let sql = "SELECT manifest_key, descriptor FROM synced_backups WHERE service_id = $1 \
               ORDER BY data_end, backup_id";
    fetch_all(conn, sqlx::query(sql).bind(service_id)).await
}

/// Removes an expired copy; returns its bytes when it was there.
pub async fn delete(
    conn: &mut AnyConnection,
    service_id: &str,
    backup_id: &str,
) -> Result<Option<i64>> {
    let select = "SELECT bytes FROM synced_backups WHERE service_id = $1 AND backup_id = $2";
    let query = sqlx::query(select).bind(service_id).bind(backup_id);
    let Some(bytes) = fetch_value::<i64>(conn, query).await? else {
        return Ok(None);
    };
    let delete = "DELETE FROM synced_backups WHERE service_id = $1 AND backup_id = $2";
    execute(conn, sqlx::query(delete).bind(service_id).bind(backup_id)).await?;
    Ok(Some(bytes))
}
