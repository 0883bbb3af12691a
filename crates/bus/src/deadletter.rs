//! The operator's view of the dead-letter stream: list what is there, and
//! replay an entry (its original payload and headers, to its original
//! subject) once its cause is fixed. `xregion admin dead-letters` is the
//! command line over this module.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::Context;
use async_nats::HeaderMap;
use futures::StreamExt;

use crate::error::{BusError, Result};
use crate::names::Namespace;
use crate::publish::MSG_ID_HEADER;

/// Headers [`crate::consume`] adds when it dead-letters a message.
pub const ORIGINAL_SUBJECT_HEADER: &str = "Xregion-Original-Subject";
pub const REASON_HEADER: &str = "Xregion-Reason";
pub const ATTEMPTS_HEADER: &str = "Xregion-Attempts";

/// One entry of the dead-letter stream.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Sequence in the dead-letter stream: what `replay` takes.
    pub seq: u64,
    /// The durable consumer that gave up on it.
    pub durable: String,
    pub original_subject: String,
    pub reason: String,
    pub attempts: u32,
    /// When it was dead-lettered, in Unix milliseconds.
    pub dead_lettered_at_ms: i64,
    pub headers: HeaderMap,
    pub payload: bytes::Bytes,
}

impl DeadLetter {
    fn from_parts(
        ns: &Namespace,
        seq: u64,
        subject: &str,
        headers: HeaderMap,
        payload: bytes::Bytes,
        time: i64,
    ) -> Self {
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.as_str().to_string())
                .unwrap_or_default()
        };
        let prefix = ns.dead_letter_subject("");
        Self {
            seq,
            durable: subject.strip_prefix(&prefix).unwrap_or(subject).to_string(),
            original_subject: header(ORIGINAL_SUBJECT_HEADER),
            reason: header(REASON_HEADER),
            attempts: header(ATTEMPTS_HEADER).parse().unwrap_or(0),
            dead_lettered_at_ms: time,
            headers,
            payload,
        }
    }

    /// The headers to republish with: the original ones, without what
    /// dead-lettering added and with a fresh message id (the original one is
    /// gone, and would be dropped as a duplicate within the window anyway).
    /// The id is derived from this entry, so a replay repeated after a failed
    /// removal is dropped as a duplicate instead of processed twice.
    fn replay_headers(&self, ns: &Namespace) -> HeaderMap {
        let mut out = HeaderMap::new();
        for (name, values) in self.headers.iter() {
            let name_str: &str = name.as_ref();
            let added = [
                ORIGINAL_SUBJECT_HEADER,
                REASON_HEADER,
                ATTEMPTS_HEADER,
                MSG_ID_HEADER,
            ]
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name_str));
            if added {
                continue;
            }
            for value in values {
                out.append(name.clone(), value.clone());
            }
        }
        let id = crate::events::replay_msg_id(&ns.dead_letter_stream(), self.seq);
        out.insert(MSG_ID_HEADER, id.as_str());
        out
    }
}

/// Every entry of the dead-letter stream, oldest first.
pub async fn list(js: &Context, ns: &Namespace) -> Result<Vec<DeadLetter>> {
    let stream = js
        .get_stream(ns.dead_letter_stream())
        .await
        .map_err(|e| BusError::js("get stream", format!("{}: {e}", ns.dead_letter_stream())))?;
    let mut consumer = stream
        .create_consumer(pull::Config {
            filter_subject: ns.dead_letters_filter(),
            ack_policy: AckPolicy::None,
            deliver_policy: DeliverPolicy::All,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(|e| BusError::js("create consumer", e))?;
    let pending = consumer
        .info()
        .await
        .map_err(|e| BusError::js("consumer info", e))?
        .num_pending;
    let mut out = Vec::new();
    while (out.len() as u64) < pending {
        let mut batch = consumer
            .fetch()
            .max_messages(256)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .map_err(|e| BusError::js("fetch", e))?;
        let before = out.len();
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| BusError::js("fetch", e))?;
            let (seq, time) = message
                .info()
                .map(|i| {
                    (
                        i.stream_sequence,
                        (i.published.unix_timestamp_nanos() / 1_000_000) as i64,
                    )
                })
                .map_err(|e| BusError::js("message info", e))?;
            out.push(DeadLetter::from_parts(
                ns,
                seq,
                message.subject.as_str(),
                message.headers.clone().unwrap_or_default(),
                message.payload.clone(),
                time,
            ));
        }
        if out.len() == before {
            // Entries removed while listing: what is left has been read.
            break;
        }
    }
    Ok(out)
}

