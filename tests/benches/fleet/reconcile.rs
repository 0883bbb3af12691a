//! One reconciliation pass of the release backup-watcher over the whole
//! fleet: each service's source listed, its `service.json` written, its
//! pending backups asked of the catalog. The watcher logs each pass's
//! duration; its peak RSS comes from `/proc`.

use std::time::Duration;

use xregion_tests::{wait_until, Stack};

use crate::procfs;

/// The watcher's label in the stack while it is measured.
const LABEL: &str = "backup-watcher";

#[derive(Debug, Clone)]
pub struct PassFigures {
    pub concurrency: usize,
    pub services: u64,
    pub queued: u64,
    pub failed: u64,
    pub secs: f64,
    pub peak_mib: f64,
    pub cpu_secs: f64,
}

/// A number after `key` in a log line (`key=12` or `"key":12`).
fn field(line: &str, key: &str) -> Option<u64> {
    let at = line.find(key)? + key.len();
    let digits: String = line[at..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Starts the watcher with `concurrency`, waits for its first pass (which
/// starts one interval, 2 s, after it does), then stops it.
pub async fn one_pass(stack: &mut Stack, concurrency: usize) -> anyhow::Result<PassFigures> {
    let set = format!("watcher.reconcile_concurrency={concurrency}");
    let args = ["--set", "watcher.reconcile_interval_secs=2", "--set", &set];
    stack.start_service(LABEL, &args).await?;
    let pid = stack.service(LABEL)?.pid().expect("watcher pid");
    let log = stack.service(LABEL)?.log.clone();
    let line = wait_until("one reconciliation pass", Duration::from_secs(1800), || {
        let log = log.clone();
        async move {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            anyhow::ensure!(
                !text.contains("reconciliation failed"),
                "the pass failed: {log:?}"
            );
            Ok(text
                .lines()
                .find(|l| l.contains("reconciliation done"))
                .map(str::to_string))
        }
    })
    .await?;
    let figures = PassFigures {
        concurrency,
        services: field(&line, "services").unwrap_or(0),
        queued: field(&line, "queued").unwrap_or(0),
        failed: field(&line, "failed").unwrap_or(0),
        secs: field(&line, "elapsed_ms").unwrap_or(0) as f64 / 1000.0,
        peak_mib: procfs::peak_mib(pid),
        cpu_secs: procfs::cpu_secs(pid),
    };
    stack.kill(LABEL);
    // The next start logs to the same file: keep this run's apart.
    std::fs::rename(&log, log.with_extension(format!("c{concurrency}.log")))?;
    Ok(figures)
}

pub fn print(p: &PassFigures, target_secs: f64) {
    println!(
        "  concurrency {:>2}: {} services ({} queued, {} failed) in {:.1} s ({:.1} ms a service); watcher peak RSS {:.0} MiB, CPU {:.1} s; target <= {target_secs} s: {}",
        p.concurrency,
        p.services,
        p.queued,
        p.failed,
        p.secs,
        p.secs * 1000.0 / p.services.max(1) as f64,
        p.peak_mib,
        p.cpu_secs,
        if p.secs <= target_secs { "met" } else { "MISSED" }
    );
}
