use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use tokio_util::sync::CancellationToken;
use xregion_bus::{run_consumer, ConsumerSpec, Publisher, RetryPolicy};
use xregion_common::Regions;
use xregion_domain::Lane;
use xregion_runtime::Context;

use crate::config::WorkerConfig;
use crate::transfer::Transfers;

pub use xregion_runtime::ServiceError as Error;

pub async fn run(cx: Context<WorkerConfig>) -> Result<(), Error> {
    let Context {
        config,
        client,
        ns,
        health,
        shutdown,
    } = cx;
    let settings = &config.worker;
    let throttle = Arc::new(crate::throttle::Throttle::default());
    let js_limits = async_nats::jetstream::new(client.clone());
    let limits = declare_limits(&js_limits, &ns, &settings.bandwidth).await?;
    let uploads = declare_bucket(&js_limits, &ns.uploads_bucket(), 1).await?;
    let transfers = Arc::new(Transfers {
        uploads,
        throttle: throttle.clone(),
        regions: Regions::build(&config.common.regions)?,
        publisher: Publisher::new(client.clone(), ns.clone()),
        part_size: settings.part_size_mib.max(5) * 1024 * 1024,
        parts_in_flight: settings.parts_in_flight.max(1),
        heartbeat: Duration::from_secs(settings.ack_wait_secs.max(3) / 3),
        catalog: xregion_bus::CatalogClient::new(
            client.clone(),
            ns.clone(),
            Duration::from_secs(config.common.bus.request_timeout_secs.max(1)),
        ),
    });
    let js = transfers.publisher.jetstream()?.clone();
    let retry = RetryPolicy::from_config(&config.common.bus);
    let intake = CancellationToken::new();
    let fatal = CancellationToken::new();
    let intake_for_limits = intake.clone();
    let mut tasks = Vec::new();
    // Each lane has its own durable consumer and limit: a FULL never takes
    // the place of a LOG.
    for lane in Lane::ALL {
        let concurrency = match lane {
            Lane::Log => settings.log_concurrency,
            Lane::Full => settings.full_concurrency,
        };
        let (durable, filters) = if settings.regions.is_empty() {
            (
                format!("transfer-{}", lane.as_str()),
                vec![ns.transfer_filter(None, lane)],
            )
        } else {
            let mut regions = settings.regions.clone();
            regions.sort();
            (
                format!("transfer-{}-{}", regions.join("-"), lane.as_str()),
                regions
                    .iter()
                    .map(|r| ns.transfer_filter(Some(r), lane))
                    .collect(),
            )
        };
        let spec = ConsumerSpec {
            stream: ns.transfers_stream(),
            durable: ns.durable(&durable),
            filter_subjects: filters,
            max_in_flight: concurrency.max(1),
            ack_wait: Duration::from_secs(settings.ack_wait_secs.max(3)),
            deliver_policy: DeliverPolicy::All,
        };
        tasks.push(xregion_runtime::supervise(
            "consumer",
            &fatal,
            &intake,
            run_consumer(
                js.clone(),
                ns.clone(),
                spec,
                retry.clone(),
                transfers.clone(),
                intake.clone(),
            ),
        ));
    }
    tasks.push(xregion_runtime::supervise(
        "limits",
        &fatal,
        &intake,
        async move {
            crate::throttle::follow_limits(limits, throttle, intake_for_limits).await;
            Ok(())
        },
    ));
    health.set_ready(true);
    tracing::info!(namespace = ns.prefix(), "transfer-worker ready");
    let failed = xregion_runtime::wait_for_stop(&shutdown, &fatal).await;
    health.set_ready(false);
    intake.cancel();
    xregion_runtime::finish("transfer-worker", tasks, &client, failed).await
}

/// The limits bucket, created when missing, with the configured limits put
/// in where no value exists yet (runtime changes win over the file).
async fn declare_limits(
    js: &async_nats::jetstream::Context,
    ns: &xregion_bus::Namespace,
    limits: &[crate::config::BandwidthLimit],
) -> Result<async_nats::jetstream::kv::Store, Error> {
    let kv = declare_bucket(js, &ns.limits_bucket(), 5).await?;
    for l in limits {
        let mut entries = vec![(
            xregion_bus::Namespace::bandwidth_key(&l.source, &l.target, false),
            l.bytes_per_sec,
        )];
        if let Some(log) = l.log_bytes_per_sec {
            entries.push((
                xregion_bus::Namespace::bandwidth_key(&l.source, &l.target, true),
                log,
            ));
        }
        for (key, rate) in entries {
            // `create` fails when the key exists: an operator's value stays.
            let _ = kv.create(&key, rate.to_string().into()).await;
        }
    }
    Ok(kv)
}

async fn declare_bucket(
    js: &async_nats::jetstream::Context,
    bucket: &str,
    history: i64,
) -> Result<async_nats::jetstream::kv::Store, Error> {
    match js.get_key_value(bucket).await {
        Ok(kv) => Ok(kv),
        Err(_) => js
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: bucket.to_string(),
                history,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Setup(format!("{bucket}: {e}"))),
    }
}
