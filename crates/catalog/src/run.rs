//! Builds the catalog's parts and runs them until shutdown, then stops them
//! in order: stop taking requests and events, finish in-flight work, drain
//! the outbox once more.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use xregion_bus::{serve_rpc, ConsumerSpec};
use xregion_common::SystemClock;
use xregion_runtime::{Context, ServiceError, Stage};

use crate::config::CatalogConfig;
use crate::error::Result;
use crate::outbox::OutboxRelay;
use crate::rpc::CatalogRpc;
use crate::service::Catalog;
use crate::store::Db;
use crate::upstream::UpstreamHandler;

pub async fn run(cx: Context<CatalogConfig>) -> std::result::Result<(), ServiceError> {
    let (config, bus, mut host) = cx.parts();
    let settings = &config.catalog;
    crate::metrics::describe();
    let database_url = settings
        .resolved_database_url()
        .map_err(|e| ServiceError::Setup(e.to_string()))?;
    let db = Db::connect(&database_url, settings.max_connections.get())
        .await
        .map_err(ServiceError::other)?;
    db.migrate().await.map_err(ServiceError::other)?;
    let clock = SystemClock::shared_with_offset_secs(settings.clock_offset_secs);
    let regions = config.common.regions.iter().map(|r| r.id.clone());
    let catalog = Catalog::new(
        db.clone(),
        clock.clone(),
        regions,
        settings.fail_point.clone(),
        xregion_common::units::secs_i64(settings.lag_threshold),
    )
    .with_source_key_prefixes(source_key_prefixes(&config).map_err(ServiceError::other)?)
    .with_target_stores(
        xregion_common::Regions::build(&config.common.regions)
            .map_err(|e| ServiceError::Setup(format!("regions: {e}")))?,
    );
    let ns = bus.namespace();

    // The relay stops last, so that events committed by in-flight work
    // still go out.
    let relay = OutboxRelay {
        db: db.clone(),
        publisher: bus.publisher(),
        wake: catalog.relay_wake(),
        interval: settings.relay_interval,
        clock,
    };
    host.spawn(Stage::Last, "outbox-relay", move |stop| async move {
        relay.run(stop).await;
        Ok::<(), Infallible>(())
    });
    let rpc = Arc::new(CatalogRpc {
        catalog: catalog.clone(),
        price_plan: settings.price_plan.clone(),
    });
    let (client, rpc_ns) = (bus.client().clone(), ns.clone());
    let limit = settings.max_requests_in_flight.get();
    host.spawn(Stage::Intake, "rpc", move |stop| {
        serve_rpc(client, rpc_ns, rpc, limit, stop)
    });
    host.consume(
        ConsumerSpec {
            stream: ns.upstream_stream(),
            durable: ns.durable("catalog-upstream"),
            filter_subjects: vec![ns.upstream_filter_all()],
            max_in_flight: settings.max_in_flight.get(),
            ack_wait: Duration::from_secs(30),
            deliver_policy: DeliverPolicy::All,
        },
        Arc::new(UpstreamHandler {
            catalog: catalog.clone(),
            ns: ns.clone(),
        }),
    );
    host.consume(
        ConsumerSpec {
            stream: ns.events_stream(),
            durable: ns.durable("catalog-events"),
            filter_subjects: crate::events::CONSUMED
                .iter()
                .map(|e| ns.event_subject(*e))
                .collect(),
            max_in_flight: settings.max_in_flight.get(),
            ack_wait: Duration::from_secs(30),
            deliver_policy: DeliverPolicy::All,
        },
        Arc::new(crate::events::EventsHandler {
            catalog: catalog.clone(),
            ns: ns.clone(),
        }),
    );
    watch_database(&mut host, &db);
    let lags = catalog.clone();
    host.every("lag", settings.lag_check_interval, move || {
        let catalog = lags.clone();
        async move {
            if let Err(error) = catalog.check_all_lags().await {
                tracing::warn!(%error, "lag check failed");
            }
        }
    });
    let (prune_db, prune_clock, keep) = (db.clone(), catalog.clock.clone(), settings.outbox_keep);
    host.every("outbox-prune", OUTBOX_PRUNE_EVERY, move || {
        let (db, clock) = (prune_db.clone(), prune_clock.clone());
        async move {
            match crate::outbox::prune_published(&db, &clock, keep).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "published events pruned from the outbox"),
                Err(error) => tracing::warn!(%error, "outbox prune failed, will retry"),
            }
        }
    });
    tracing::info!(backend = ?db.backend, "catalog database ready");
    let result = host.run().await;
    db.pool.close().await;
    result
}

/// How often published events older than `catalog.outbox_keep_days` are
/// removed from the outbox.
const OUTBOX_PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How often, and how patiently, the `database` readiness check asks.
const DATABASE_CHECK_EVERY: Duration = Duration::from_secs(2);
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The `database` readiness check: a `SELECT 1` through the pool on the
/// host's periodic loop, failing on an error or when it takes longer than
/// the timeout (a pool waiting for a connection to an unreachable server).
fn watch_database(host: &mut xregion_runtime::ServiceHost, db: &Db) {
    let check = host.health().check("database");
    // Migrations have just run on this pool.
    check.set_ok();
    let pool = db.pool.clone();
    host.every("database-health", DATABASE_CHECK_EVERY, move || {
        let (pool, check) = (pool.clone(), check.clone());
        async move {
            let ping = sqlx::query("SELECT 1").execute(&pool);
            match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, ping).await {
                Ok(Ok(_)) => check.set_ok(),
                Ok(Err(error)) => check.set_failing(format!("select 1: {error}")),
                Err(_) => check.set_failing(format!(
                    "select 1: no answer within {DATABASE_CHECK_TIMEOUT:?}"
                )),
            }
        }
    });
}

/// Each region's `source_key_prefix`, validated: a bad template stops
/// start-up rather than let every descriptor through.
fn source_key_prefixes(
    config: &CatalogConfig,
) -> Result<Vec<(String, xregion_domain::source_keys::SourceKeyPrefix)>> {
    let mut out = Vec::new();
    for region in &config.common.regions {
        if let Some(template) = &region.source_key_prefix {
            let parsed = xregion_domain::source_keys::SourceKeyPrefix::parse(template)?;
            out.push((region.id.clone(), parsed));
        }
    }
    Ok(out)
}
