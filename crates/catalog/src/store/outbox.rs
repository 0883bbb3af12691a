//! The transactional outbox: an event row is written in the same transaction
//! as the change it announces; the relay publishes it afterwards.

use sqlx::AnyConnection;
use xregion_bus::Event;

use super::query::{execute, fetch_all, fetch_value, from_columns};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub seq: i64,
    pub event: String,
    pub msg_id: String,
    pub payload: Vec<u8>,
    pub traceparent: Option<String>,
}

from_columns!(PendingEvent {
    seq,
    event,
    msg_id,
    payload,
    traceparent
});

/// Enqueues an event under its subject and message id; a second enqueue with
/// the same id is a no-op, so a redelivered handler never produces a second
/// event. The current span's trace goes with it, for the relay to continue.
pub async fn enqueue<E: Event>(conn: &mut AnyConnection, event: &E, now: i64) -> Result<()> {
    let query = sqlx::query(
        "INSERT INTO outbox (event, msg_id, payload, created_at, traceparent) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (msg_id) DO NOTHING",
    )
    .bind(E::SUBJECT.tokens())
    .bind(event.msg_id())
    .bind(event.encode_to_vec())
    .bind(now)
    .bind(xregion_bus::propagation::current_traceparent());
    execute(conn, query).await?;
    Ok(())
}

/// Whether any event waits to be published.
pub async fn any_pending(conn: &mut AnyConnection) -> Result<bool> {
    let query = sqlx::query("SELECT seq FROM outbox WHERE sent_at IS NULL LIMIT 1");
    Ok(fetch_value::<i64>(conn, query).await?.is_some())
}

pub async fn pending(conn: &mut AnyConnection, limit: i64) -> Result<Vec<PendingEvent>> {
    let sql = "SELECT seq, event, msg_id, payload, traceparent FROM outbox WHERE sent_at IS NULL \
         ORDER BY seq LIMIT $1";
    fetch_all(conn, sqlx::query(sql).bind(limit)).await
}

/// Removes up to `batch` events published before `sent_before` (unix ms);
/// an event not yet published is never removed. Returns how many went.
pub async fn prune_sent(conn: &mut AnyConnection, sent_before: i64, batch: i64) -> Result<u64> {
    let query = sqlx::query(
        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox \
         WHERE sent_at IS NOT NULL AND sent_at < $1 ORDER BY seq LIMIT $2)",
    )
    .bind(sent_before)
    .bind(batch);
    execute(conn, query).await
}

pub async fn mark_sent(conn: &mut AnyConnection, seq: i64, now: i64) -> Result<()> {
    let query = sqlx::query("UPDATE outbox SET sent_at = $1 WHERE seq = $2")
        .bind(now)
        .bind(seq);
    execute(conn, query).await?;
    Ok(())
}
