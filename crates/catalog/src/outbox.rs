//! The outbox relay: publishes committed events in order, each with its
//! `Nats-Msg-Id`, then marks them sent. A crash after publishing and before
//! marking republishes the same id, which JetStream drops as a duplicate.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use xregion_bus::{EventSubject, Publisher};

use crate::clock::SharedClock;
use crate::error::Result;
use crate::store::{outbox, Db};

pub struct OutboxRelay {
    pub db: Db,
    pub publisher: Publisher,
    pub wake: Arc<Notify>,
    pub interval: Duration,
    pub clock: SharedClock,
}

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
    pub async fn drain(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let mut conn = self.db.pool.acquire().await?;
            let batch = outbox::pending(&mut conn, 100).await?;
            drop(conn);
            if batch.is_empty() {
                return Ok(total);
            }
            for event in batch {
                let Some(kind) = EventSubject::from_tokens(&event.event) else {
                    // Written by another version (rollback, skew): it can
                    // never be published by this one. Parked as sent so the
                    // relay moves on instead of re-reading it forever; the
                    // row stays in the table for inspection.
                    tracing::error!(event = %event.event, seq = event.seq, msg_id = %event.msg_id, "unknown outbox event kind, parked unpublished");
                    let mut conn = self.db.pool.acquire().await?;
                    outbox::mark_sent(&mut conn, event.seq, self.clock.now_ms()).await?;
                    metrics::counter!("xregion_outbox_parked_total").increment(1);
                    continue;
                };
                let subject = self.publisher.namespace().event_subject(kind);
                self.publisher
                    .publish(subject, &event.msg_id, &RawPayload(event.payload))
                    .await?;
                let mut conn = self.db.pool.acquire().await?;
                outbox::mark_sent(&mut conn, event.seq, self.clock.now_ms()).await?;
                total += 1;
                metrics::counter!("xregion_outbox_published_total").increment(1);
            }
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
