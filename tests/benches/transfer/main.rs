//! Transfer benchmark: xregion against rclone (defaults and tuned) between
//! two Garage regions, and against `cp -r` between two `file://` regions, all
//! in one run on this machine, reported as MB/s and ratios; plus the log
//! lane's latency while the FULL copies and the worker's peak RSS.
//!
//!   cargo xtask bench transfer              (scale 1: a 2 GiB FULL and 500 LOGs of 8 MiB)
//!   XREGION_BENCH_SCALE=0.1 cargo xtask bench transfer
//!
//! Needs release binaries (`cargo build --release --bins`, done by xtask) and
//! rclone (Debian's package; xtask installs it when missing).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a panic is a failure report

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use prost::Message;
use xregion_bus::EventSubject;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::stack::{Stack, StackOptions, TENANT_A};
use xregion_tests::sync::{state, SyncEnv};

const MIB: usize = 1024 * 1024;

struct Case {
    name: String,
    bytes: u64,
    secs: f64,
    log_p50_ms: Option<f64>,
    log_p99_ms: Option<f64>,
}

impl Case {
    fn mbps(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs
    }
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    Some(sorted[idx])
}

/// Writes the workload into `src` (untimed), then times xregion copying it.
async fn xregion_case(
    stack: &Stack,
    src: &str,
    dst: &str,
    full_size: usize,
    logs: usize,
) -> anyhow::Result<(Case, String)> {
    let env = SyncEnv::new(stack, src, dst).await?;
    let instance = format!("bench-{src}");
    env.instance(&instance, Engine::Mysql, src).await?;
    let svc = env.create(&instance, Engine::Mysql, src, dst).await?;
    env.wait_service(&svc.id, "SEEDING", |s| {
        state(s) == pb::ServiceState::Seeding
    })
    .await?;
    let mut chain = ChainGen::new(&instance, TENANT_A, src, Engine::Mysql, 1_760_000_000_000);
    let mut descriptors = vec![
        env.upstream
            .write_backup(&env.source, &chain.full(full_size))
            .await?,
    ];
    for _ in 0..logs {
        descriptors.push(
            env.upstream
                .write_backup(&env.source, &chain.log(60_000, 8 * MIB))
                .await?,
        );
    }
    let bytes: u64 = descriptors
        .iter()
        .flat_map(|d| d.files.iter().map(|f| f.size))
        .sum();
    let nats = stack.nats.client().await?;
    let mut synced = nats
        .subscribe(stack.ns().event_subject(EventSubject::BackupSynced))
        .await?;
    let start = Instant::now();
    let mut published = std::collections::HashMap::new();
    for d in &descriptors {
        env.upstream.backup_created(d).await?;
        published.insert(d.backup_id.clone(), Instant::now());
    }
    let full_id = descriptors[0].backup_id.clone();
    let mut full_done: Option<Instant> = None;
    let mut log_latencies = Vec::new();
    let mut remaining = descriptors.len();
    while remaining > 0 {
        let msg = tokio::time::timeout(Duration::from_secs(1800), synced.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("events ended"))?;
        let e = pb::BackupSynced::decode(msg.payload.as_ref())?;
        if e.service
            .as_ref()
            .map(|s| s.service_id != svc.id)
            .unwrap_or(true)
        {
            continue;
        }
        let id = e.backup.map(|b| b.backup_id).unwrap_or_default();
        let now = Instant::now();
        if id == full_id {
            full_done = Some(now);
        } else if full_done.is_none() {
            if let Some(t) = published.get(&id) {
                log_latencies.push(now.duration_since(*t).as_secs_f64() * 1000.0);
            }
        }
        remaining -= 1;
    }
    let secs = start.elapsed().as_secs_f64();
    log_latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let case = Case {
        name: format!("xregion {src} -> {dst}"),
        bytes,
        secs,
        log_p50_ms: percentile(&log_latencies, 0.5),
        log_p99_ms: percentile(&log_latencies, 0.99),
    };
    Ok((case, instance))
}

fn timed(name: &str, bytes: u64, mut cmd: Command) -> anyhow::Result<Case> {
    let start = Instant::now();
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Case {
        name: name.to_string(),
        bytes,
        secs: start.elapsed().as_secs_f64(),
        log_p50_ms: None,
        log_p99_ms: None,
    })
}

