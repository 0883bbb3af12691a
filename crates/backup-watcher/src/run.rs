//! The watcher's parts: seeding on ServiceCreated, one job per upstream
//! BackupCreated, and the periodic reconciliation.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use xregion_bus::{ConsumerSpec, EventSubject, UpstreamEvent};
use xregion_common::Regions;
use xregion_runtime::{Context, ServiceError};

use crate::config::WatcherConfig;
use crate::jobs::Watcher;
use crate::reconcile::reconcile_and_report;
use crate::seeding::SeedOnCreate;
use crate::upstream::JobPerBackup;

pub async fn run(cx: Context<WatcherConfig>) -> Result<(), ServiceError> {
    let (config, bus, mut host) = cx.parts();
    crate::metrics::describe();
    let settings = &config.watcher;
    let ns = bus.namespace();
    let watcher = Watcher {
        catalog: bus.catalog(),
        publisher: bus.publisher(),
        regions: Regions::build(&config.common.regions)?,
        clock: host.clock().clone(),
    };
    host.consume(
        ConsumerSpec {
            stream: ns.events_stream(),
            durable: ns.durable("watcher-seed"),
            filter_subjects: vec![ns.event_subject(EventSubject::ServiceCreated)],
            max_in_flight: settings.max_in_flight.get(),
            ack_wait: Duration::from_secs(60),
            deliver_policy: DeliverPolicy::All,
        },
        Arc::new(SeedOnCreate {
            watcher: watcher.clone(),
        }),
    );
    host.consume(
        ConsumerSpec {
            stream: ns.upstream_stream(),
            durable: ns.durable("watcher-backups"),
            filter_subjects: vec![ns.upstream_filter(UpstreamEvent::BackupCreated)],
            max_in_flight: settings.max_in_flight.get(),
            ack_wait: Duration::from_secs(60),
            // Backups from before this deployment are found by seeding.
            deliver_policy: DeliverPolicy::New,
        },
        Arc::new(JobPerBackup {
            watcher: watcher.clone(),
        }),
    );
    // One replica reconciles at a time; the consumers run on every one.
    let concurrency = settings.reconcile_concurrency.get();
    host.every_leased("reconcile", settings.reconcile_interval, move || {
        let watcher = watcher.clone();
        async move { reconcile_and_report(&watcher, concurrency).await }
    });
    host.run().await
}
