//! Typed consumption from durable pull consumers: explicit acks, bounded
//! redelivery with backoff, a dead-letter subject for what exhausts it, and
//! an orderly stop that lets in-flight handlers finish their acks.
//!
//! Two kinds of failure are told apart. A message that failed (a checksum
//! mismatch, a panicking handler) counts toward `max_deliver` and is then
//! dead-lettered. A dependency that is unavailable (database, NATS, an object
//! store) is not the message's fault: it is redelivered with capped backoff
//! for as long as the outage lasts and never dead-lettered.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::{AckKind, Context, Message};
use async_nats::HeaderMap;
use futures::{FutureExt, StreamExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::deadletter::{ATTEMPTS_HEADER, ORIGINAL_SUBJECT_HEADER, REASON_HEADER};
use crate::error::Result;
use crate::events::dead_letter_msg_id;
use crate::names::Namespace;
use crate::propagation::set_parent_from;
use crate::publish::publish_acked;
use crate::redeclare::{Declarer, Recovery};

/// What a handler decided about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ack,
    /// This message failed and may succeed later (e.g. a checksum mismatch
    /// of a file still being written): redeliver after the backoff; counts
    /// toward `max_deliver`, then the message is dead-lettered.
    Retry(String),
    /// A dependency (database, NATS, an object store) is unavailable; the
    /// message is not at fault. Redelivered with capped backoff until the
    /// dependency is back; never counts toward `max_deliver`.
    Unavailable(String),
    /// Retrying cannot help: dead-letter it now.
    Reject(String),
}

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub stream: String,
    /// Durable name, already namespaced (see [`Namespace::durable`]).
    pub durable: String,
    pub filter_subjects: Vec<String>,
    pub max_in_flight: usize,
    pub ack_wait: Duration,
    pub deliver_policy: DeliverPolicy,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_deliver: u32,
    pub backoff: Vec<Duration>,
}

impl RetryPolicy {
    pub fn from_config(cfg: &xregion_common::BusConfig) -> Self {
        Self {
            max_deliver: cfg.max_deliver.get(),
            backoff: cfg.backoff.clone(),
        }
    }

