use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use tokio_util::sync::CancellationToken;
use xregion_bus::{run_consumer, ConsumerSpec, EventSubject, Publisher, RetryPolicy};
use xregion_common::Regions;
use xregion_runtime::Context;

use crate::config::CleanupConfig;
use crate::purge::Purger;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bus(#[from] xregion_bus::BusError),
    #[error(transparent)]
    Config(#[from] xregion_common::Error),
    #[error("a core task stopped unexpectedly")]
    TaskFailed,
}

pub async fn run(cx: Context<CleanupConfig>) -> Result<(), Error> {
    let Context {
        config,
        client,
        ns,
        health,
        shutdown,
    } = cx;
    let purger = Arc::new(Purger {
        regions: Regions::build(&config.common.regions)?,
        publisher: Publisher::new(client.clone(), ns.clone()),
    });
    let js = purger.publisher.jetstream().clone();
    let intake = CancellationToken::new();
    let fatal = CancellationToken::new();
    let spec = ConsumerSpec {
        stream: ns.events_stream(),
        durable: ns.durable("cleanup-purge"),
        filter_subjects: vec![ns.event_subject(EventSubject::ServiceDeleted)],
        max_in_flight: 4,
        ack_wait: Duration::from_secs(120),
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
    health.set_ready(true);
    tracing::info!(namespace = ns.prefix(), "cleanup ready");
    let failed = xregion_runtime::wait_for_stop(&shutdown, &fatal).await;
    health.set_ready(false);
    intake.cancel();
    match task.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "purge consumer stopped with error"),
        Err(error) => tracing::warn!(%error, "purge task failed"),
    }
    let _ = client.flush().await;
    tracing::info!("cleanup stopped");
    if failed {
        return Err(Error::TaskFailed);
    }
    Ok(())
}
