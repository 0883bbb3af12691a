use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use tokio_util::sync::CancellationToken;
use xregion_bus::{
    run_consumer, CatalogClient, ConsumerSpec, EventSubject, Publisher, RetryPolicy,
};
use xregion_common::Regions;
use xregion_runtime::Context;

use crate::config::CleanupConfig;
use crate::purge::Purger;
use crate::sweep::{sweep_loop, Sweeper};

pub use xregion_runtime::ServiceError as Error;

pub async fn run(cx: Context<CleanupConfig>) -> Result<(), Error> {
    let Context {
        config,
        client,
        ns,
        health,
        shutdown,
    } = cx;
    let settings = &config.cleanup;
    let regions = Regions::build(&config.common.regions)?;
    let publisher = Publisher::new(client.clone(), ns.clone());
    if !(0.0..=1.0).contains(&settings.max_removal_share) {
        return Err(Error::Setup(format!(
            "cleanup.max_removal_share must be between 0 and 1, got {}",
            settings.max_removal_share
        )));
    }
    let catalog = CatalogClient::new(
        client.clone(),
        ns.clone(),
        Duration::from_secs(config.common.bus.request_timeout_secs.max(1)),
    );
    let purger = Arc::new(Purger {
        regions: regions.clone(),
        publisher: publisher.clone(),
        catalog: catalog.clone(),
        fail_after_deletes: settings.fail_after_deletes,
        deletes: Default::default(),
    });
    let sweeper = Arc::new(Sweeper {
        regions,
        publisher,
        catalog,
        max_removal_share: settings.max_removal_share,
        fail_point: settings.fail_point,
        clock_offset_ms: settings.clock_offset_secs.saturating_mul(1000),
        js: async_nats::jetstream::new(client.clone()),
        orphan_grace_ms: i64::try_from(settings.orphan_grace_hours).unwrap_or(i64::MAX / 3_600_000)
            * 3_600_000,
    });
    let js = purger.publisher.jetstream()?.clone();
    let intake = CancellationToken::new();
    let fatal = CancellationToken::new();
    let spec = ConsumerSpec {
        stream: ns.events_stream(),
        durable: ns.durable("cleanup-purge"),
        filter_subjects: vec![ns.event_subject(EventSubject::ServiceDeleted)],
        max_in_flight: 4,
        ack_wait: Duration::from_secs(settings.purge_ack_wait_secs.max(1)),
        deliver_policy: DeliverPolicy::All,
    };
    let task = xregion_runtime::supervise(
        "consumer",
        &fatal,
        &intake,
        run_consumer(
            js,
            ns.clone(),
            spec,
            RetryPolicy::from_config(&config.common.bus),
            purger,
            intake.clone(),
        ),
    );
    let sweep = xregion_runtime::supervise(
        "sweep",
        &fatal,
        &intake,
        sweep_loop(
            sweeper,
            Duration::from_secs(settings.sweep_interval_secs.max(1)),
            intake.clone(),
        ),
    );
    health.set_ready(true);
    tracing::info!(namespace = ns.prefix(), "cleanup ready");
    let failed = xregion_runtime::wait_for_stop(&shutdown, &fatal).await;
    health.set_ready(false);
    intake.cancel();
    let _ = sweep.await;
    xregion_runtime::finish("cleanup", vec![task], &client, failed).await
}
