//! Transfer benchmark: xregion against rclone (defaults and tuned) between
//! two Garage regions, and against `cp -r` between two `file://` regions, all
//! in one run on this machine, and a server-side copy between two buckets
//! of the one Garage (phase ssc, against the streamed copy of phase s3),
//! reported as MB/s and ratios with the CPU time each process spent; plus
//! the log lane's latency while a FULL copies and the worker's peak RSS
//! while it copies a 4 GiB file. Phase enc copies into a second Garage,
//! plain and encrypted, so that the store writes every block in both.
//!
//!   cargo xtask bench transfer              (scale 1: a 2 GiB FULL and 500 LOGs of 8 MiB)
//!   XREGION_BENCH_SCALE=0.1 cargo xtask bench transfer
//!   XREGION_BENCH_S3_OPTIONS="aws_checksum_algorithm=,aws_unsigned_payload=true"
//!   XREGION_BENCH_WORKER="parts_in_flight = 4"
//!   XREGION_BENCH_ONLY=files              (phases: s3, ssc, enc, files, latency)
//!   XREGION_BENCH_LOGS=/tmp/logs          (keep the services' logs)
//!   XREGION_BENCH_LOG_BYTES=8389608       (LOG size; default 8 MiB)
//!
//! Needs release binaries (`cargo build --release --bins`, done by xtask) and
//! rclone (Debian's package; xtask installs it when missing).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a panic is a failure report

mod encryption;
mod measure;
mod workload;

use std::time::Duration;

use measure::{peak_rss_mib, reset_peak_rss, timed, Case, CpuMeter};
use workload::{burst, logs_during_full, prepare, MIB};
use xregion_tests::stack::{Stack, StackOptions};

/// How often a log is announced while the big FULL copies.
const LOG_EVERY: Duration = Duration::from_millis(250);

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

