//! The outbox relay: publishes committed events in order, each with its
//! `Nats-Msg-Id`, then marks them sent. A crash after publishing and before
//! marking republishes the same id, which JetStream drops as a duplicate.
//! Catalog replicas on one PostgreSQL database take turns: a batch is
//! published under a transaction-scoped advisory lock, so each row goes out
//! from one replica at a time, in order; message ids stay the last line of
//! defence.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use xregion_bus::propagation::set_parent_from_traceparent;
use xregion_bus::{EventSubject, Publisher};

use crate::clock::SharedClock;
use crate::error::Result;
use crate::store::outbox::{self, PendingEvent};
use crate::store::query::fetch_value;
use crate::store::{Backend, Db};

/// Key of the advisory lock a relay holds while it publishes one batch
/// ("xrelay" in ASCII); one per database, like every advisory lock.
pub const RELAY_LOCK: i64 = 0x7872_656c_6179;

/// Rows read and published per transaction.
const BATCH: i64 = 100;

pub struct OutboxRelay {
    pub db: Db,
    pub publisher: Publisher,
    pub wake: Arc<Notify>,
    pub interval: Duration,
    pub clock: SharedClock,
}

/// Forgets events published more than `keep` ago; their message ids guard
/// against a second enqueue only while a redelivery could bring one, and
/// the events stream keeps them for `bus.events_max_age_days` anyway.
pub async fn prune_published(db: &Db, clock: &SharedClock, keep: Duration) -> Result<u64> {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let before = clock.now_ms().saturating_sub(keep_ms);
    let mut total = 0;
    // In batches, each its own statement: a first prune of a long history
    // does not hold SQLite's writer lock for all of it.
    loop {
        let mut conn = db.pool.acquire().await?;
        let removed = outbox::prune_sent(&mut conn, before, PRUNE_BATCH).await?;
        total += removed;
        if removed < PRUNE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Published events removed per statement.
const PRUNE_BATCH: i64 = 10_000;

impl OutboxRelay {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.drain().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(published = n, "outbox drained"),
                Err(error) => tracing::warn!(%error, "outbox relay failed, will retry"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
        // One last pass so events committed just before the stop go out now.
        if let Err(error) = self.drain().await {
            tracing::warn!(%error, "final outbox drain failed; pending events go out at next start");
        }
    }

    /// Publishes every pending event; returns how many.
    ///
    /// On PostgreSQL several catalog replicas run a relay each; one batch is
    /// published by one replica at a time (see [`Self::drain_batch_locked`]).
    /// SQLite is one catalog process: its relay needs no lock, and it takes
    /// the single connection only for each statement, so requests are not
    /// held up while it publishes.
    pub async fn drain(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let batch = match self.db.backend {
                Backend::Postgres => self.drain_batch_locked().await?,
                Backend::Sqlite => self.drain_batch().await?,
            };
            match batch {
                Batch::Busy | Batch::Empty => return Ok(total),
                Batch::Done { published } => total += published,
            }
        }
    }

    /// One batch under `pg_try_advisory_xact_lock(RELAY_LOCK)`, in one
    /// transaction: read the oldest pending rows, publish each in order with
    /// its `Nats-Msg-Id`, mark them sent, commit (which releases the lock).
    /// `Busy` when another replica holds the lock: it is draining, and what
    /// it leaves is found at the next wake or interval. A crash or error
    /// midway rolls the marks back, so the next holder publishes the same
    /// rows again under the same ids, which JetStream drops as duplicates.
    async fn drain_batch_locked(&self) -> Result<Batch> {
        // Every commit wakes the relay and most write no event (a copy
        // recorded): one plain read answers those, not a transaction with
        // the lock. A row committed after it wakes the relay again.
        {
            let mut conn = self.db.pool.acquire().await?;
            if !outbox::any_pending(&mut conn).await? {
                return Ok(Batch::Empty);
            }
        }
        let mut tx = self.db.pool.begin().await?;
        let locked: Option<bool> = fetch_value(
            &mut tx,
            sqlx::query("SELECT pg_try_advisory_xact_lock($1) AS locked").bind(RELAY_LOCK),
        )
        .await?;
        if locked != Some(true) {
            return Ok(Batch::Busy);
        }
        let batch = outbox::pending(&mut tx, BATCH).await?;
        let mut published = 0;
        for event in batch.iter() {
            published += usize::from(self.publish_one(event).await?);
            outbox::mark_sent(&mut tx, event.seq, self.clock.now_ms()).await?;
        }
        tx.commit().await?;
        Ok(Batch::of(&batch, published))
    }

    /// One batch, each statement on a connection of its own (SQLite).
    async fn drain_batch(&self) -> Result<Batch> {
        let mut conn = self.db.pool.acquire().await?;
        let batch = outbox::pending(&mut conn, BATCH).await?;
        drop(conn);
        let mut published = 0;
        for event in batch.iter() {
            published += usize::from(self.publish_one(event).await?);
            let mut conn = self.db.pool.acquire().await?;
            outbox::mark_sent(&mut conn, event.seq, self.clock.now_ms()).await?;
        }
        Ok(Batch::of(&batch, published))
    }

    /// Publishes one row under its subject and id; false when the row was
    /// parked instead (an event kind this version does not know).
    async fn publish_one(&self, event: &PendingEvent) -> Result<bool> {
        let Some(kind) = EventSubject::from_tokens(&event.event) else {
            // Written by another version (rollback, skew): it can never be
            // published by this one. Parked as sent so the relay moves on
            // instead of re-reading it forever; the row stays in the table
            // for inspection.
            tracing::error!(event = %event.event, seq = event.seq, msg_id = %event.msg_id, "unknown outbox event kind, parked unpublished");
            metrics::counter!(crate::metrics::OUTBOX_PARKED).increment(1);
            return Ok(false);
        };
        let subject = self.publisher.namespace().event_subject(kind);
        // Published in the trace of whatever wrote the row, not the relay's.
        let span =
            tracing::info_span!("outbox publish", event = %event.event, msg_id = %event.msg_id);
        set_parent_from_traceparent(&span, event.traceparent.as_deref());
        self.publisher
            .publish(subject, &event.msg_id, &RawPayload(event.payload.clone()))
            .instrument(span)
            .await?;
        metrics::counter!(crate::metrics::OUTBOX_PUBLISHED).increment(1);
        Ok(true)
    }
}

/// What one pass over the pending rows did.
enum Batch {
    /// Another replica holds the relay lock.
    Busy,
    /// Nothing was pending.
    Empty,
    /// Rows were handled (`published` of them went out, the rest parked).
    Done { published: usize },
}

impl Batch {
    fn of(rows: &[PendingEvent], published: usize) -> Self {
        if rows.is_empty() {
            Self::Empty
        } else {
            Self::Done { published }
        }
    }
}

/// Already-encoded bytes, published as they are.
struct RawPayload(Vec<u8>);

impl prost::Message for RawPayload {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        _: u32,
        _: prost::encoding::WireType,
        _: &mut impl bytes::Buf,
        _: prost::encoding::DecodeContext,
    ) -> std::result::Result<(), prost::DecodeError> {
        Err(prost::DecodeError::new("raw payloads are never decoded"))
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}

impl std::fmt::Debug for RawPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawPayload({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use xregion_bus::{Event, Namespace, Publishable};
    use xregion_proto::xregion::v1 as pb;

    use super::*;
    use crate::testing::TestCatalog;

    /// Published events older than the keep are removed; an event not yet
    /// published never is, however old.
    #[tokio::test]
    async fn only_events_published_before_the_keep_are_pruned() {
        let (t, _, service) = TestCatalog::with_one_service().await.unwrap();
        let ns = Namespace::new("t", "rds").unwrap();
        let relay = OutboxRelay {
            db: t.catalog.db.clone(),
            publisher: Publisher::recording(ns).0,
            wake: Arc::default(),
            interval: Duration::from_secs(1),
            clock: t.catalog.clock.clone(),
        };
        let published = relay.drain().await.unwrap() as i64;
        assert!(published > 0);
        t.delete(&service).await.unwrap(); // enqueued, not published
        let rows = |sent: bool| {
            let db = t.catalog.db.clone();
            async move {
                let sql = if sent {
                    "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL"
                } else {
                    "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"
                };
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap()
            }
        };
        let pending = rows(false).await;
        assert!(pending > 0);
        let keep = Duration::from_secs(30 * 86_400);
        let now: SharedClock = xregion_common::clock::FixedClock::at(t.catalog.now());
        assert_eq!(prune_published(&t.catalog.db, &now, keep).await.unwrap(), 0);
        let later: SharedClock =
            xregion_common::clock::FixedClock::at(t.catalog.now() + 31 * 86_400_000);
        let pruned = prune_published(&t.catalog.db, &later, keep).await.unwrap();
        assert_eq!(pruned as i64, published);
        assert_eq!(rows(true).await, 0);
        assert_eq!(rows(false).await, pending, "unpublished events stay");
    }

    /// The relay publishes what the catalog's writes enqueued, each under
    /// the subject and id its type gives it, once.
    #[tokio::test]
    async fn relays_enqueued_events_once_under_their_subject_and_id() {
        let (t, _, service) = TestCatalog::with_one_service().await.unwrap();
        t.delete(&service).await.unwrap();
        let ns = Namespace::new("t", "rds").unwrap();
        let (publisher, recorded) = Publisher::recording(ns.clone());
        let relay = OutboxRelay {
            db: t.catalog.db.clone(),
            publisher,
            wake: Arc::default(),
            interval: Duration::from_secs(1),
            clock: t.catalog.clock.clone(),
        };
        let published = relay.drain().await.unwrap();
        assert_eq!(relay.drain().await.unwrap(), 0, "each event goes out once");
        let sent = recorded.sent();
        assert_eq!(sent.len(), published);

        let created: Vec<pb::ServiceCreated> = recorded.events().unwrap();
        assert_eq!(created.len(), 1);
        assert_eq!(
            created[0].msg_id(),
            format!("created:{}", service.service_id)
        );
        let deleted: Vec<pb::ServiceDeleted> = recorded.events().unwrap();
        assert_eq!(deleted.len(), 1);
        let changed: Vec<pb::ServiceStateChanged> = recorded.events().unwrap();
        assert!(!changed.is_empty());
        // What went out is what the event's own type says, nothing else.
        let expected: BTreeSet<(String, String)> = created
            .iter()
            .map(|e| (ns.event_subject(pb::ServiceCreated::SUBJECT), e.msg_id()))
            .chain(
                deleted
                    .iter()
                    .map(|e| (e.subject(&ns).unwrap(), e.msg_id())),
            )
            .chain(
                changed
                    .iter()
                    .map(|e| (e.subject(&ns).unwrap(), e.msg_id())),
            )
            .collect();
        let actual: BTreeSet<(String, String)> = sent
            .iter()
            .map(|s| (s.subject.clone(), s.msg_id.clone().unwrap_or_default()))
            .collect();
        assert_eq!(actual, expected);
    }
}
