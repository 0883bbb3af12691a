//! Idempotent declaration of the streams xregion owns, at every start:
//! created when missing, verified (never rewritten) when present.

use std::time::Duration;

use async_nats::jetstream::stream::RetentionPolicy::{self, Limits, WorkQueue};
use async_nats::jetstream::stream::{Config, StorageType};
use async_nats::jetstream::Context;

use crate::drift::{differences, DRIFT_GAUGE};
use crate::error::{BusError, Result};
use crate::names::Namespace;

#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub events_max_age: Duration,
    /// Window within which a republished `Nats-Msg-Id` is dropped.
    pub duplicate_window: Duration,
    /// Also create the upstream stream (local stacks and tests; in production
    /// the upstream owns it).
    pub create_upstream: bool,
    /// Replicas of each stream and bucket xregion creates (`bus.replicas`).
    pub replicas: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            events_max_age: Duration::from_secs(30 * 24 * 3600),
            duplicate_window: Duration::from_secs(3600),
            create_upstream: true,
            replicas: 1,
        }
    }
}

impl StreamOptions {
    /// What a service with bus settings `cfg` declares, at start and again
    /// when a consumer finds its stream gone.
    pub fn from_config(cfg: &xregion_common::BusConfig) -> Self {
        Self {
            events_max_age: cfg.events_max_age,
            create_upstream: cfg.create_upstream_stream,
            replicas: cfg.replicas,
            ..Default::default()
        }
    }
}

/// Creates each stream xregion owns when missing; when present, compares
/// its settings with these and reports each difference (a warning and the
/// `xregion_bus_stream_drift` gauge) without changing the stream. Safe for
/// every service to call at every start.
pub async fn declare_streams(js: &Context, ns: &Namespace, opts: &StreamOptions) -> Result<()> {
    let configs = [
        Config {
            max_age: opts.events_max_age,
            duplicate_window: opts.duplicate_window,
            num_replicas: opts.replicas,
            ..file_stream(ns.events_stream(), ns.events_filter(), Limits)
        },
        Config {
            duplicate_window: opts.duplicate_window,
            num_replicas: opts.replicas,
            ..file_stream(ns.transfers_stream(), ns.transfers_filter_all(), WorkQueue)
        },
        Config {
            max_age: opts.events_max_age,
            num_replicas: opts.replicas,
            ..file_stream(ns.dead_letter_stream(), ns.dead_letters_filter(), Limits)
        },
    ];
    for config in configs {
        declare_stream(js, config).await?;
    }
    if opts.create_upstream {
        // The upstream owns its stream: created when missing (local stacks),
        // never updated, so its settings are not overwritten and a service
        // needs only the right to create it, not to change it.
        let name = ns.upstream_stream();
        js.get_or_create_stream(Config {
            max_age: opts.events_max_age,
            duplicate_window: opts.duplicate_window,
            num_replicas: opts.replicas,
            ..file_stream(name.clone(), ns.upstream_filter_all(), Limits)
        })
        .await
        .map_err(|e| BusError::js("create stream", format!("{name}: {e}")))?;
    }
    Ok(())
}

/// What a key-value bucket of xregion's keeps.
#[derive(Debug, Clone)]
pub struct BucketSpec {
    pub name: String,
    /// Values kept per key.
    pub history: i64,
    /// Age after which a value expires (zero: never); what makes a lease
    /// or a presence key vanish when its holder dies.
    pub max_age: Duration,
}

/// The bucket `spec` with `replicas`, created when missing; an existing one
/// is used as it is.
pub async fn declare_bucket(
    js: &Context,
    spec: &BucketSpec,
    replicas: usize,
) -> Result<async_nats::jetstream::kv::Store> {
    if let Ok(kv) = js.get_key_value(&spec.name).await {
        return Ok(kv);
    }
    js.create_key_value(async_nats::jetstream::kv::Config {
        bucket: spec.name.clone(),
        history: spec.history,
        max_age: spec.max_age,
        num_replicas: replicas,
        storage: StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| BusError::js("create bucket", format!("{}: {e}", spec.name)))
}

/// A stream on disk named `name` holding `subject`; every other setting is
/// `Config::default()` (left to the server) unless the caller sets it.
fn file_stream(name: String, subject: String, retention: RetentionPolicy) -> Config {
    Config {
        name,
        subjects: vec![subject],
        retention,
        storage: StorageType::File,
        ..Default::default()
    }
}

async fn declare_stream(js: &Context, want: Config) -> Result<()> {
    let name = want.name.clone();
    let stream = match js.get_or_create_stream(want.clone()).await {
        Ok(stream) => stream,
        // Another service created it between the look-up and the create,
        // maybe with other settings: what it created is what is compared.
        Err(first) => {
            tracing::debug!(stream = %name, error = %first, "stream creation raced, looking again");
            js.get_or_create_stream(want.clone())
                .await
                .map_err(|e| BusError::js("create stream", format!("{name}: {e}")))?
        }
    };
    let drift = differences(&want, &stream.cached_info().config);
    for d in &drift {
        tracing::warn!(
            stream = %name,
            field = d.field,
            want = %d.want,
            have = %d.have,
            "stream setting differs on the server; left as it is (an operator applies changes)"
        );
    }
    metrics::gauge!(DRIFT_GAUGE, "stream" => name.clone()).set(drift.len() as f64);
    tracing::debug!(stream = %name, drift = drift.len(), "stream declared");
    Ok(())
}