    fn delay(&self, attempt: u32) -> Duration {
        let idx = (attempt.saturating_sub(1) as usize).min(self.backoff.len().saturating_sub(1));
        self.backoff
            .get(idx)
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

/// Deliveries that ended in [`Outcome::Unavailable`], per stream sequence,
/// so that they do not count as attempts. The server's delivery count
/// includes them; this process subtracts what it knows. The tally is kept in
/// memory: after a restart, or on another replica, earlier uncounted
/// deliveries count again, which can only dead-letter a failing message
/// sooner, never an unavailable one.
#[derive(Default)]
struct Uncounted {
    by_seq: Mutex<HashMap<u64, u32>>,
}

impl Uncounted {
    /// Bounds memory when other replicas settle messages this one saw.
    const MAX_TRACKED: usize = 100_000;

    fn get(&self, seq: u64) -> u32 {
        self.by_seq
            .lock()
            .map(|m| m.get(&seq).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn add(&self, seq: u64) -> u32 {
        let Ok(mut m) = self.by_seq.lock() else {
            return 0;
        };
        if m.len() >= Self::MAX_TRACKED && !m.contains_key(&seq) {
            m.clear();
        }
        let n = m.entry(seq).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    fn forget(&self, seq: u64) {
        if let Ok(mut m) = self.by_seq.lock() {
            m.remove(&seq);
        }
    }
}

/// One delivered message, as a handler sees it.
pub struct Delivery {
    pub subject: String,
    pub payload: bytes::Bytes,
    pub headers: Option<HeaderMap>,
    /// 1 on first delivery; deliveries that found a dependency unavailable
    /// do not count.
    pub attempt: u32,
    /// Deliveries allowed before the message is dead-lettered.
    pub max_deliver: u32,
    /// The message's stream sequence (0 when unknown): the same for every
    /// delivery of one message, another for a message published again.
    pub sequence: u64,
    message: Message,
}

impl Delivery {
    pub fn decode<M: prost::Message + Default>(&self) -> std::result::Result<M, Outcome> {
        M::decode(self.payload.as_ref())
            .map_err(|e| Outcome::Reject(format!("undecodable payload on {}: {e}", self.subject)))
    }

    /// Decodes the message and takes the part the handler needs (an event's
    /// service or descriptor); a message without it is rejected, naming
    /// what was missing.
    pub fn decode_part<M, T>(
        &self,
        part: impl FnOnce(M) -> Option<T>,
        missing: &str,
    ) -> std::result::Result<T, Outcome>
    where
        M: prost::Message + Default,
    {
        part(self.decode::<M>()?)
            .ok_or_else(|| Outcome::Reject(format!("{missing} missing on {}", self.subject)))
    }

    /// Whether a failure now is final (the message will be dead-lettered).
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_deliver
    }

    /// Tells the server work is ongoing, so a long handler is not redelivered.
    pub async fn in_progress(&self) {
        if let Err(error) = self.message.ack_with(AckKind::Progress).await {
            tracing::warn!(%error, "progress ack failed");
        }
    }
}

#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, delivery: &Delivery) -> Outcome;
}

/// A [`Handler`] written with `?`: `let e: pb::X = delivery.decode()?;`
/// settles an undecodable message (or any early outcome) with the `Err` it
/// returns; either side is the message's outcome.
#[async_trait::async_trait]
pub trait TryHandler: Send + Sync + 'static {
    async fn try_handle(&self, delivery: &Delivery) -> std::result::Result<Outcome, Outcome>;
}

#[async_trait::async_trait]
impl<T: TryHandler> Handler for T {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        self.try_handle(delivery)
            .await
            .unwrap_or_else(|early| early)
    }
}

/// Declares the durable consumer and runs `handler` on its messages until
/// `shutdown`; then stops pulling and waits for in-flight handlers. A lost
/// consumer is created again; a missing stream is waited for (see
/// [`run_consumer_with`] to declare it again and to report the state).
pub async fn run_consumer<H: Handler>(
    js: Context,
    ns: Namespace,
    spec: ConsumerSpec,
    retry: RetryPolicy,
    handler: Arc<H>,
    shutdown: CancellationToken,
) -> Result<()> {
    run_consumer_with(js, ns, spec, retry, handler, shutdown, Recovery::quiet()).await
}

/// [`run_consumer`], recovering as `recovery` allows. Whenever pulling
/// fails (consumer deleted, stream deleted, NATS gone, missed heartbeats)
/// the declaration is made again, with capped backoff, until it works or
/// `shutdown`; it never fails the service.
pub async fn run_consumer_with<H: Handler>(
    js: Context,
    ns: Namespace,
    spec: ConsumerSpec,
    retry: RetryPolicy,
    handler: Arc<H>,
    shutdown: CancellationToken,
    recovery: Recovery,
) -> Result<()> {
    let mut declarer = Declarer::new(js.clone(), ns.clone(), &spec, recovery);
    // At 0 from the start, so that the first dead letter is an increase.
    metrics::counter!(crate::metrics::DEAD_LETTERS, "stream" => spec.stream.clone(), "durable" => spec.durable.clone())
        .increment(0);
    let uncounted = Arc::new(Uncounted::default());
    let slots = Arc::new(Semaphore::new(spec.max_in_flight.max(1)));
    let mut in_flight = JoinSet::new();
    'outer: while !shutdown.is_cancelled() {
        let Some(consumer) = declarer.declare(&shutdown).await else {
            break 'outer;
        };
        let mut messages = match consumer
            .stream()
            .max_messages_per_batch(spec.max_in_flight.max(1))
            .messages()
            .await
        {
            Ok(m) => m,
            Err(error) => {
                declarer.lost(format!("cannot pull: {error}"));
                continue 'outer;
            }
        };
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break 'outer,
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break 'outer,
                },
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => break 'outer,
                next = messages.next() => next,
            };
            // Any pull error may mean the consumer or its stream is gone
            // (a deleted consumer answers 409, a missing one 503, a dead
            // connection stops the heartbeats): declare it again.
            let message = match next {
                Some(Ok(m)) => m,
                Some(Err(error)) => {
                    declarer.lost(format!("pull failed: {error}"));
                    continue 'outer;
                }
                None => {
                    declarer.lost("pull ended".to_string());
                    continue 'outer;
                }
            };
            declarer.pulled();
            while in_flight.try_join_next().is_some() {}
            let handler = handler.clone();
            let publisher_js = js.clone();
            let ns = ns.clone();
            let retry = retry.clone();
            let durable = spec.durable.clone();
            let uncounted = uncounted.clone();
            in_flight.spawn(async move {
                process(
                    message,
                    handler.as_ref(),
                    Settling {
                        js: &publisher_js,
                        ns: &ns,
                        retry: &retry,
                        durable: &durable,
                        uncounted: &uncounted,
                    },
                )
                .await;
                drop(permit);
            });
        }
    }
    tracing::info!(durable = %spec.durable, in_flight = in_flight.len(), "consumer stopping, finishing in-flight messages");
    while in_flight.join_next().await.is_some() {}
    Ok(())
}

