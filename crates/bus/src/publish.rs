//! Typed publishing with `Nats-Msg-Id` dedupe and trace context: to NATS,
//! or (for unit tests) to memory.

use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::Context;
use async_nats::HeaderMap;
use prost::Message;

use crate::error::{BusError, Result};
use crate::events::Publishable;
use crate::json_mirror;
use crate::names::Namespace;
use crate::propagation::inject_current;
use crate::recorded::Recorded;

pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

#[derive(Clone)]
pub struct Publisher {
    backend: Backend,
    ns: Namespace,
}

#[derive(Clone)]
enum Backend {
    Nats(Box<Nats>),
    Recording(Recorded),
}

#[derive(Clone)]
struct Nats {
    js: Context,
    client: async_nats::Client,
}

/// What JetStream said about a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    Stored {
        sequence: u64,
    },
    /// The same `Nats-Msg-Id` was already stored: the republish was a no-op.
    Duplicate,
}

impl Publisher {
    pub fn new(client: async_nats::Client, ns: Namespace) -> Self {
        Self {
            backend: Backend::Nats(Box::new(Nats {
                js: async_nats::jetstream::new(client.clone()),
                client,
            })),
            ns,
        }
    }

    /// A publisher without NATS, for unit tests: everything published is kept
    /// in the returned [`Recorded`].
    pub fn recording(ns: Namespace) -> (Self, Recorded) {
        let recorded = Recorded::new(ns.clone());
        let publisher = Self {
            backend: Backend::Recording(recorded.clone()),
            ns,
        };
        (publisher, recorded)
    }

    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    /// The JetStream context behind this publisher; a recording one has none.
    pub fn jetstream(&self) -> Result<&Context> {
        match &self.backend {
            Backend::Nats(nats) => Ok(&nats.js),
            Backend::Recording(_) => Err(BusError::JetStream {
                op: "context",
                reason: "a recording publisher has no NATS connection".to_string(),
            }),
        }
    }

    /// Publishes a message to its own subject under its own message id.
    pub async fn emit<M: Publishable>(&self, msg: &M) -> Result<Published> {
        let subject = msg.subject(&self.ns)?;
        self.publish(subject, &msg.msg_id(), msg).await
    }

    /// Publishes to a stream and waits for the stream's acknowledgement.
    /// Prefer [`Publisher::emit`]; this is for bytes whose subject and id
    /// were fixed earlier (the catalog's outbox).
    pub async fn publish<M: Message>(
        &self,
        subject: String,
        msg_id: &str,
        msg: &M,
    ) -> Result<Published> {
        let nats = match &self.backend {
            Backend::Nats(nats) => nats,
            Backend::Recording(r) => return r.publish(subject, msg_id, msg.encode_to_vec()),
        };
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID_HEADER, msg_id);
        inject_current(&mut headers);
        let payload = bytes::Bytes::from(msg.encode_to_vec());
        let ack = publish_acked(&nats.js, subject.clone(), headers, payload.clone()).await?;
        metrics::counter!(crate::metrics::PUBLISHED, "stream" => ack.stream.clone()).increment(1);
        if !ack.duplicate {
            let sequence = ack.sequence;
            let stored = Some(json_mirror::Stored { msg_id, sequence });
            json_mirror::publish(&nats.client, &self.ns, &subject, stored, &payload).await;
        }
        Ok(if ack.duplicate {
            Published::Duplicate
        } else {
            Published::Stored {
                sequence: ack.sequence,
            }
        })
    }

    /// Core NATS, fire and forget: for progress, which nobody must replay.
    pub async fn publish_transient<M: Message>(&self, subject: String, msg: &M) -> Result<()> {
        let client = match &self.backend {
            Backend::Nats(nats) => &nats.client,
            Backend::Recording(r) => return r.publish_transient(subject, msg.encode_to_vec()),
        };
        let mut headers = HeaderMap::new();
        inject_current(&mut headers);
        let payload = bytes::Bytes::from(msg.encode_to_vec());
        client
            .publish_with_headers(subject.clone(), headers, payload.clone())
            .await
            .map_err(|e| BusError::Publish {
                subject: subject.clone(),
                reason: e.to_string(),
            })?;
        json_mirror::publish(client, &self.ns, &subject, None, &payload).await;
        Ok(())
    }
}

/// Publishes to a stream and waits for its acknowledgement; every JetStream
/// publish of the bus (events, jobs, dead letters, replays) goes through here.
pub(crate) async fn publish_acked(
    js: &Context,
    subject: String,
    headers: HeaderMap,
    payload: bytes::Bytes,
) -> Result<PublishAck> {
    let err = |reason: String| BusError::Publish {
        subject: subject.clone(),
        reason,
    };
    js.publish_with_headers(subject.clone(), headers, payload)
        .await
        .map_err(|e| err(e.to_string()))?
        .await
        .map_err(|e| err(e.to_string()))
}