fn bucket_of(stack: &Stack, region: &str) -> String {
    let url = &stack.region(region).unwrap().url;
    url.trim_start_matches("s3://").to_string()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::set_var("XREGION_QUIET_LOGS", "1");
    let scale: f64 = env_or("XREGION_BENCH_SCALE", "1").parse()?;
    let full_size = ((2048.0 * scale) as usize).max(16) * MIB;
    let big_full = ((4096.0 * scale) as usize).max(32) * MIB;
    let logs = ((500.0 * scale) as usize).max(4);
    // Per-part sha256 checksums stay on (the harness sets them); the payload
    // is not signed a second time (README, Configuration).
    let s3_options: Vec<(String, String)> =
        env_or("XREGION_BENCH_S3_OPTIONS", "aws_unsigned_payload=true")
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
    let worker = env_or(
        "XREGION_BENCH_WORKER",
        "full_concurrency = 2\nlog_concurrency = 8\npart_size_mib = 8\nparts_in_flight = 8",
    );
    println!(
        "workload: one FULL of {} MiB and {logs} LOGs of 8 MiB (scale {scale}); then a FULL of {} MiB with a LOG every {} ms",
        full_size / MIB,
        big_full / MIB,
        LOG_EVERY.as_millis()
    );
    println!("worker: {}", worker.replace('\n', ", "));
    println!("S3 options: {s3_options:?}");
    // In memory (tmpfs) when there is one: on disk, both copies end up
    // waiting for the VM's disk write-back, and the ratio measures that.
    let file_base = env_or("XREGION_BENCH_FILE_DIR", "/dev/shm");
    let file_root = tempfile::Builder::new()
        .prefix("xregion-bench-")
        .tempdir_in(&file_base)
        .or_else(|_| tempfile::tempdir())?;
    println!("file:// regions under {}", file_root.path().display());
    // Phase enc copies into a second Garage: Garage keeps one copy of a
    // block, so a plain copy between two of its buckets writes no block
    // (it holds the source's already) while ciphertext is all new blocks;
    // between two stores both write every byte, as between real regions.
    // Started only when phase enc runs.
    let only = env_or("XREGION_BENCH_ONLY", "s3,ssc,enc,files,latency");
    let phase = |name: &str| only.split(',').any(|p| p.trim() == name);
    let far_dir = tempfile::tempdir()?;
    let far = if phase("enc") {
        Some(xregion_tests::garage::Garage::start(far_dir.path()).await?)
    } else {
        None
    };
    let extra_regions = match &far {
        Some(far) => vec![far.region("far")?, far.region("enc")?],
        None => Vec::new(),
    };
    let mut stack = Stack::start(StackOptions {
        regions: vec!["src".into(), "dst".into(), "ssc".into()],
        extra_regions,
        // Started below, once region enc has its key.
        services: Vec::new(),
        file_regions: vec!["fsrc".into(), "fdst".into()],
        // src -> ssc is copied inside Garage (server-side copy).
        extra_config: format!(
            "\n[worker]\n{worker}\nserver_side_copy = [{{ source = \"src\", target = \"ssc\" }}]\n"
        ),
        s3_options,
        file_region_root: Some(file_root.path().to_path_buf()),
        ..Default::default()
    })
    .await?;
    // Region enc encrypts at rest: its key is written into the
    // configuration before any service reads it.
    if far.is_some() {
        encryption::encrypt_region(&stack, "enc")?;
    }
    for s in StackOptions::default().services {
        stack.start_service(s, &[]).await?;
    }
    let far_pid = far.as_ref().and_then(|f| f.process.pid());
    let meter = CpuMeter::new(&mut stack)?.with("far garage", far_pid);
    let worker_pid = stack.service("transfer-worker")?.pid().unwrap();
    let mut rows: Vec<(Case, usize)> = Vec::new();
    let mut ratios = Vec::new();

    // Garage to Garage: xregion, then rclone on the same objects.
    let mut s3_mbps = None;
    if phase("s3") {
        let w = prepare(&stack, ("src", "dst"), "bench-s3", full_size, logs).await?;
        let garage = burst(&stack, &w, &meter, "xregion, Garage -> Garage").await?;
        let (default, tuned) = rclone_cases(&stack, &meter, &w.instance, garage.bytes)?;
        s3_mbps = Some(garage.mbps());
        ratios.push(format!(
            "xregion / rclone tuned (Garage) = {:.2} (target >= 1.25)",
            garage.mbps() / tuned.mbps()
        ));
        ratios.push(format!(
            "xregion / rclone defaults (Garage) = {:.2}",
            garage.mbps() / default.mbps()
        ));
        let base = rows.len();
        rows.extend([(garage, base), (default, base), (tuned, base)]);
    }

    // Server-side copy between two buckets of the one Garage: the same
    // workload, no byte through the worker; compared with the streamed copy.
    if phase("ssc") {
        let w = prepare(&stack, ("src", "ssc"), "bench-ssc", full_size, logs).await?;
        let inside = burst(
            &stack,
            &w,
            &meter,
            "xregion, Garage -> Garage, server-side copy",
        )
        .await?;
        let base = match rows.first() {
            Some((streamed, _)) => {
                ratios.push(format!(
                    "xregion server-side / streamed (Garage) = {:.2}",
                    inside.mbps() / streamed.mbps()
                ));
                0
            }
            None => rows.len(),
        };
        rows.push((inside, base));
    }

    // Garage to a second Garage, plain (region far) and encrypting at rest
    // (region enc): the same workload sealed on the way, against plain
    // copies of fresh workloads right before and right after it; and the
    // raw rates of sealing and hashing on this machine.
    if phase("enc") {
        let plain = |name: &'static str| {
            let (stack, meter) = (&stack, &meter);
            async move {
                let w = prepare(stack, ("src", "far"), name, full_size, logs).await?;
                burst(stack, &w, meter, "xregion, Garage -> second Garage, plain").await
            }
        };
        // Bytes of blocks the second Garage wrote: every byte copied, plain
        // or sealed (a Garage writes a block it already holds only once).
        let far = far.as_ref().expect("started for phase enc");
        let blocks = || async {
            let text = far.metrics().await?;
            anyhow::Ok(xregion_tests::metrics::counter(
                &text,
                "block_bytes_written",
                "",
            ))
        };
        let mut written = Vec::new();
        let b0 = blocks().await?;
        let before = plain("bench-enc-before").await?;
        written.push(("plain before", blocks().await? - b0, before.bytes));
        let w = prepare(&stack, ("src", "enc"), "bench-enc", full_size, logs).await?;
        let b1 = blocks().await?;
        let sealed = burst(
            &stack,
            &w,
            &meter,
            "xregion, Garage -> second Garage, encrypted at rest",
        )
        .await?;
        written.push(("encrypted", blocks().await? - b1, sealed.bytes));
        let b2 = blocks().await?;
        let after = plain("bench-enc-after").await?;
        written.push(("plain after", blocks().await? - b2, after.bytes));
        for (case, blocks, copied) in written {
            ratios.push(format!(
                "Garage block bytes written during the {case} copy: {:.0} MB for {:.0} MB copied",
                blocks as f64 / 1e6,
                copied as f64 / 1e6
            ));
        }
        let beside = (before.mbps() + after.mbps()) / 2.0;
        ratios.push(format!(
            "xregion encrypted / plain beside it (Garage) = {:.2} (target >= 0.85; plain {:.0} before, {:.0} after)",
            sealed.mbps() / beside,
            before.mbps(),
            after.mbps()
        ));
        let base = rows.len();
        rows.extend([(before, base), (sealed, base), (after, base)]);
        let (seal, sha) = encryption::raw_rates();
        ratios.push(format!(
            "one core in process: AES-256-GCM sealing {seal:.0} MB/s, sha256 {sha:.0} MB/s"
        ));
    }

    // file:// to file://, and cp -r of the same folder.
    if phase("files") {
        let fw = prepare(&stack, ("fsrc", "fdst"), "bench-files", full_size, logs).await?;
        let cp_dest = file_root.path().join("cp-copy");
        let cp_args = [
            "-r".to_string(),
            file_root
                .path()
                .join("fsrc")
                .join(&fw.instance)
                .display()
                .to_string(),
            cp_dest.display().to_string(),
        ];
        // Untimed warm-up: in a VM, memory the guest touches for the first
        // time is slow to write (the host backs it then), and whichever copy
        // ran first paid for that; now both write into memory touched before.
        timed("warm-up", 0, &meter, "cp", &cp_args)?;
        std::fs::remove_dir_all(&cp_dest)?;
        flush_page_cache()?;
        let files = burst(&stack, &fw, &meter, "xregion, file -> file").await?;
        // Only one copy at a time in memory.
        std::fs::remove_dir_all(file_root.path().join("fdst"))?;
        flush_page_cache()?;
        let cp = timed("cp -r", files.bytes, &meter, "cp", &cp_args)?;
        std::fs::remove_dir_all(&cp_dest)?;
        ratios.push(format!(
            "xregion / cp -r (file://) = {:.2} (target >= 0.7)",
            files.mbps() / cp.mbps()
        ));
        let base = rows.len();
        rows.extend([(files, base), (cp, base)]);
    }
    let burst_rss = peak_rss_mib(worker_pid);

    // A FULL twice the size, with logs arriving while it copies.
    let mut latency = None;
    let mut big_rss = None;
    let mut rss_reset = false;
    if phase("latency") {
        let expected_secs = big_full as f64 / 1e6 / s3_mbps.unwrap_or(150.0);
        let trickle_logs = (expected_secs * 2.0 / LOG_EVERY.as_secs_f64()) as usize + 8;
        let tw = prepare(&stack, ("src", "dst"), "bench-lat", big_full, trickle_logs).await?;
        rss_reset = reset_peak_rss(worker_pid);
        let case = logs_during_full(&stack, &tw, &meter, LOG_EVERY, "xregion, FULL + logs").await?;
        big_rss = peak_rss_mib(worker_pid);
        latency = Some((case.log_p50_ms, case.log_p99_ms));
        rows.push((case, rows.len()));
    }

    report(&rows);
    let ms = |v: Option<f64>| v.map(|v| format!("{v:.0} ms")).unwrap_or("n/a".into());
    if let Some((p50, p99)) = latency {
        println!(
            "\nlog lane while the FULL copies: p50 {}, p99 {} (target p99 <= 1000 ms)",
            ms(p50),
            ms(p99)
        );
    }
    for (i, r) in ratios.iter().enumerate() {
        println!("{} {r}", if i == 0 { "\nratios:" } else { "       " });
    }
    let mib = |v: Option<f64>| v.map(|r| format!("{r:.0} MiB")).unwrap_or("?".into());
    println!(
        "transfer-worker peak RSS: {} while copying the {} MiB FULL (target <= 256){}; {} over the bursts before",
        mib(big_rss),
        big_full / MIB,
        if rss_reset { "" } else { " [peak not reset: whole run]" },
        mib(burst_rss),
    );
    println!("machine: {}", xregion_tests::machine::machine());
    if let Ok(dir) = std::env::var("XREGION_BENCH_LOGS") {
        std::fs::create_dir_all(&dir)?;
        for process in stack.services.values() {
            let _ = std::fs::copy(
                &process.log,
                std::path::Path::new(&dir).join(format!("{}.log", process.name)),
            );
        }
    }
    Ok(())
}