/// What happened to one replayed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub seq: u64,
    pub subject: String,
}

/// Republishes the entry `seq` to its original subject and removes it from
/// the dead-letter stream. Every consumer of that subject sees it again;
/// handlers are idempotent, so the ones that had processed it ack it again.
pub async fn replay(js: &Context, ns: &Namespace, seq: u64) -> Result<Replayed> {
    let stream = js
        .get_stream(ns.dead_letter_stream())
        .await
        .map_err(|e| BusError::js("get stream", format!("{}: {e}", ns.dead_letter_stream())))?;
    let raw = stream
        .get_raw_message(seq)
        .await
        .map_err(|e| BusError::js("get dead letter", format!("sequence {seq}: {e}")))?;
    let entry = DeadLetter::from_parts(
        ns,
        raw.sequence,
        raw.subject.as_str(),
        raw.headers,
        raw.payload,
        (raw.time.unix_timestamp_nanos() / 1_000_000) as i64,
    );
    let subject = entry.original_subject.clone();
    // Only a subject the bus carries: a forged entry cannot publish elsewhere.
    let known = [ns.prefix(), ns.upstream_prefix()]
        .iter()
        .any(|p| subject.strip_prefix(p).is_some_and(|r| r.starts_with('.')));
    if !known || subject.contains(['*', '>', ' ']) {
        return Err(BusError::InvalidName {
            name: subject,
            reason: "a dead letter's original subject must be an xregion or upstream subject",
        });
    }
    let headers = entry.replay_headers(ns);
    crate::publish::publish_acked(js, subject.clone(), headers, entry.payload).await?;
    stream
        .delete_message(seq)
        .await
        .map_err(|e| BusError::js("delete dead letter", format!("sequence {seq}: {e}")))?;
    tracing::info!(seq, %subject, "dead letter replayed");
    Ok(Replayed { seq, subject })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn replay_headers_drop_what_dead_lettering_added() {
        let ns = Namespace::new("xr", "rds").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID_HEADER, "dl:xr-catalog-upstream:7");
        headers.insert(ORIGINAL_SUBJECT_HEADER, "rds.r1.instance.created");
        headers.insert(REASON_HEADER, "database: down");
        headers.insert(ATTEMPTS_HEADER, "3");
        headers.insert("traceparent", "00-abc-def-01");
        let entry = DeadLetter::from_parts(
            &ns,
            9,
            &ns.dead_letter_subject("xr-catalog-upstream"),
            headers,
            bytes::Bytes::from_static(b"x"),
            0,
        );
        assert_eq!(entry.durable, "xr-catalog-upstream");
        assert_eq!(entry.original_subject, "rds.r1.instance.created");
        assert_eq!(entry.attempts, 3);
        let out = entry.replay_headers(&ns);
        assert_eq!(
            out.get("traceparent").map(|v| v.as_str()),
            Some("00-abc-def-01")
        );
        assert!(out.get(REASON_HEADER).is_none());
        assert!(out.get(ORIGINAL_SUBJECT_HEADER).is_none());
        assert!(out.get(ATTEMPTS_HEADER).is_none());
        assert_eq!(
            out.get(MSG_ID_HEADER).map(|v| v.as_str()),
            Some("replay:XR_DEADLETTER:9")
        );
    }
}
