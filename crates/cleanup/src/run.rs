//! The cleanup's parts: the purge consumer and the periodic sweep.

use std::sync::Arc;

use async_nats::jetstream::consumer::DeliverPolicy;
use xregion_bus::{ConsumerSpec, EventSubject};
use xregion_common::{Regions, SystemClock};
use xregion_runtime::{Context, ServiceError};

use crate::config::CleanupConfig;
use crate::purge::Purger;
use crate::sweep::{sweep_and_report, Sweeper};

pub async fn run(cx: Context<CleanupConfig>) -> Result<(), ServiceError> {
    let (config, bus, mut host) = cx.parts();
    let settings = &config.cleanup;
    crate::metrics::describe();
    crate::metrics::start_at_zero(config.common.regions.iter().map(|r| r.id.as_str()));
    let ns = bus.namespace();
    let regions = Regions::build(&config.common.regions)?;
    let clock = SystemClock::shared_with_offset_secs(settings.clock_offset_secs);
    let purger = Arc::new(Purger {
        regions: regions.clone(),
        publisher: bus.publisher(),
        catalog: bus.catalog(),
        clock: clock.clone(),
        fail_after_deletes: settings.fail_after_deletes,
        deletes: Default::default(),
    });
    let sweeper = Arc::new(Sweeper {
        regions,
        publisher: bus.publisher(),
        catalog: bus.catalog(),
        max_removal_share: settings.max_removal_share,
        fail_point: settings.fail_point,
        clock,
        js: bus.jetstream().clone(),
        orphan_grace_ms: xregion_common::units::millis_i64(settings.orphan_grace),
    });
    host.consume(
        ConsumerSpec {
            stream: ns.events_stream(),
            durable: ns.durable("cleanup-purge"),
            filter_subjects: vec![ns.event_subject(EventSubject::ServiceDeleted)],
            max_in_flight: 4,
            ack_wait: settings.purge_ack_wait,
            deliver_policy: DeliverPolicy::All,
        },
        purger,
    );
    // One replica sweeps at a time; purges run on every one.
    host.every_leased("sweep", settings.sweep_interval, move || {
        let sweeper = sweeper.clone();
        async move { sweep_and_report(&sweeper).await }
    });
    host.run().await
}