/// `rclone copy` of the instance's objects to the target bucket, with
/// rclone's defaults and tuned.
fn rclone_cases(
    stack: &Stack,
    meter: &CpuMeter,
    instance: &str,
    bytes: u64,
) -> anyhow::Result<(Case, Case)> {
    let conf = stack.dir.path().join("rclone.conf");
    std::fs::write(
        &conf,
        format!(
            "[g]\ntype = s3\nprovider = Other\nendpoint = {}\naccess_key_id = {}\nsecret_access_key = {}\nregion = garage\nforce_path_style = true\n",
            stack.garage.endpoint, stack.garage.key_id, stack.garage.secret
        ),
    )?;
    let (src_bucket, dst_bucket) = (bucket_of(stack, "src"), bucket_of(stack, "dst"));
    let args = |dest: &str, extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--config".into(),
            conf.display().to_string(),
            "copy".into(),
            format!("g:{src_bucket}/{instance}"),
            format!("g:{dst_bucket}/{dest}"),
            // Both buckets sit behind one endpoint here; without this rclone
            // would copy server-side, which two real regions cannot do.
            "--disable".into(),
            "Copy".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let default = timed(
        "rclone copy (defaults)",
        bytes,
        meter,
        "rclone",
        &args("rclone-default", &[]),
    )?;
    let tuned = timed(
        "rclone copy (tuned: --transfers 16 --s3-upload-concurrency 8 --s3-chunk-size 16M)",
        bytes,
        meter,
        "rclone",
        &args(
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
    Ok((default, tuned))
}

fn flush_page_cache() -> anyhow::Result<()> {
    anyhow::ensure!(
        std::process::Command::new("sync").status()?.success(),
        "sync failed"
    );
    Ok(())
}

fn report(rows: &[(Case, usize)]) {
    println!(
        "\n{:<84} {:>8} {:>8} {:>6}  CPU s per GB (total and by process)",
        "case", "MB/s", "seconds", "ratio"
    );
    for (c, base) in rows {
        println!(
            "{:<84} {:>8.1} {:>8.2} {:>6.2}  {}",
            c.name,
            c.mbps(),
            c.secs,
            c.mbps() / rows[*base].0.mbps(),
            c.cpu_per_gb()
        );
    }
}
