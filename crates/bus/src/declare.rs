//! Idempotent declaration of the streams xregion owns, at every start.

use std::time::Duration;

use async_nats::jetstream::stream::RetentionPolicy::{self, Limits, WorkQueue};
use async_nats::jetstream::stream::{Config, StorageType};
use async_nats::jetstream::Context;

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

/// Creates each stream when missing and brings its settings up to date when
/// present; safe for every service to call at every start.
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

async fn declare_stream(js: &Context, config: Config) -> Result<()> {
    let name = config.name.clone();
    js.get_or_create_stream(config.clone())
        .await
        .map_err(|e| BusError::js("create stream", format!("{name}: {e}")))?;
    // Another service may have created it concurrently with older settings.
    js.update_stream(config)
        .await
        .map_err(|e| BusError::js("update stream", format!("{name}: {e}")))?;
    tracing::debug!(stream = %name, "stream declared");
    Ok(())
}
