//! Versioned schema, written once for PostgreSQL and adapted for SQLite.

use sqlx::Row;

use super::db::{Backend, Db};
use crate::error::Result;

/// Append only: a released migration never changes.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "initial",
    r#"
CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    engine TEXT NOT NULL,
    region TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX instances_by_tenant ON instances (tenant_id, region, engine);
CREATE TABLE services (
    seq BIGSERIAL PRIMARY KEY,
    service_id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    engine TEXT NOT NULL,
    source_region TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    target_region TEXT NOT NULL,
    retention_days BIGINT NOT NULL,
    state TEXT NOT NULL,
    request_id TEXT,
    live_instance TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    latest_data_time BIGINT,
    earliest_data_time BIGINT,
    synced_backups BIGINT NOT NULL DEFAULT 0,
    synced_bytes BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    delete_reason TEXT,
    lag_alerted BIGINT NOT NULL DEFAULT 0,
    failed_backup_id TEXT
);
CREATE UNIQUE INDEX services_one_live_per_instance ON services (live_instance);
CREATE UNIQUE INDEX services_by_request ON services (tenant_id, request_id);
CREATE INDEX services_by_tenant ON services (tenant_id, seq);
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    event TEXT NOT NULL,
    msg_id TEXT NOT NULL UNIQUE,
    payload BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_pending ON outbox (sent_at, seq);
CREATE TABLE backups (
    backup_id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    data_start BIGINT NOT NULL,
    data_end BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    descriptor BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX backups_by_instance ON backups (instance_id, data_end);
CREATE TABLE synced_backups (
    service_id TEXT NOT NULL,
    backup_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    data_start BIGINT NOT NULL,
    data_end BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    files BIGINT NOT NULL,
    manifest_key TEXT NOT NULL,
    synced_at BIGINT NOT NULL,
    descriptor BYTEA NOT NULL,
    PRIMARY KEY (service_id, backup_id)
);
CREATE TABLE usage_days (
    service_id TEXT NOT NULL,
    day TEXT NOT NULL,
    bytes_transferred BIGINT NOT NULL DEFAULT 0,
    objects_transferred BIGINT NOT NULL DEFAULT 0,
    bytes_stored BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (service_id, day)
)
"#,
)];

fn adapt(sql: &str, backend: Backend) -> String {
    match backend {
        Backend::Postgres => sql.to_string(),
        Backend::Sqlite => sql
            .replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")
            .replace("BYTEA", "BLOB"),
    }
}

pub async fn migrate(db: &Db) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS xregion_schema (version BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    )
    .execute(&db.pool)
    .await?;
    for (version, name, sql) in MIGRATIONS {
        let mut tx = db.pool.begin().await?;
        let applied = sqlx::query("SELECT COUNT(*) AS n FROM xregion_schema WHERE version = $1")
            .bind(*version)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("n")?;
        if applied > 0 {
            continue;
        }
        for statement in adapt(sql, db.backend).split(';') {
            if !statement.trim().is_empty() {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
        }
        sqlx::query("INSERT INTO xregion_schema (version, name) VALUES ($1, $2)")
            .bind(*version)
            .bind(*name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, name, "catalog migration applied");
    }
    Ok(())
}
