//! WAN benchmark: xregion against `rclone copy` tuned, both writing to the
//! target region through the same WAN emulator (`xregion_tests::wan`: one-way
//! delay = RTT / 2, a per-connection bandwidth cap) in front of the target's
//! Garage endpoint; the source is read directly, as a worker running in the
//! source's region would. Reported as MB/s per tool per RTT, the ratio, CPU
//! seconds per GB of the copying process, and the log lane's latency while a
//! FULL copies against 2 × RTT + the log's own transfer time.
//!
//!   cargo xtask bench wan                         (scale 1, RTTs 0,40,150 ms)
//!   XREGION_BENCH_SCALE=0.05 XREGION_BENCH_RTTS=40 XREGION_BENCH_WORKLOADS=small cargo xtask bench wan
//!   XREGION_BENCH_WORKLOADS=mixed,small,latency   (default: all three)
//!   XREGION_BENCH_TOOLS=xregion,rclone            (default: both)
//!   XREGION_BENCH_CAP_MBPS=32                     (MB/s per connection and direction)
//!   XREGION_BENCH_WORKER="parts_in_flight = 8"    (TOML lines for [worker]; default: the shipped defaults)
//!   XREGION_BENCH_S3_OPTIONS="aws_unsigned_payload=true"
//!   XREGION_BENCH_RCLONE_TRANSFERS=128            (rclone's --transfers and --checkers)
//!   XREGION_BENCH_CHART=docs/wan.png              (default: target/bench-wan.png)

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a panic is a failure report

#[path = "../transfer/measure.rs"]
#[allow(dead_code)]
mod measure;
#[path = "../transfer/workload.rs"]
#[allow(dead_code)]
mod workload;

mod chart;
mod rclone;

use std::time::Duration;

use measure::{Case, CpuMeter};
use xregion_tests::metrics::s3_requests;
use xregion_tests::stack::{Stack, StackOptions};
use xregion_tests::wan::plan::{self, Row, Workload, RCLONE, XREGION};
use xregion_tests::wan::WanSettings;

/// How often a log is announced while the FULL copies.
const LOG_EVERY: Duration = Duration::from_millis(250);

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

/// Logs copied alone, one at a time, for the baseline of a latency phase.
const LOGS_ALONE: usize = 20;

/// A latency phase at one RTT.
struct Latency {
    rtt_ms: u64,
    logs: usize,
    /// The logs' p50 and p99 while a FULL copies.
    p50: f64,
    p99: f64,
    /// 2 × RTT + 8 MiB at the cap: the wire alone, nothing for the pipeline.
    wire_bound: f64,
    /// The same logs copied alone, one at a time: their own end-to-end time.
    alone_p50: f64,
    alone_p99: f64,
}

