use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use tokio_util::sync::CancellationToken;
use xregion_bus::{
    run_consumer, CatalogClient, ConsumerSpec, EventSubject, Publisher, RetryPolicy, UpstreamEvent,
};
use xregion_common::Regions;
use xregion_runtime::Context;

use crate::config::WatcherConfig;
use crate::jobs::Watcher;
use crate::reconcile::reconcile_loop;
use crate::seeding::SeedOnCreate;
use crate::upstream::JobPerBackup;

pub use xregion_runtime::ServiceError as Error;

pub async fn run(cx: Context<WatcherConfig>) -> Result<(), Error> {
    let Context {
        config,
        client,
        ns,
        health,
        shutdown,
    } = cx;
    let settings = &config.watcher;
    let watcher = Watcher {
        catalog: CatalogClient::new(
            client.clone(),
            ns.clone(),
            Duration::from_secs(config.common.bus.request_timeout_secs.max(1)),
        ),
        publisher: Publisher::new(client.clone(), ns.clone()),
        regions: Regions::build(&config.common.regions)?,
    };
    let js = watcher.publisher.jetstream()?.clone();
    let retry = RetryPolicy::from_config(&config.common.bus);
    let intake = CancellationToken::new();
    let fatal = CancellationToken::new();
    let seed_spec = ConsumerSpec {
        stream: ns.events_stream(),
        durable: ns.durable("watcher-seed"),
        filter_subjects: vec![ns.event_subject(EventSubject::ServiceCreated)],
        max_in_flight: settings.max_in_flight,
        ack_wait: Duration::from_secs(60),
        deliver_policy: DeliverPolicy::All,
    };
    let backups_spec = ConsumerSpec {
        stream: ns.upstream_stream(),
        durable: ns.durable("watcher-backups"),
        filter_subjects: vec![ns.upstream_filter(UpstreamEvent::BackupCreated)],
        max_in_flight: settings.max_in_flight,
        ack_wait: Duration::from_secs(60),
        // Backups from before this deployment are found by seeding.
        deliver_policy: DeliverPolicy::New,
    };
    let tasks = vec![
        xregion_runtime::supervise(
            "consumer",
            &fatal,
            &intake,
            run_consumer(
                js.clone(),
                ns.clone(),
                seed_spec,
                retry.clone(),
                Arc::new(SeedOnCreate {
                    watcher: watcher.clone(),
                }),
                intake.clone(),
            ),
        ),
        xregion_runtime::supervise(
            "consumer",
            &fatal,
            &intake,
            run_consumer(
                js.clone(),
                ns.clone(),
                backups_spec,
                retry.clone(),
                Arc::new(JobPerBackup {
                    watcher: watcher.clone(),
                }),
                intake.clone(),
            ),
        ),
    ];
    let reconcile = xregion_runtime::supervise(
        "reconcile",
        &fatal,
        &intake,
        reconcile_loop(
            watcher.clone(),
            Duration::from_secs(settings.reconcile_interval_secs.max(1)),
            intake.clone(),
        ),
    );
    health.set_ready(true);
    tracing::info!(namespace = ns.prefix(), "backup-watcher ready");
    let failed = xregion_runtime::wait_for_stop(&shutdown, &fatal).await;
    health.set_ready(false);
    intake.cancel();
    let _ = reconcile.await;
    xregion_runtime::finish("backup-watcher", tasks, &client, failed).await
}
