//! The worker's parts: one consumer per lane, the bandwidth limits it
//! follows at runtime, and its presence on the lanes it shares.

use std::sync::Arc;

use async_nats::jetstream::consumer::DeliverPolicy;
use xregion_bus::ConsumerSpec;
use xregion_common::Regions;
use xregion_domain::Lane;
use xregion_runtime::{Context, ServiceError, Stage};

use crate::config::{FullBesideLogs, WorkerConfig};
use crate::priority::{Keep, Pace};
use crate::transfer::Transfers;

/// Files copied whole (at most a part each) hold at most this many parts'
/// worth of memory together: many small logs in flight, few large ones.
const WHOLE_COPY_PARTS: u64 = 8;

/// LOGs larger than a part copied at once, whatever `log_concurrency` is.
const LARGE_LOGS_AT_ONCE: usize = 8;

pub async fn run(cx: Context<WorkerConfig>) -> Result<(), ServiceError> {
    let (config, bus, mut host) = cx.parts();
    let settings = &config.worker;
    let ns = bus.namespace();
    let throttle = Arc::new(crate::throttle::Throttle::default());
    crate::metrics::describe();
    let limits = declare_limits(&bus, &settings.bandwidth).await?;
    let uploads = bucket(&bus, ns.uploads_bucket(), 1).await?;
    let workers = bus
        .bucket(&xregion_bus::BucketSpec {
            name: ns.workers_bucket(),
            history: 1,
            max_age: crate::presence::PRESENCE_TTL,
        })
        .await
        .map_err(|e| ServiceError::Setup(e.to_string()))?;
    let regions = Regions::build(&config.common.regions)?;
    // A key that cannot be read stops the worker here, naming region and key.
    let keyrings = Arc::new(regions.keyrings()?);
    let transfers = Arc::new(Transfers {
        uploads,
        throttle: throttle.clone(),
        regions,
        keyrings,
        publisher: bus.publisher(),
        part_size: settings.part_size.bytes_usize(),
        whole_budget: Arc::new(crate::budget::WholeBudget::new(
            WHOLE_COPY_PARTS * settings.part_size.bytes(),
        )),
        large_logs: Arc::new(tokio::sync::Semaphore::new(LARGE_LOGS_AT_ONCE)),
        parts_in_flight: settings.parts_in_flight.get(),
        files_in_flight: settings.files_in_flight.get(),
        learned: Default::default(),
        full_beside_logs: match settings.full_beside_logs {
            FullBesideLogs::AtMost(n) => Some(Keep::AtMost(n.get())),
            FullBesideLogs::Paced => Some(Keep::Paced(Arc::new(Pace::new(
                settings.parts_in_flight.max(settings.files_in_flight).get(),
            )))),
            FullBesideLogs::Never => None,
        },
        server_side: Arc::new(server_side_pairs(&config)?),
        direct: Arc::new(crate::direct_put::direct_targets(&config.common.regions)),
        heartbeat: settings.ack_wait / 3,
        catalog: bus.catalog(),
        clock: host.clock().clone(),
    });
    // Each lane has its own durable consumer and limit: a FULL never takes
    // the place of a LOG.
    let mut backlog = Vec::new();
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
        backlog.push((lane, ns.durable(&durable)));
        host.consume(
            ConsumerSpec {
                stream: ns.transfers_stream(),
                durable: ns.durable(&durable),
                filter_subjects: filters,
                max_in_flight: concurrency.get(),
                ack_wait: settings.ack_wait,
                deliver_policy: DeliverPolicy::All,
            },
            transfers.clone(),
        );
    }
    let (js, stream) = (bus.jetstream().clone(), ns.transfers_stream());
    host.every("backlog", crate::metrics::BACKLOG_EVERY, move || {
        let (js, stream, lanes) = (js.clone(), stream.clone(), backlog.clone());
        async move { crate::metrics::export_backlog(&js, &stream, &lanes).await }
    });
    let limits_throttle = throttle.clone();
    host.spawn(Stage::Intake, "limits", move |stop| async move {
        crate::throttle::follow_limits(limits, limits_throttle, stop).await;
        Ok::<(), std::convert::Infallible>(())
    });
    // The lane's limit is shared with the other workers on it. Both run in
    // the last stage: copies finishing after the stop request keep their
    // share, and the presence is withdrawn once they are done.
    let worker_id = crate::presence::worker_id();
    tracing::info!(worker_id, "sharing bandwidth limits with the other workers");
    let (kv, shares, me) = (workers.clone(), throttle.clone(), worker_id.clone());
    host.spawn(Stage::Last, "presence", move |stop| async move {
        crate::presence::announce(kv, shares, me, stop).await;
        Ok::<(), std::convert::Infallible>(())
    });
    host.spawn(Stage::Last, "peers", move |stop| async move {
        crate::peers::follow_peers(workers, throttle, worker_id, stop).await;
        Ok::<(), std::convert::Infallible>(())
    });
    host.run().await
}

/// The region pairs opted in for server-side copy (checked at load; built
/// here with their client).
fn server_side_pairs(
    config: &WorkerConfig,
) -> Result<std::collections::BTreeMap<(String, String), crate::server_side::S3Pair>, ServiceError>
{
    let region = |id: &str| config.common.regions.iter().find(|r| r.id == id);
    let mut pairs = std::collections::BTreeMap::new();
    for p in &config.worker.server_side_copy {
        let (Some(source), Some(target)) = (region(&p.source), region(&p.target)) else {
            return Err(ServiceError::Setup(format!(
                "server-side copy {} -> {}: region not configured",
                p.source, p.target
            )));
        };
        let pair = crate::server_side::S3Pair::new(source, target).map_err(ServiceError::Setup)?;
        tracing::info!(source = %p.source, target = %p.target, "server-side copy between these regions");
        pairs.insert((p.source.clone(), p.target.clone()), pair);
    }
    Ok(pairs)
}

/// The limits bucket, created when missing, with the configured limits put
/// in where no value exists yet (runtime changes win over the file).
async fn declare_limits(
    bus: &xregion_bus::Bus,
    limits: &[crate::config::BandwidthLimit],
) -> Result<async_nats::jetstream::kv::Store, ServiceError> {
    let kv = bucket(bus, bus.namespace().limits_bucket(), 5).await?;
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

async fn bucket(
    bus: &xregion_bus::Bus,
    name: String,
    history: i64,
) -> Result<async_nats::jetstream::kv::Store, ServiceError> {
    bus.bucket(&xregion_bus::BucketSpec {
        name,
        history,
        max_age: std::time::Duration::ZERO,
    })
    .await
    .map_err(|e| ServiceError::Setup(e.to_string()))
}
