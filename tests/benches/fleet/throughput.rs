//! End-to-end throughput of small logs between two `file://` regions: the
//! release watcher, worker and catalog (on the fleet's PostgreSQL), NATS.
//! Each service is RUNNING on a FULL; then its logs are written to the
//! source (not timed) and announced through the upstream's BackupCreated,
//! and the run lasts from the first announce to the last copy the catalog
//! recorded (`synced_backups.synced_at`).

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use sqlx::PgPool;
use xregion_domain::Engine;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_tests::sync::SyncEnv;
use xregion_tests::wait::now_ms;
use xregion_tests::Stack;

use crate::procfs;

pub const LOG_SIZE: usize = 64 * 1024;
/// Logs per service (100 services at full scale).
const PER_SERVICE: usize = 500;
const T0: i64 = 1_760_000_000_000;
/// The xregion services that take part, for their CPU time.
const PARTS: [&str; 4] = [
    "catalog",
    "backup-watcher",
    "transfer-worker",
    "api-gateway",
];

pub struct Figures {
    pub services: usize,
    pub logs: usize,
    pub announce_secs: f64,
    pub secs: f64,
    /// CPU seconds during the run, by process, and the machine's share busy.
    pub cpu: Vec<(String, f64)>,
    pub machine_busy: f64,
}

impl Figures {
    pub fn rate(&self) -> f64 {
        self.logs as f64 / self.secs
    }
}

/// `total` logs of 64 KiB over `total / 500` services.
pub async fn run(stack: &mut Stack, pool: &PgPool, total: usize) -> anyhow::Result<Figures> {
    // No reconciliation pass in the middle of the run.
    let quiet = ["--set", "watcher.reconcile_interval_secs=3600"];
    stack.start_service("backup-watcher", &quiet).await?;
    stack.start_service("transfer-worker", &[]).await?;
    let env = SyncEnv::new(stack, "fsrc", "fdst").await?;
    let services = total.div_ceil(PER_SERVICE).max(1);
    let per = total / services;
    let env = &env;
    let ready: Vec<(String, xregion_rds_sim::ChainGen)> = futures::stream::iter(0..services)
        .map(|i| async move {
            let instance = format!("tp-{i:03}");
            let mut chain = env.chain(&instance, Engine::Mysql, T0).await?;
            env.upstream
                .emit(&env.source, &chain.full(LOG_SIZE))
                .await?;
            let svc = env.create(&instance, Engine::Mysql, "fsrc", "fdst").await?;
            env.wait_running(&svc.id, 1).await?;
            anyhow::Ok((svc.id, chain))
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    let ids: Vec<String> = ready.iter().map(|(id, _)| id.clone()).collect();
    // The logs in the source store, without their events.
    let written = Instant::now();
    let logs: Vec<Vec<BackupDescriptor>> = futures::stream::iter(ready)
        .map(|(_, mut chain)| async move {
            let mut out = Vec::with_capacity(per);
            for _ in 0..per {
                let log = chain.log(60_000, LOG_SIZE);
                out.push(env.upstream.write_backup(&env.source, &log).await?);
            }
            anyhow::Ok(out)
        })
        .buffered(4)
        .try_collect()
        .await?;
    println!(
        "throughput: {services} services RUNNING, {} logs of {} KiB written to the source in {:.0} s",
        services * per,
        LOG_SIZE / 1024,
        written.elapsed().as_secs_f64()
    );
    // Announced round-robin over the services, each in its chain's order.
    let order: Vec<&BackupDescriptor> = (0..per)
        .flat_map(|j| logs.iter().map(move |l| &l[j]))
        .collect();
    let cpu_before = cpu(stack);
    let ticks_before = procfs::machine_ticks();
    let first_ms = now_ms();
    let started = Instant::now();
    futures::stream::iter(order)
        .map(|d| env.upstream.backup_created(d))
        .buffered(64)
        .try_collect::<Vec<_>>()
        .await?;
    let announce_secs = started.elapsed().as_secs_f64();
    let want = (services * (per + 1)) as i64;
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut last_print = Instant::now();
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM synced_backups WHERE service_id = ANY($1)")
                .bind(&ids)
                .fetch_one(pool)
                .await?;
        if done >= want {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{done} of {want} synced after an hour"
        );
        if last_print.elapsed() >= Duration::from_secs(30) {
            let rate = (done - services as i64) as f64 / started.elapsed().as_secs_f64();
            println!("  ... {done} of {want} synced, {rate:.0}/s so far");
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await; // a poll with the deadline above
    }
    let last_ms: i64 =
        sqlx::query_scalar("SELECT max(synced_at) FROM synced_backups WHERE service_id = ANY($1)")
            .bind(&ids)
            .fetch_one(pool)
            .await?;
    let ticks_after = procfs::machine_ticks();
    let cpu_after = cpu(stack);
    let dead = env.probe.dead_letter_count().await?;
    anyhow::ensure!(dead == 0, "{dead} dead letters during the run");
    let cpu = cpu_after
        .into_iter()
        .zip(cpu_before)
        .map(|((name, after), (_, before))| (name, after - before))
        .collect();
    Ok(Figures {
        services,
        logs: services * per,
        announce_secs,
        secs: (last_ms - first_ms) as f64 / 1000.0,
        cpu,
        machine_busy: (ticks_after.0 - ticks_before.0) as f64
            / (ticks_after.1 - ticks_before.1).max(1) as f64,
    })
}

/// CPU seconds so far of each part, NATS included.
fn cpu(stack: &mut Stack) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = PARTS
        .iter()
        .map(|&name| {
            let pid = stack.service(name).ok().and_then(|p| p.pid());
            (name.to_string(), pid.map_or(f64::NAN, procfs::cpu_secs))
        })
        .collect();
    let needle = format!("-p\u{0}{}\u{0}", stack.nats.port);
    out.push(("nats-server".into(), procfs::cpu_secs_of(&needle)));
    out
}

pub fn print(f: &Figures, target: f64) {
    println!(
        "End-to-end, {} logs of {} KiB over {} services, file:// to file://, PostgreSQL catalog: {:.1} s from the first announce to the last BackupSynced (announcing took {:.1} s): {:.0} backups synced/s; target >= {target}/s: {}",
        f.logs,
        LOG_SIZE / 1024,
        f.services,
        f.secs,
        f.announce_secs,
        f.rate(),
        if f.rate() >= target { "met" } else { "MISSED" }
    );
    let parts: Vec<String> = f
        .cpu
        .iter()
        .map(|(n, s)| {
            format!(
                "{n} {s:.0} s ({:.2} ms a backup)",
                s * 1000.0 / f.logs as f64
            )
        })
        .collect();
    println!(
        "  CPU during the run: {}; machine busy {:.0}% of both cores",
        parts.join(", "),
        f.machine_busy * 100.0
    );
}