/// What settling a message needs besides the message.
struct Settling<'a> {
    js: &'a Context,
    ns: &'a Namespace,
    retry: &'a RetryPolicy,
    durable: &'a str,
    uncounted: &'a Uncounted,
}

async fn process<H: Handler>(message: Message, handler: &H, cx: Settling<'_>) {
    let (delivered, seq) = message
        .info()
        .map(|i| {
            (
                u32::try_from(i.delivered).unwrap_or(u32::MAX),
                i.stream_sequence,
            )
        })
        .unwrap_or((1, 0));
    let attempt = delivered.saturating_sub(cx.uncounted.get(seq)).max(1);
    let delivery = Delivery {
        subject: message.subject.to_string(),
        payload: message.payload.clone(),
        headers: message.headers.clone(),
        attempt,
        max_deliver: cx.retry.max_deliver,
        sequence: seq,
        message,
    };
    let span =
        tracing::info_span!("handle", subject = %delivery.subject, attempt, durable = cx.durable);
    set_parent_from(&span, delivery.headers.as_ref());
    let handled = AssertUnwindSafe(handler.handle(&delivery).instrument(span.clone()))
        .catch_unwind()
        .await;
    let outcome = match handled {
        Ok(outcome) => outcome,
        // A panic is this message's failure: counted, so a message that
        // always panics ends in the dead-letter stream, not in a loop.
        Err(panic) => {
            let what = panic_message(panic.as_ref());
            metrics::counter!(crate::metrics::HANDLER_PANICS, "durable" => cx.durable.to_string())
                .increment(1);
            span.in_scope(|| tracing::error!(panic = %what, "handler panicked"));
            Outcome::Retry(format!("handler panicked: {what}"))
        }
    };
    settle(outcome, delivery, &cx).instrument(span).await;
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string payload".to_string()
    }
}

