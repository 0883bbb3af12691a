//! The backup inventory: every upstream BackupCreated, enrolled or not.

use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use xregion_proto::rds::v1::BackupDescriptor;

use super::query::{execute, fetch_all, FromRow};
use crate::error::Result;

/// The `descriptor` column holds the upstream descriptor as it arrived.
impl FromRow for BackupDescriptor {
    fn from_row(row: &AnyRow) -> Result<Self> {
        let bytes: Vec<u8> = row.try_get("descriptor")?;
        Ok(Self::decode(bytes.as_slice())?)
    }
}

/// Idempotent; returns whether the backup was new.
pub async fn insert(
    conn: &mut AnyConnection,
    d: &BackupDescriptor,
    kind: &str,
    data_start: i64,
    data_end: i64,
    now: i64,
) -> Result<bool> {
    let bytes = xregion_proto::convert::backup::total_bytes(d).unwrap_or(u64::MAX);
    let query = sqlx::query(
        "INSERT INTO backups (backup_id, instance_id, tenant_id, kind, data_start, data_end, bytes, descriptor, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (backup_id) DO NOTHING",
    )
    .bind(&d.backup_id)
    .bind(&d.instance_id)
    .bind(&d.tenant_id)
    .bind(kind)
    .bind(data_start)
    .bind(data_end)
    .bind(i64::try_from(bytes).unwrap_or(i64::MAX))
    .bind(d.encode_to_vec())
    .bind(now);
    Ok(execute(conn, query).await? > 0)
}

/// Every backup of the instance, oldest data first.
pub async fn for_instance(
    conn: &mut AnyConnection,
    instance_id: &str,
) -> Result<Vec<BackupDescriptor>> {
    let sql = "SELECT descriptor FROM backups WHERE instance_id = $1 ORDER BY data_end, backup_id";
    fetch_all(conn, sqlx::query(sql).bind(instance_id)).await
}

/// Whether the inventory holds `backup_id` as a backup of `instance_id`.
pub async fn exists(conn: &mut AnyConnection, instance_id: &str, backup_id: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM backups WHERE instance_id = $1 AND backup_id = $2")
        .bind(instance_id)
        .bind(backup_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}
