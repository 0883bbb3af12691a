//! The workload in the source region (written before timing starts, with
//! incompressible bytes as real compressed backups are), and the two ways
//! xregion is timed on it: everything announced at once (throughput), and
//! logs announced one by one while a FULL copies (log latency).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use prost::Message;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use xregion_bus::EventSubject;
use xregion_domain::Engine;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::{ChainGen, GeneratedBackup};
use xregion_tests::stack::{Stack, TENANT_A};
use xregion_tests::sync::{state, SyncEnv};

use crate::measure::{percentile, Case, CpuMeter};

pub const MIB: usize = 1024 * 1024;
const WRITE_CHUNK: usize = 8 * MIB;

/// One enrolled instance with its backups written to the source.
pub struct Workload {
    pub env: SyncEnv,
    pub service_id: String,
    pub instance: String,
    pub full: BackupDescriptor,
    pub logs: Vec<BackupDescriptor>,
}

impl Workload {
    pub fn bytes(&self) -> u64 {
        std::iter::once(&self.full)
            .chain(&self.logs)
            .flat_map(|d| d.files.iter().map(|f| f.size))
            .sum()
    }
}

/// Writes `size` random bytes in 8 MiB pieces (multipart for large files);
/// returns their sha256.
async fn write_random(
    store: &Arc<dyn ObjectStore>,
    key: &str,
    size: usize,
) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut chunk = vec![0u8; WRITE_CHUNK.min(size)];
    if size <= WRITE_CHUNK {
        rng.fill_bytes(&mut chunk);
        hasher.update(&chunk);
        store.put(&Path::from(key), chunk.into()).await?;
        return Ok(hex::encode(hasher.finalize()));
    }
    let upload = store.put_multipart(&Path::from(key)).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, WRITE_CHUNK);
    let mut left = size;
    while left > 0 {
        let n = left.min(WRITE_CHUNK);
        rng.fill_bytes(&mut chunk[..n]);
        hasher.update(&chunk[..n]);
        writer.wait_for_capacity(4).await?;
        writer.write(&chunk[..n]);
        left -= n;
    }
    writer.finish().await?;
    Ok(hex::encode(hasher.finalize()))
}

/// The descriptor of a generated backup with random contents of `size`.
async fn write_backup(
    env: &SyncEnv,
    generated: GeneratedBackup,
    size: usize,
) -> anyhow::Result<BackupDescriptor> {
    let mut d = generated.descriptor;
    let per_file = size / d.files.len().max(1);
    for file in d.files.iter_mut() {
        file.sha256 = write_random(&env.source, &file.key, per_file).await?;
        file.size = per_file as u64;
    }
    let key = xregion_domain::layout::source_descriptor_key(&d.instance_id, &d.backup_id);
    env.source
        .put(&Path::from(key), d.encode_to_vec().into())
        .await?;
    Ok(d)
}

pub async fn prepare(
    stack: &Stack,
    regions: (&str, &str),
    instance: &str,
    full_size: usize,
    logs: usize,
) -> anyhow::Result<Workload> {
    // Real binlogs are rarely a whole number of MiB; 8 MiB exactly is
    // the default so that runs compare with earlier ones.
    let log_size = std::env::var("XREGION_BENCH_LOG_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8 * MIB);
    prepare_sized(stack, regions, instance, full_size, logs, log_size).await
}

/// As `prepare`, with LOGs of `log_size` bytes.
pub async fn prepare_sized(
    stack: &Stack,
    (src, dst): (&str, &str),
    instance: &str,
    full_size: usize,
    logs: usize,
    log_size: usize,
) -> anyhow::Result<Workload> {
    let env = SyncEnv::new(stack, src, dst).await?;
    env.instance(instance, Engine::Mysql, src).await?;
    let svc = env.create(instance, Engine::Mysql, src, dst).await?;
    env.wait_service(&svc.id, "SEEDING", |s| {
        state(s) == pb::ServiceState::Seeding
    })
    .await?;
    let mut chain = ChainGen::new(instance, TENANT_A, src, Engine::Mysql, 1_760_000_000_000);
    let full = write_backup(&env, chain.full(0), full_size).await?;
    let mut written = Vec::with_capacity(logs);
    for _ in 0..logs {
        written.push(write_backup(&env, chain.log(60_000, 0), log_size).await?);
    }
    Ok(Workload {
        env,
        service_id: svc.id,
        instance: instance.to_string(),
        full,
        logs: written,
    })
}

/// Waits for this service's next BackupSynced; returns the backup id.
async fn next_synced(
    synced: &mut async_nats::Subscriber,
    service_id: &str,
) -> anyhow::Result<String> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(1800), synced.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("events ended"))?;
        let e = pb::BackupSynced::decode(msg.payload.as_ref())?;
        if e.service.as_ref().map(|s| s.service_id.as_str()) == Some(service_id) {
            return Ok(e.backup.map(|b| b.backup_id).unwrap_or_default());
        }
    }
}

async fn subscribe(stack: &Stack) -> anyhow::Result<async_nats::Subscriber> {
    let nats = stack.nats.client().await?;
    Ok(nats
        .subscribe(stack.ns().event_subject(EventSubject::BackupSynced))
        .await?)
}

/// Subscribes to BackupSynced, samples the CPU and starts the clock, then
/// announces the FULL: where every case begins.
async fn start_with_full(
    stack: &Stack,
    w: &Workload,
    meter: &CpuMeter,
) -> anyhow::Result<(async_nats::Subscriber, BTreeMap<String, f64>, Instant)> {
    let synced = subscribe(stack).await?;
    let before = meter.sample();
    let start = Instant::now();
    w.env.upstream.backup_created(&w.full).await?;
    Ok((synced, before, start))
}