/// Acks, naks or dead-letters according to the handler's outcome.
async fn settle(outcome: Outcome, delivery: Delivery, cx: &Settling<'_>) {
    let seq = delivery.sequence;
    let attempt = delivery.attempt;
    let retry = cx.retry;
    metrics::counter!(crate::metrics::HANDLED, "durable" => cx.durable.to_string(), "outcome" => outcome_label(&outcome)).increment(1);
    let ack = match outcome {
        Outcome::Ack => {
            cx.uncounted.forget(seq);
            delivery.message.double_ack().await
        }
        Outcome::Unavailable(reason) => {
            let rounds = cx.uncounted.add(seq);
            let delay = retry.delay(rounds);
            metrics::counter!(crate::metrics::UNAVAILABLE, "durable" => cx.durable.to_string())
                .increment(1);
            tracing::warn!(%reason, ?delay, rounds, "dependency unavailable, will retry");
            delivery.message.ack_with(AckKind::Nak(Some(delay))).await
        }
        Outcome::Retry(reason) if attempt < retry.max_deliver => {
            let delay = retry.delay(attempt);
            tracing::warn!(%reason, ?delay, "handler failed, will retry");
            delivery.message.ack_with(AckKind::Nak(Some(delay))).await
        }
        Outcome::Retry(reason) | Outcome::Reject(reason) => {
            match dead_letter(cx.js, cx.ns, cx.durable, &delivery, &reason).await {
                Ok(()) => {
                    cx.uncounted.forget(seq);
                    delivery.message.ack_with(AckKind::Term).await
                }
                Err(error) => {
                    // NATS itself is unavailable: not counted either.
                    cx.uncounted.add(seq);
                    tracing::error!(%error, "dead-letter publish failed, will redeliver");
                    delivery
                        .message
                        .ack_with(AckKind::Nak(Some(retry.delay(attempt))))
                        .await
                }
            }
        }
    };
    if let Err(error) = ack {
        // The server redelivers after ack_wait; handlers are idempotent.
        tracing::warn!(%error, "ack failed");
    }
}

fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Ack => "ack",
        Outcome::Retry(_) => "retry",
        Outcome::Unavailable(_) => "unavailable",
        Outcome::Reject(_) => "reject",
    }
}

async fn dead_letter(
    js: &Context,
    ns: &Namespace,
    durable: &str,
    d: &Delivery,
    reason: &str,
) -> Result<()> {
    tracing::error!(%reason, attempts = d.attempt, "message dead-lettered");
    let mut headers = d.headers.clone().unwrap_or_default();
    // A fresh id: the original one is already in the dedupe window.
    let id = d
        .message
        .info()
        .map(|i| dead_letter_msg_id(durable, i.stream_sequence))
        .unwrap_or_else(|_| dead_letter_msg_id(durable, &d.subject));
    headers.insert(crate::publish::MSG_ID_HEADER, id.as_str());
    headers.insert(ORIGINAL_SUBJECT_HEADER, d.subject.as_str());
    headers.insert(REASON_HEADER, reason);
    headers.insert(ATTEMPTS_HEADER, d.attempt.to_string().as_str());
    let subject = ns.dead_letter_subject(durable);
    publish_acked(js, subject, headers, d.payload.clone()).await?;
    let stream = d.message.info().map(|i| i.stream.to_string());
    metrics::counter!(crate::metrics::DEAD_LETTERS, "stream" => stream.unwrap_or_default(), "durable" => durable.to_string())
        .increment(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_repeats_its_last_step() {
        let p = RetryPolicy {
            max_deliver: 5,
            backoff: vec![Duration::from_millis(1), Duration::from_millis(2)],
        };
        assert_eq!(p.delay(1), Duration::from_millis(1));
        assert_eq!(p.delay(2), Duration::from_millis(2));
        assert_eq!(p.delay(9), Duration::from_millis(2));
        let empty = RetryPolicy {
            max_deliver: 1,
            backoff: vec![],
        };
        assert_eq!(empty.delay(3), Duration::from_secs(1));
    }

    #[test]
    fn unavailable_rounds_are_tallied_per_message_until_settled() {
        let u = Uncounted::default();
        assert_eq!(u.get(7), 0);
        assert_eq!(u.add(7), 1);
        assert_eq!(u.add(7), 2);
        assert_eq!(u.add(8), 1);
        assert_eq!(u.get(7), 2);
        u.forget(7);
        assert_eq!(u.get(7), 0);
        assert_eq!(u.get(8), 1);
    }

    #[test]
    fn panic_payloads_become_reasons() {
        let boxed: Box<dyn std::any::Any + Send> = Box::new("boom");
        assert_eq!(panic_message(boxed.as_ref()), "boom");
        let boxed: Box<dyn std::any::Any + Send> = Box::new(String::from("overflow"));
        assert_eq!(panic_message(boxed.as_ref()), "overflow");
        let boxed: Box<dyn std::any::Any + Send> = Box::new(3_u8);
        assert_eq!(panic_message(boxed.as_ref()), "a non-string payload");
    }
}
