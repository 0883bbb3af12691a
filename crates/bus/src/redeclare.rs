//! A durable consumer's declaration, made again whenever pulling fails: a
//! consumer deleted on the server is created again with the same
//! configuration, a deleted stream is declared again by a service allowed
//! to (with its own stream options), and while neither works the consumer
//! reports why and retries with capped backoff — never failing the service,
//! so a NATS outage at start or later leaves it running and not ready.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{pull, AckPolicy, PullConsumer};
use async_nats::jetstream::context::{GetStreamError, GetStreamErrorKind};
use async_nats::jetstream::{Context, ErrorCode};
use tokio_util::sync::CancellationToken;

use crate::consume::ConsumerSpec;
use crate::declare::{declare_streams, StreamOptions};
use crate::names::Namespace;

/// Told `Ok(())` once a consumer is declared and pulling, `Err(reason)`
/// while it cannot be (e.g. a readiness check).
pub type ConsumerReport = Arc<dyn Fn(std::result::Result<(), String>) + Send + Sync>;

/// What a consumer may do when its declaration is lost.
#[derive(Clone)]
pub struct Recovery {
    /// Declare the streams again with these options (the service's own)
    /// when the consumer's stream is missing; `None`: wait until someone
    /// else does.
    pub streams: Option<StreamOptions>,
    pub report: ConsumerReport,
}

impl Recovery {
    /// Waits for a missing stream and reports to no one.
    pub fn quiet() -> Self {
        Self {
            streams: None,
            report: Arc::new(|_| {}),
        }
    }
}

/// Backoff between declaration attempts: doubling from the first step, up
/// to the cap; starts over once pulling has worked for a while.
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(5);
const HEALTHY_FOR: Duration = Duration::from_secs(30);

fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

pub(crate) struct Declarer {
    js: Context,
    ns: Namespace,
    stream: String,
    durable: String,
    config: pull::Config,
    recovery: Recovery,
    failures: u32,
    declared_at: Option<Instant>,
    /// When the server created the consumer last seen: a different time
    /// means it was lost and created again.
    created_ns: Option<i128>,
}

impl Declarer {
    pub(crate) fn new(js: Context, ns: Namespace, spec: &ConsumerSpec, recovery: Recovery) -> Self {
        Self {
            js,
            ns,
            stream: spec.stream.clone(),
            durable: spec.durable.clone(),
            config: pull_config(spec),
            recovery,
            failures: 0,
            declared_at: None,
            created_ns: None,
        }
    }

    /// The consumer, declared: tried until it is (with backoff after a
    /// failure), or `None` once `stop` is cancelled.
    pub(crate) async fn declare(&mut self, stop: &CancellationToken) -> Option<PullConsumer> {
        loop {
            if self.failures > 0 {
                tokio::select! {
                    _ = stop.cancelled() => return None,
                    _ = tokio::time::sleep(backoff(self.failures)) => {}
                }
            }
            let attempt = tokio::select! {
                _ = stop.cancelled() => return None,
                attempt = self.try_declare() => attempt,
            };
            match attempt {
                Ok(consumer) => {
                    self.declared_at = Some(Instant::now());
                    (self.recovery.report)(Ok(()));
                    return Some(consumer);
                }
                Err(reason) => {
                    self.failures = self.failures.saturating_add(1);
                    tracing::warn!(durable = %self.durable, %reason, failures = self.failures, "cannot declare consumer, retrying");
                    (self.recovery.report)(Err(reason));
                }
            }
        }
    }

    /// Pulling failed: not ready until declared again, after a backoff.
    pub(crate) fn lost(&mut self, reason: String) {
        let was_healthy = self
            .declared_at
            .is_some_and(|at| at.elapsed() >= HEALTHY_FOR);
        self.failures = if was_healthy {
            1
        } else {
            self.failures.saturating_add(1)
        };
        tracing::warn!(durable = %self.durable, %reason, "cannot pull, declaring the consumer again");
        (self.recovery.report)(Err(reason));
    }

    /// A message arrived: pulling works, the backoff starts over.
    pub(crate) fn pulled(&mut self) {
        self.failures = 0;
    }

    async fn try_declare(&mut self) -> std::result::Result<PullConsumer, String> {
        let stream = match self.js.get_stream(&self.stream).await {
            Ok(stream) => stream,
            Err(error) if stream_missing(&error) => self.declare_stream_again().await?,
            Err(error) => return Err(format!("stream {}: {error}", self.stream)),
        };
        let consumer = stream
            .create_consumer(self.config.clone())
            .await
            .map_err(|e| format!("create consumer: {e}"))?;
        let created = consumer.cached_info().created.unix_timestamp_nanos();
        match self.created_ns.replace(created) {
            None => tracing::info!(durable = %self.durable, "consumer ready"),
            Some(before) if before != created => {
                metrics::counter!(crate::metrics::CONSUMERS_RECREATED, "durable" => self.durable.clone())
                    .increment(1);
                tracing::warn!(durable = %self.durable, stream = %self.stream, "consumer re-created");
            }
            Some(_) => {
                tracing::info!(durable = %self.durable, "consumer declared again, it was still there")
            }
        }
        Ok(consumer)
    }

    /// The stream is gone. A service declares again what it declares at
    /// start (its own streams; the upstream's only when allowed to create
    /// it): what the stream held is lost either way, and new messages need
    /// somewhere to go. Reconciliation re-publishes lost jobs.
    async fn declare_stream_again(
        &self,
    ) -> std::result::Result<async_nats::jetstream::stream::Stream, String> {
        let missing = || format!("stream {} not found", self.stream);
        let Some(opts) = &self.recovery.streams else {
            return Err(missing());
        };
        if self.stream == self.ns.upstream_stream() && !opts.create_upstream {
            return Err(format!("{}, and the upstream owns it", missing()));
        }
        declare_streams(&self.js, &self.ns, opts)
            .await
            .map_err(|e| format!("{}; declaring it again: {e}", missing()))?;
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| format!("stream {} after declaring it again: {e}", self.stream))?;
        metrics::counter!(crate::metrics::STREAMS_RECREATED, "stream" => self.stream.clone())
            .increment(1);
        tracing::warn!(stream = %self.stream, durable = %self.durable, "stream re-created; the messages it held are lost");
        Ok(stream)
    }
}

fn stream_missing(error: &GetStreamError) -> bool {
    matches!(error.kind(), GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// The durable's configuration, the same at every declaration.
fn pull_config(spec: &ConsumerSpec) -> pull::Config {
    // A single filter goes in `filter_subject`, which servers before 2.10
    // understand too; several need `filter_subjects` (2.10+).
    let (filter_subject, filter_subjects) = match spec.filter_subjects.as_slice() {
        [one] => (one.clone(), Vec::new()),
        many => (String::new(), many.to_vec()),
    };
    pull::Config {
        durable_name: Some(spec.durable.clone()),
        filter_subject,
        filter_subjects,
        ack_policy: AckPolicy::Explicit,
        ack_wait: spec.ack_wait,
        deliver_policy: spec.deliver_policy,
        // The limit is enforced here, so nothing is ever left undelivered on
        // the server: what exhausts it is dead-lettered explicitly.
        max_deliver: -1,
        max_ack_pending: (spec.max_in_flight * 4).max(16) as i64,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), FIRST_DELAY);
        assert_eq!(backoff(2), FIRST_DELAY * 2);
        assert_eq!(backoff(3), FIRST_DELAY * 4);
        assert_eq!(backoff(6), MAX_DELAY);
        assert_eq!(backoff(u32::MAX), MAX_DELAY);
    }
}
