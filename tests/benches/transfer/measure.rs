//! What the benchmark measures besides wall time: CPU seconds of every
//! process taking part (from /proc, so the figures say where the cycles go),
//! latencies, and the worker's peak RSS.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use xregion_tests::stack::Stack;

pub struct Case {
    pub name: String,
    pub bytes: u64,
    pub secs: f64,
    /// CPU seconds per process group during the case.
    pub cpu: BTreeMap<String, f64>,
    pub log_p50_ms: Option<f64>,
    pub log_p99_ms: Option<f64>,
}

impl Case {
    pub fn mbps(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs
    }

    /// "worker 1.2, garage 3.4, …" as CPU seconds per GB moved.
    pub fn cpu_per_gb(&self) -> String {
        let gb = self.bytes as f64 / 1e9;
        let total: f64 = self.cpu.values().sum();
        let parts: Vec<String> = self
            .cpu
            .iter()
            .filter(|(_, s)| **s > 0.0)
            .map(|(k, s)| format!("{k} {:.2}", s / gb))
            .collect();
        format!("{:.2} ({})", total / gb, parts.join(", "))
    }
}

pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    Some(sorted[idx])
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime (+ waited-for children's) of a /proc stat line, in ticks.
fn stat_ticks(stat: &str, children: bool) -> Option<u64> {
    // Fields after the command name, which may hold spaces, in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|f| f.parse().ok())
        .collect();
    let [utime, stime, cutime, cstime] = fields[..] else {
        return None;
    };
    Some(utime + stime + if children { cutime + cstime } else { 0 })
}

/// CPU time of the stack's long-running processes, grouped.
pub struct CpuMeter {
    pids: Vec<(&'static str, u32)>,
    ticks: f64,
}

impl CpuMeter {
    pub fn new(stack: &mut Stack) -> anyhow::Result<Self> {
        let mut pids = vec![
            ("garage", stack.garage.process.pid()),
            ("nats", stack.nats.process.pid()),
        ];
        for (name, process) in stack.services.iter() {
            let group = if name == "transfer-worker" {
                "worker"
            } else {
                "services"
            };
            pids.push((group, process.pid()));
        }
        Ok(Self {
            pids: pids
                .into_iter()
                .filter_map(|(g, p)| p.map(|p| (g, p)))
                .collect(),
            ticks: clock_ticks(),
        })
    }

    /// Counts `pid`'s CPU in `group` too (a process the stack did not start).
    pub fn with(mut self, group: &'static str, pid: Option<u32>) -> Self {
        self.pids.extend(pid.map(|p| (group, p)));
        self
    }

    pub fn sample(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (group, pid) in &self.pids {
            let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| stat_ticks(&s, false))
                .unwrap_or(0);
            *out.entry(group.to_string()).or_insert(0.0) += ticks as f64 / self.ticks;
        }
        out
    }

    pub fn since(&self, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
        self.sample()
            .into_iter()
            .map(|(k, v)| {
                let b = before.get(&k).copied().unwrap_or(0.0);
                (k, v - b)
            })
            .collect()
    }
}

/// Times a command, and counts its CPU time (through a shell that reports
/// its waited-for children's times) besides the stack's.
pub fn timed(
    name: &str,
    bytes: u64,
    meter: &CpuMeter,
    program: &str,
    args: &[String],
) -> anyhow::Result<Case> {
    let before = meter.sample();
    let start = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg("\"$@\" || exit $?; cat /proc/$$/stat")
        .arg("sh")
        .arg(program)
        .args(args)
        .env_remove("AWS_CA_BUNDLE")
        .output()?;
    let secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cpu = meter.since(&before);
    let own = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .and_then(|l| stat_ticks(l, true))
        .unwrap_or(0);
    cpu.insert(program.to_string(), own as f64 / meter.ticks);
    Ok(Case {
        name: name.to_string(),
        bytes,
        secs,
        cpu,
        log_p50_ms: None,
        log_p99_ms: None,
    })
}

fn status_kib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Peak resident set since start or since the last reset, in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    status_kib(pid, "VmHWM:").map(|kib| kib / 1024.0)
}

/// Starts a new peak-RSS measurement for `pid` (Linux: clear_refs 5).
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_stat_lines() {
        let line = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 100 50 7 3 20 0";
        assert_eq!(super::stat_ticks(line, false), Some(150));
        assert_eq!(super::stat_ticks(line, true), Some(160));
    }
}
