//! Versioned schema, written once for PostgreSQL and adapted for SQLite.

use sqlx::{AnyConnection, Connection, Row};

use super::db::{Backend, Db};
use crate::error::Result;

/// Append only: a released migration never changes.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
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
    ),
    // The restore window with what extending it needs (JSON of
    // xregion_domain::chain::WindowState), so a copy costs the same however
    // many the service has; NULL until the next copy recomputes it.
    (
        2,
        "window_state",
        "ALTER TABLE services ADD COLUMN window_state TEXT",
    ),
    // A service's copies in the order every reader wants them (data end,
    // backup id): read straight off the index instead of sorted, which for
    // a long history spilled to disk (docs/benchmarks.md, fleet).
    (
        3,
        "synced_by_service_data_end",
        "CREATE INDEX synced_by_service_data_end ON synced_backups (service_id, data_end, backup_id)",
    ),
    // The W3C traceparent of the request or message that wrote the event,
    // so the relay publishes it in the same trace (NULL: untraced, or
    // written before this migration).
    (
        4,
        "outbox_traceparent",
        "ALTER TABLE outbox ADD COLUMN traceparent TEXT",
    ),
    // Restore drills (xregion-drill): the point the last successful drill
    // restored, the last drill's id (a repeat of it changes nothing), start
    // time, restore time and error, and whether that drill is what made the
    // service DEGRADED (so a later success ends only that cause).
    (
        5,
        "drills",
        "ALTER TABLE services ADD COLUMN verified_point BIGINT;
ALTER TABLE services ADD COLUMN last_drill_id TEXT;
ALTER TABLE services ADD COLUMN last_drill_at BIGINT;
ALTER TABLE services ADD COLUMN last_drill_rto_ms BIGINT;
ALTER TABLE services ADD COLUMN last_drill_error TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN drill_degraded BIGINT NOT NULL DEFAULT 0",
    ),
];

fn adapt(sql: &str, backend: Backend) -> String {
    match backend {
        Backend::Postgres => sql.to_string(),
        Backend::Sqlite => sql
            .replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")
            .replace("BYTEA", "BLOB"),
    }
}

/// Key of the PostgreSQL advisory lock every catalog replica takes around
/// its migration run ("xregion" in ASCII); advisory locks are per database,
/// so deployments on other databases never wait for each other.
pub const MIGRATION_LOCK: i64 = 0x0078_7265_6769_6f6e;

/// Applies the migrations this version knows and the database lacks.
///
/// PostgreSQL: replicas starting at once would otherwise race to create the
/// same tables (one fails on a duplicate name), so the whole run holds
/// `pg_advisory_lock(MIGRATION_LOCK)` on one connection of its own; the
/// second replica waits, then finds every version applied. The connection
/// is taken out of the pool and closed afterwards, so the lock cannot
/// outlive the run even when the unlock itself fails or the run is dropped
/// midway. SQLite needs no lock: its catalog is one process on a local
/// file with one connection (replicas need PostgreSQL), so nobody else
/// migrates it.
pub async fn migrate(db: &Db) -> Result<()> {
    let mut conn = db.pool.acquire().await?.detach();
    if db.backend == Backend::Sqlite {
        return apply_all(&mut conn, db.backend).await;
    }
    // pg_advisory_lock returns void, which the Any driver cannot decode:
    // select a constant from the call instead.
    sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_lock($1)) AS l")
        .bind(MIGRATION_LOCK)
        .execute(&mut conn)
        .await?;
    tracing::debug!("catalog migration lock taken");
    let applied = apply_all(&mut conn, db.backend).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1) AS unlocked")
        .bind(MIGRATION_LOCK)
        .execute(&mut conn)
        .await;
    // Ending the session releases the lock whatever the unlock said.
    let _ = conn.close().await;
    applied?;
    unlocked?;
    Ok(())
}

async fn apply_all(conn: &mut AnyConnection, backend: Backend) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS xregion_schema (version BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    for (version, name, sql) in MIGRATIONS {
        let mut tx = conn.begin().await?;
        let applied = sqlx::query("SELECT COUNT(*) AS n FROM xregion_schema WHERE version = $1")
            .bind(*version)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("n")?;
        if applied > 0 {
            continue;
        }
        for statement in adapt(sql, backend).split(';') {
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
