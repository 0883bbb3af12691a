//! Builds the catalog's parts and runs them until shutdown, then stops them
//! in order: stop taking requests and events, finish in-flight work, drain
//! the outbox once more.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use tokio_util::sync::CancellationToken;
use xregion_bus::{
    async_nats, run_consumer, serve_rpc, ConsumerSpec, Namespace, Publisher, RetryPolicy,
};
use xregion_telemetry::Health;

use crate::clock::{SharedClock, SystemClock};
use crate::config::CatalogConfig;
use crate::error::Result;
use crate::outbox::OutboxRelay;
use crate::rpc::CatalogRpc;
use crate::service::Catalog;
use crate::store::Db;
use crate::upstream::UpstreamHandler;

pub async fn run(
    config: CatalogConfig,
    client: async_nats::Client,
    ns: Namespace,
    health: Health,
    shutdown: CancellationToken,
) -> Result<()> {
    let settings = &config.catalog;
    let database_url = settings
        .resolved_database_url()
        .map_err(|e| crate::CatalogError::FailedPrecondition(e.to_string()))?;
    let db = Db::connect(&database_url, settings.max_connections).await?;
    db.migrate().await?;
    let clock: SharedClock = Arc::new(SystemClock {
        offset_ms: settings.clock_offset_secs * 1000,
    });
    let regions = config.common.regions.iter().map(|r| r.id.clone());
    let catalog = Catalog::new(
        db.clone(),
        clock.clone(),
        regions,
        settings.fail_point.clone(),
        settings.lag_threshold_secs,
    )
    .with_source_key_prefixes(source_key_prefixes(&config)?)
    .with_target_stores(
        xregion_common::Regions::build(&config.common.regions)
            .map_err(|e| crate::CatalogError::FailedPrecondition(format!("regions: {e}")))?,
    );
    let publisher = Publisher::new(client.clone(), ns.clone());
    let js = publisher.jetstream()?.clone();
    let retry = RetryPolicy::from_config(&config.common.bus);

    // Stopping pulls and requests first; the relay goes last so that events
    // committed by in-flight work still go out.
    let intake_stop = CancellationToken::new();
    let relay_stop = CancellationToken::new();
    let relay = OutboxRelay {
        db: db.clone(),
        publisher: publisher.clone(),
        wake: catalog.relay_wake(),
        interval: Duration::from_millis(settings.relay_interval_ms.max(10)),
        clock,
    };
    let fatal = CancellationToken::new();
    let relay_task = xregion_runtime::supervise(
        "outbox-relay",
        &fatal,
        &relay_stop,
        relay.run(relay_stop.clone()),
    );
    let rpc_task = xregion_runtime::supervise(
        "rpc",
        &fatal,
        &intake_stop,
        serve_rpc(
            client.clone(),
            ns.clone(),
            Arc::new(CatalogRpc {
                catalog: catalog.clone(),
                price_plan: settings.price_plan.clone(),
            }),
            intake_stop.clone(),
        ),
    );
    let upstream_spec = ConsumerSpec {
        stream: ns.upstream_stream(),
        durable: ns.durable("catalog-upstream"),
        filter_subjects: vec![ns.upstream_filter_all()],
        max_in_flight: settings.max_in_flight,
        ack_wait: Duration::from_secs(30),
        deliver_policy: DeliverPolicy::All,
    };
    let upstream_task = xregion_runtime::supervise(
        "upstream",
        &fatal,
        &intake_stop,
        run_consumer(
            js.clone(),
            ns.clone(),
            upstream_spec,
            retry.clone(),
            Arc::new(UpstreamHandler {
                catalog: catalog.clone(),
                ns: ns.clone(),
            }),
            intake_stop.clone(),
        ),
    );

    let events_spec = ConsumerSpec {
        stream: ns.events_stream(),
        durable: ns.durable("catalog-events"),
        filter_subjects: crate::events::CONSUMED
            .iter()
            .map(|e| ns.event_subject(*e))
            .collect(),
        max_in_flight: settings.max_in_flight,
        ack_wait: Duration::from_secs(30),
        deliver_policy: DeliverPolicy::All,
    };
    let events_task = xregion_runtime::supervise(
        "events",
        &fatal,
        &intake_stop,
        run_consumer(
            js.clone(),
            ns.clone(),
            events_spec,
            retry.clone(),
            Arc::new(crate::events::EventsHandler {
                catalog: catalog.clone(),
                ns: ns.clone(),
            }),
            intake_stop.clone(),
        ),
    );
    let lag_task = xregion_runtime::supervise(
        "lag",
        &fatal,
        &intake_stop,
        lag_loop(
            catalog.clone(),
            Duration::from_secs(settings.lag_check_interval_secs.max(1)),
            intake_stop.clone(),
        ),
    );

    health.set_ready(true);
    tracing::info!(namespace = ns.prefix(), backend = ?db.backend, "catalog ready");
    let failed = xregion_runtime::wait_for_stop(&shutdown, &fatal).await;
    health.set_ready(false);
    intake_stop.cancel();
    let _ = lag_task.await;
    for (name, task) in [
        ("rpc", rpc_task),
        ("upstream", upstream_task),
        ("events", events_task),
    ] {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, part = name, "stopped with error"),
            Err(error) => tracing::warn!(%error, part = name, "task failed"),
        }
    }
    relay_stop.cancel();
    let _ = relay_task.await;
    let _ = client.flush().await;
    db.pool.close().await;
    tracing::info!("catalog stopped");
    if failed {
        return Err(crate::CatalogError::TaskFailed);
    }
    Ok(())
}

async fn lag_loop(catalog: Catalog, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(error) = catalog.check_all_lags().await {
            tracing::warn!(%error, "lag check failed");
        }
    }
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