fn bucket_of(stack: &Stack, region: &str) -> String {
    stack
        .region(region)
        .unwrap()
        .url
        .trim_start_matches("s3://")
        .to_string()
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::set_var("XREGION_QUIET_LOGS", "1");
    let scale: f64 = std::env::var("XREGION_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let full_size = ((2048.0 * scale) as usize).max(16) * MIB;
    let logs = ((500.0 * scale) as usize).max(4);
    println!(
        "workload: one FULL of {} MiB and {logs} LOGs of 8 MiB (scale {scale})",
        full_size / MIB
    );
    let mut stack = Stack::start(StackOptions {
        regions: vec!["src".into(), "dst".into()],
        file_regions: vec!["fsrc".into(), "fdst".into()],
        extra_config: "\n[worker]\nfull_concurrency = 2\nlog_concurrency = 8\npart_size_mib = 16\nparts_in_flight = 8\n".into(),
        ..Default::default()
    })
    .await?;

    let (garage, instance) = xregion_case(&stack, "src", "dst", full_size, logs).await?;
    let worker_pid = stack.service("transfer-worker")?.pid().unwrap();

    // rclone between the same buckets.
    let conf = stack.dir.path().join("rclone.conf");
    std::fs::write(
        &conf,
        format!(
            "[g]\ntype = s3\nprovider = Other\nendpoint = {}\naccess_key_id = {}\nsecret_access_key = {}\nregion = garage\nforce_path_style = true\n",
            stack.garage.endpoint, stack.garage.key_id, stack.garage.secret
        ),
    )?;
    let (src_bucket, dst_bucket) = (bucket_of(&stack, "src"), bucket_of(&stack, "dst"));
    let rclone = |dest: &str, extra: &[&str]| {
        let mut c = Command::new("rclone");
        c.arg("--config")
            .arg(&conf)
            .arg("copy")
            .arg(format!("g:{src_bucket}/{instance}"))
            .arg(format!("g:{dst_bucket}/{dest}"))
            .args(extra);
        // Both buckets sit behind one endpoint here; without this rclone would
        // copy server-side, which two real regions cannot do.
        c.args(["--disable", "Copy"]);
        c.env_remove("AWS_CA_BUNDLE");
        c
    };
    let rclone_default = timed(
        "rclone copy (defaults)",
        garage.bytes,
        rclone("rclone-default", &[]),
    )?;
    let rclone_tuned = timed(
        "rclone copy (--transfers 16 --s3-upload-concurrency 8 --s3-chunk-size 16M)",
        garage.bytes,
        rclone(
            "rclone-tuned",
            &[
                "--transfers",
                "16",
                "--s3-upload-concurrency",
                "8",
                "--s3-chunk-size",
                "16M",
            ],
        ),
    )?;

    // file:// regions and cp -r.
    let (files, file_instance) = xregion_case(&stack, "fsrc", "fdst", full_size, logs).await?;
    let src_dir = stack
        .dir
        .path()
        .join("regions")
        .join("fsrc")
        .join(&file_instance);
    let cp_dest = stack.dir.path().join("cp-copy");
    let mut cp = Command::new("cp");
    cp.arg("-r").arg(&src_dir).arg(&cp_dest);
    let cp = timed("cp -r", files.bytes, cp)?;
    let rss = peak_rss_mib(worker_pid);

    println!(
        "\n{:<78} {:>10} {:>9} {:>10}",
        "case", "MB/s", "seconds", "vs xregion"
    );
    for (c, base) in [
        (&garage, &garage),
        (&rclone_default, &garage),
        (&rclone_tuned, &garage),
        (&files, &files),
        (&cp, &files),
    ] {
        println!(
            "{:<78} {:>10.1} {:>9.2} {:>10.2}",
            c.name,
            c.mbps(),
            c.secs,
            c.mbps() / base.mbps()
        );
    }
    println!(
        "\nratios: xregion / rclone tuned (Garage) = {:.2} (target >= 1.25)",
        garage.mbps() / rclone_tuned.mbps()
    );
    println!(
        "        xregion / rclone defaults (Garage) = {:.2}",
        garage.mbps() / rclone_default.mbps()
    );
    println!(
        "        xregion / cp -r (file://) = {:.2} (target >= 0.7)",
        files.mbps() / cp.mbps()
    );
    for c in [&garage, &files] {
        println!(
            "log lane while the FULL copies ({}): p50 {} ms, p99 {} ms (target p99 <= 1000)",
            c.name,
            c.log_p50_ms
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "n/a (FULL finished first)".into()),
            c.log_p99_ms
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "n/a".into())
        );
    }
    println!(
        "transfer-worker peak RSS: {} MiB (target <= 256)",
        rss.map(|r| format!("{r:.0}")).unwrap_or_else(|| "?".into())
    );
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_default()
    );
    Ok(())
}