/// Waits until the catalog has handled every event so far (BackupSynced
/// among them): a copy counts once the catalog records it, as a user sees
/// it, and the catalog's work on one case must not be counted in the next.
async fn caught_up(stack: &Stack) -> anyhow::Result<()> {
    let probe = stack.probe().await?;
    probe
        .wait_consumer_idle(&stack.ns().events_stream(), "catalog-events")
        .await
}

/// Announces every backup at once; times BackupCreated → the catalog having
/// recorded the last BackupSynced.
pub async fn burst(
    stack: &Stack,
    w: &Workload,
    meter: &CpuMeter,
    name: &str,
) -> anyhow::Result<Case> {
    let (mut synced, before, start) = start_with_full(stack, w, meter).await?;
    for d in &w.logs {
        w.env.upstream.backup_created(d).await?;
    }
    for _ in 0..=w.logs.len() {
        next_synced(&mut synced, &w.service_id).await?;
    }
    let announced = start.elapsed();
    caught_up(stack).await?;
    let recorded = start.elapsed();
    println!(
        "    the catalog recorded the last copy {} ms after the worker announced it",
        (recorded - announced).as_millis()
    );
    Ok(Case {
        name: name.to_string(),
        bytes: w.bytes(),
        secs: start.elapsed().as_secs_f64(),
        cpu: meter.since(&before),
        log_p50_ms: None,
        log_p99_ms: None,
    })
}

/// Announces the FULL, then one LOG every `every` until the FULL is synced;
/// the logs' latencies (BackupCreated → BackupSynced) are the log lane's
/// while a FULL copies.
pub async fn logs_during_full(
    stack: &Stack,
    w: &Workload,
    meter: &CpuMeter,
    every: Duration,
    name: &str,
) -> anyhow::Result<Case> {
    let (mut synced, before, start) = start_with_full(stack, w, meter).await?;
    let mut ticker = tokio::time::interval(every);
    let mut next_log = w.logs.iter();
    let mut published: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let mut full_done = false;
    let mut bytes = w.full.files.iter().map(|f| f.size).sum::<u64>();
    while !full_done || latencies.len() < published.len() {
        tokio::select! {
            _ = ticker.tick(), if !full_done => {
                if let Some(d) = next_log.next() {
                    w.env.upstream.backup_created(d).await?;
                    published.insert(d.backup_id.clone(), Instant::now());
                    bytes += d.files.iter().map(|f| f.size).sum::<u64>();
                }
            }
            id = next_synced(&mut synced, &w.service_id) => {
                let id = id?;
                if id == w.full.backup_id {
                    full_done = true;
                } else if let Some(t) = published.get(&id) {
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
    }
    anyhow::ensure!(
        next_log.len() > 0,
        "the FULL outlasted the {} logs prepared; prepare more",
        w.logs.len()
    );
    latencies.sort_by(f64::total_cmp);
    Ok(Case {
        name: format!(
            "{name} ({} logs, one every {} ms)",
            latencies.len(),
            every.as_millis()
        ),
        bytes,
        secs: start.elapsed().as_secs_f64(),
        cpu: meter.since(&before),
        log_p50_ms: percentile(&latencies, 0.5),
        log_p99_ms: percentile(&latencies, 0.99),
    })
}

/// Announces the FULL and waits until it is synced, then one LOG every
/// `every`: the logs' own latency (BackupCreated → BackupSynced) with
/// nothing else copying, the baseline a FULL's interference is held to.
#[allow(dead_code)] // the WAN benchmark's; this file is the transfer benchmark's too
pub async fn logs_alone(
    stack: &Stack,
    w: &Workload,
    meter: &CpuMeter,
    every: Duration,
    name: &str,
) -> anyhow::Result<Case> {
    let (mut synced, before, start) = start_with_full(stack, w, meter).await?;
    while next_synced(&mut synced, &w.service_id).await? != w.full.backup_id {}
    let in_worker = || async {
        let read = |name: &'static str| stack.metric("transfer-worker", name, "kind=\"log\"");
        let sum = read("xregion_transfer_copy_duration_seconds_sum").await?;
        let count = read("xregion_transfer_copy_duration_seconds_count").await?;
        anyhow::Ok((sum, count))
    };
    let worker_before = in_worker().await?;
    let mut latencies = Vec::with_capacity(w.logs.len());
    let mut ticker = tokio::time::interval(every);
    for d in &w.logs {
        ticker.tick().await;
        let announced = Instant::now();
        w.env.upstream.backup_created(d).await?;
        // One at a time: each log alone on the link, none queued behind another.
        while next_synced(&mut synced, &w.service_id).await? != d.backup_id {}
        latencies.push(announced.elapsed().as_secs_f64() * 1000.0);
    }
    // The worker's own share: its copy time, from the job's files to the
    // commit (the rest is the bus, the watcher and the catalog's ask).
    let worker_after = in_worker().await?;
    let copies = worker_after.1 - worker_before.1;
    if copies > 0.0 {
        println!(
            "    in the worker, files to commit: mean {:.0} ms over {copies} logs",
            (worker_after.0 - worker_before.0) / copies * 1000.0
        );
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Case {
        name: format!("{name} ({} logs, one at a time)", latencies.len()),
        bytes: w.bytes(),
        secs: start.elapsed().as_secs_f64(),
        cpu: meter.since(&before),
        log_p50_ms: percentile(&latencies, 0.5),
        log_p99_ms: percentile(&latencies, 0.99),
    })
}
