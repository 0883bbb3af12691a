//! Synced copies: one row per (service, backup) whose manifest is written.

use sqlx::{AnyConnection, Row};
use xregion_domain::manifest::Manifest;

use crate::error::{CatalogError, Result};

/// Idempotent; returns whether the copy was new.
pub async fn insert(conn: &mut AnyConnection, m: &Manifest, manifest_key: &str) -> Result<bool> {
    let done = sqlx::query(
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
    .bind(m.to_json())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

#[derive(Debug, Clone)]
pub struct SyncedRow {
    pub manifest: Manifest,
    pub manifest_key: String,
}

/// The service's synced copies, oldest data first.
pub async fn for_service(conn: &mut AnyConnection, service_id: &str) -> Result<Vec<SyncedRow>> {
    let rows = sqlx::query("SELECT manifest_key, descriptor FROM synced_backups WHERE service_id = $1 ORDER BY data_end, backup_id")
        .bind(service_id)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let json: Vec<u8> = r.try_get("descriptor")?;
            Ok(SyncedRow {
                manifest: Manifest::from_json(&json).map_err(CatalogError::Corrupt)?,
                manifest_key: r.try_get("manifest_key")?,
            })
        })
        .collect()
}

/// Removes an expired copy; returns its bytes when it was there.
pub async fn delete(
    conn: &mut AnyConnection,
    service_id: &str,
    backup_id: &str,
) -> Result<Option<i64>> {
    let row =
        sqlx::query("SELECT bytes FROM synced_backups WHERE service_id = $1 AND backup_id = $2")
            .bind(service_id)
            .bind(backup_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let bytes: i64 = row.try_get("bytes")?;
    sqlx::query("DELETE FROM synced_backups WHERE service_id = $1 AND backup_id = $2")
        .bind(service_id)
        .bind(backup_id)
        .execute(conn)
        .await?;
    Ok(Some(bytes))
}
