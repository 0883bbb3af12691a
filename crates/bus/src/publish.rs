//! Typed publishing with `Nats-Msg-Id` dedupe and trace context.

use async_nats::jetstream::Context;
use async_nats::HeaderMap;
use prost::Message;

use crate::error::{BusError, Result};
use crate::names::Namespace;
use crate::propagation::inject_current;

pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

#[derive(Clone)]
pub struct Publisher {
    js: Context,
    client: async_nats::Client,
    ns: Namespace,
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
            js: async_nats::jetstream::new(client.clone()),
            client,
            ns,
        }
    }

    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    pub fn jetstream(&self) -> &Context {
        &self.js
    }

    /// Publishes to a stream and waits for the stream's acknowledgement.
    pub async fn publish<M: Message>(
        &self,
        subject: String,
        msg_id: &str,
        msg: &M,
    ) -> Result<Published> {
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID_HEADER, msg_id);
        inject_current(&mut headers);
        let err = |reason: String| BusError::Publish {
            subject: subject.clone(),
            reason,
        };
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, msg.encode_to_vec().into())
            .await
            .map_err(|e| err(e.to_string()))?
            .await
            .map_err(|e| err(e.to_string()))?;
        metrics::counter!("xregion_bus_published_total", "stream" => ack.stream.clone())
            .increment(1);
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
        let mut headers = HeaderMap::new();
        inject_current(&mut headers);
        self.client
            .publish_with_headers(subject.clone(), headers, msg.encode_to_vec().into())
            .await
            .map_err(|e| BusError::Publish {
                subject,
                reason: e.to_string(),
            })
    }
}
