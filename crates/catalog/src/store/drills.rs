//! A service's restore drills: the columns of `services` migration 5 added.

use sqlx::AnyConnection;

use super::query::execute;
use super::services::DrillColumns;
use crate::error::Result;

/// Writes what the last drill showed (the caller holds the row's lock).
pub async fn record(
    conn: &mut AnyConnection,
    service_id: &str,
    d: &DrillColumns,
    now: i64,
) -> Result<()> {
    let query = sqlx::query(
        "UPDATE services SET verified_point = $1, last_drill_id = $2, last_drill_at = $3, \
         last_drill_rto_ms = $4, last_drill_error = $5, drill_degraded = $6, updated_at = $7 \
         WHERE service_id = $8",
    )
    .bind(d.verified_point)
    .bind(d.last_drill_id.as_deref())
    .bind(d.last_drill_at)
    .bind(d.last_drill_rto_ms)
    .bind(d.last_drill_error.as_str())
    .bind(i64::from(d.drill_degraded))
    .bind(now)
    .bind(service_id);
    execute(conn, query).await?;
    Ok(())
}

/// Whether a failed drill is (still) why the service is DEGRADED.
pub async fn set_degraded(
    conn: &mut AnyConnection,
    service_id: &str,
    by_drill: bool,
) -> Result<()> {
    let query = sqlx::query("UPDATE services SET drill_degraded = $1 WHERE service_id = $2")
        .bind(i64::from(by_drill))
        .bind(service_id);
    execute(conn, query).await?;
    Ok(())
}