impl Latency {
    /// 2 × RTT + the log's own time measured alone (its p50) in this run.
    fn measured_bound(&self) -> f64 {
        2.0 * self.rtt_ms as f64 + self.alone_p50
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::set_var("XREGION_QUIET_LOGS", "1");
    let scale: f64 = env_or("XREGION_BENCH_SCALE", "1").parse()?;
    anyhow::ensure!(scale > 0.0 && scale <= 10.0, "scale {scale} out of (0, 10]");
    let rtts = plan::parse_rtts(&env_or("XREGION_BENCH_RTTS", "0,40,150"))?;
    let workloads =
        plan::parse_workloads(&env_or("XREGION_BENCH_WORKLOADS", "mixed,small,latency"))?;
    let cap_mbps: f64 = env_or("XREGION_BENCH_CAP_MBPS", "32").parse()?;
    anyhow::ensure!(cap_mbps > 0.0, "the cap must be above 0 MB/s");
    let cap = (cap_mbps * 1e6) as u64;
    let tools = env_or("XREGION_BENCH_TOOLS", "xregion,rclone");
    let run_xregion = tools.split(',').any(|t| t.trim() == "xregion");
    let run_rclone = tools.split(',').any(|t| t.trim() == "rclone");
    let s3_options: Vec<(String, String)> =
        env_or("XREGION_BENCH_S3_OPTIONS", "aws_unsigned_payload=true")
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
    let worker = env_or("XREGION_BENCH_WORKER", "");
    let rclone_transfers: usize = env_or(
        "XREGION_BENCH_RCLONE_TRANSFERS",
        &rclone::TRANSFERS.to_string(),
    )
    .parse()?;
    anyhow::ensure!(rclone_transfers > 0, "rclone needs at least one transfer");
    println!(
        "WAN: RTTs {:?} ms, {cap_mbps} MB/s per connection; workloads {:?} at scale {scale}; tools {tools}",
        rtts.iter().map(|r| r.as_millis()).collect::<Vec<_>>(),
        workloads.iter().map(|w| w.name()).collect::<Vec<_>>(),
    );
    println!(
        "worker: {}; S3 options: {s3_options:?}; rclone --transfers {rclone_transfers}",
        match worker.is_empty() {
            true => "shipped defaults".to_string(),
            false => worker.replace('\n', ", "),
        }
    );
    let mut stack = Stack::start(StackOptions {
        regions: vec!["src".into(), "dst".into()],
        wan_regions: vec!["dst".into()],
        extra_config: match worker.is_empty() {
            true => String::new(),
            false => format!("\n[worker]\n{worker}\n"),
        },
        s3_options,
        ..Default::default()
    })
    .await?;
    let meter = CpuMeter::new(&mut stack)?;
    let rclone = rclone::Rclone::new(&stack, "src", "dst", rclone_transfers)?;
    let mut rows: Vec<Row> = Vec::new();
    let mut latencies: Vec<Latency> = Vec::new();

    for rtt in &rtts {
        let rtt_ms = rtt.as_millis() as u64;
        let wan = stack.wan.as_ref().expect("the stack has a WAN proxy");
        wan.set(WanSettings::rtt(*rtt, Some(cap)));
        for &w in &workloads {
            let instance = format!("wan-{}-{rtt_ms}", w.name());
            if w == Workload::Latency {
                if run_xregion {
                    let mixed = plan::series(&rows, XREGION, Workload::Mixed);
                    let rate = mixed
                        .iter()
                        .find(|(r, _)| *r == rtt_ms as f64)
                        .map(|(_, mbps)| mbps * 1e6);
                    latencies
                        .push(latency(&stack, &meter, &instance, *rtt, scale, cap, rate).await?);
                }
                continue;
            }
            let (full, logs, log_size) = w.sizes(scale);
            let prepared =
                workload::prepare_sized(&stack, ("src", "dst"), &instance, full, logs, log_size)
                    .await?;
            let label = |tool: &str| format!("{tool}, {} at RTT {rtt_ms} ms", w.name());
            if run_xregion {
                let before = stack.garage.metrics().await?;
                let case = workload::burst(&stack, &prepared, &meter, &label(XREGION)).await?;
                rows.push(row(XREGION, w, rtt_ms, &case, "worker"));
                let after = stack.garage.metrics().await?;
                requests_per_backup(&before, &after, prepared.logs.len() + 1);
            }
            if run_rclone {
                let dest = format!("rclone-{instance}");
                let case =
                    rclone.copy(&label(RCLONE), &meter, &instance, &dest, prepared.bytes())?;
                rows.push(row(RCLONE, w, rtt_ms, &case, "rclone"));
            }
        }
    }

    report(&rows, &latencies);
    if !rows.is_empty() {
        let default_chart = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-wan.png");
        let path = std::path::PathBuf::from(env_or("XREGION_BENCH_CHART", default_chart));
        chart::draw(&rows, cap_mbps, scale, &path)?;
        println!("\nchart: {}", path.display());
    }
    println!("machine: {}", xregion_tests::machine::machine());
    Ok(())
}

/// S3 requests Garage served per backup during a case, by kind (source
/// and target together): what a backup costs in round trips.
fn requests_per_backup(before: &str, after: &str, backups: usize) {
    const KINDS: [&str; 8] = [
        "GetObject",
        "HeadObject",
        "PutObject",
        "DeleteObject",
        "ListObjectsV2",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    ];
    let per: Vec<String> = KINDS
        .iter()
        .filter_map(|kind| {
            let n = s3_requests(after, kind).saturating_sub(s3_requests(before, kind));
            (n > 0).then(|| format!("{kind} {:.1}", n as f64 / backups.max(1) as f64))
        })
        .collect();
    println!(
        "    S3 requests per backup (source and target): {}",
        per.join(", ")
    );
}

/// One table row from a case: MB/s and the copying process's CPU per GB.
fn row(tool: &'static str, workload: Workload, rtt_ms: u64, case: &Case, process: &str) -> Row {
    let gb = case.bytes as f64 / 1e9;
    let cpu = case.cpu.get(process).copied().unwrap_or(0.0);
    println!(
        "  {:<40} {:>8.1} MB/s {:>7.2} s   CPU s per GB {}",
        case.name,
        case.mbps(),
        case.secs,
        case.cpu_per_gb()
    );
    Row {
        tool,
        workload,
        rtt_ms,
        mbps: case.mbps(),
        cpu_per_gb: cpu / gb,
    }
}

/// Logs copied one at a time with nothing else running (their own time),
/// then a FULL with a LOG announced every 250 ms while it copies; the
/// logs' BackupCreated → BackupSynced during the FULL against 2 × RTT +
/// their own time, and against 2 × RTT + the bare wire time at the cap.
async fn latency(
    stack: &Stack,
    meter: &CpuMeter,
    instance: &str,
    rtt: Duration,
    scale: f64,
    cap: u64,
    measured_rate: Option<f64>,
) -> anyhow::Result<Latency> {
    let (full, _, log_size) = Workload::Latency.sizes(scale);
    let rtt_ms = rtt.as_millis() as u64;
    let alone = workload::prepare_sized(
        stack,
        ("src", "dst"),
        &format!("{instance}-alone"),
        log_size,
        LOGS_ALONE,
        log_size,
    )
    .await?;
    let alone = workload::logs_alone(
        stack,
        &alone,
        meter,
        LOG_EVERY,
        &format!("xregion, logs alone at RTT {rtt_ms} ms"),
    )
    .await?;
    println!(
        "  {}: log p50 {:.0} ms, p99 {:.0} ms",
        alone.name,
        alone.log_p50_ms.unwrap_or(f64::NAN),
        alone.log_p99_ms.unwrap_or(f64::NAN)
    );
    // Enough logs for the FULL to finish first: its time at the measured
    // rate (or at two connections' cap), with room to spare for a FULL
    // slowed by the logs copying beside it.
    let rate = measured_rate.unwrap_or(2.0 * cap as f64);
    let expected_secs = full as f64 / rate;
    let logs = (expected_secs * 3.0 / LOG_EVERY.as_secs_f64()) as usize + 8;
    let w = workload::prepare_sized(stack, ("src", "dst"), instance, full, logs, log_size).await?;
    let name = format!("xregion, FULL + logs at RTT {} ms", rtt.as_millis());
    let case = workload::logs_during_full(stack, &w, meter, LOG_EVERY, &name).await?;
    let bound = plan::latency_bound(rtt, log_size, cap).as_secs_f64() * 1000.0;
    let n = w.logs.len();
    // How long the FULL took against the mixed case's rate: what the logs
    // copying beside it cost it.
    println!(
        "  {}: log p50 {:.0} ms, p99 {:.0} ms (bound {bound:.0} ms); FULL and logs done in {:.2} s, the FULL alone at the mixed rate {expected_secs:.2} s",
        case.name,
        case.log_p50_ms.unwrap_or(f64::NAN),
        case.log_p99_ms.unwrap_or(f64::NAN),
        case.secs,
    );
    Ok(Latency {
        rtt_ms,
        logs: n,
        p50: case.log_p50_ms.unwrap_or(f64::NAN),
        p99: case.log_p99_ms.unwrap_or(f64::NAN),
        wire_bound: bound,
        alone_p50: alone.log_p50_ms.unwrap_or(f64::NAN),
        alone_p99: alone.log_p99_ms.unwrap_or(f64::NAN),
    })
}

fn report(rows: &[Row], latencies: &[Latency]) {
    println!(
        "\n{:<12} {:<12} {:>7} {:>9} {:>13}",
        "workload", "tool", "RTT ms", "MB/s", "CPU s per GB"
    );
    for r in rows {
        println!(
            "{:<12} {:<12} {:>7} {:>9.1} {:>13.2}",
            r.workload.name(),
            r.tool,
            r.rtt_ms,
            r.mbps,
            r.cpu_per_gb
        );
    }
    let ratios = plan::ratios(rows);
    if !ratios.is_empty() {
        println!("\nxregion / rclone tuned (throughput; CPU per GB, target <= 1):");
    }
    for (w, rtt_ms, ratio, cpu) in ratios {
        let target = match plan::throughput_target(rtt_ms, ratio) {
            Some(true) => "target >= 1.25: met",
            Some(false) => "target >= 1.25: MISSED",
            None => "no target at this RTT",
        };
        println!(
            "  {:<12} RTT {rtt_ms:>4} ms: {ratio:.2} ({target}); CPU {cpu:.2}{}",
            w.name(),
            if cpu <= 1.0 { "" } else { " MISSED" }
        );
    }
    if !latencies.is_empty() {
        println!("\nlog lane while a FULL copies (BackupCreated -> BackupSynced):");
    }
    let verdict = |p99: f64, bound: f64| if p99 <= bound { "met" } else { "MISSED" };
    for l in latencies {
        println!(
            "  RTT {:>4} ms, {} logs prepared: p50 {:.0} ms, p99 {:.0} ms; alone p50 {:.0} ms, p99 {:.0} ms",
            l.rtt_ms, l.logs, l.p50, l.p99, l.alone_p50, l.alone_p99
        );
        println!(
            "    bound 2 x RTT + own time alone (p50) {:.0} ms: {}; 2 x RTT + 8 MiB at the cap {:.0} ms: {}",
            l.measured_bound(),
            verdict(l.p99, l.measured_bound()),
            l.wire_bound,
            verdict(l.p99, l.wire_bound)
        );
    }
}
