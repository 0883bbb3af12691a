//! The WAN benchmark's pure part (`tests/benches/wan`): what a run does,
//! read from the environment, and what its figures mean. Here rather than
//! in the bench so its unit tests run (a bench without the test harness
//! never runs them).

use std::time::Duration;

pub const MIB: usize = 1024 * 1024;
pub const KIB: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Workload {
    /// A FULL of 2 GiB and 500 LOGs of 8 MiB, everything announced at once.
    Mixed,
    /// 5,000 LOGs of 256 KiB (after a FULL of one log's size).
    Small,
    /// A FULL with a LOG announced every 250 ms while it copies.
    Latency,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Mixed => "mixed",
            Workload::Small => "small-logs",
            Workload::Latency => "latency",
        }
    }

    /// (FULL bytes, LOG count, bytes per LOG) at `scale`.
    pub fn sizes(self, scale: f64) -> (usize, usize, usize) {
        let scaled = |n: f64, min: usize| ((n * scale) as usize).max(min);
        match self {
            Workload::Mixed => (scaled(2048.0, 16) * MIB, scaled(500.0, 4), 8 * MIB),
            Workload::Small => (256 * KIB, scaled(5000.0, 20), 256 * KIB),
            // Long enough for a few dozen logs at the cap.
            Workload::Latency => (scaled(2048.0, 128) * MIB, 0, 8 * MIB),
        }
    }
}

pub fn parse_workloads(text: &str) -> anyhow::Result<Vec<Workload>> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let w = match item {
            "mixed" => Workload::Mixed,
            "small" | "small-logs" => Workload::Small,
            "latency" => Workload::Latency,
            other => anyhow::bail!("unknown workload {other:?} (mixed, small, latency)"),
        };
        if !out.contains(&w) {
            out.push(w);
        }
    }
    anyhow::ensure!(!out.is_empty(), "no workload in {text:?}");
    Ok(out)
}

/// Round-trip times in ms, e.g. "0,40,150"; sorted, each at most 2 s.
pub fn parse_rtts(text: &str) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let ms: u64 = item
            .parse()
            .map_err(|_| anyhow::anyhow!("RTT {item:?} is not a whole number of ms"))?;
        anyhow::ensure!(ms <= 2000, "RTT {ms} ms is over 2000 ms");
        out.push(Duration::from_millis(ms));
    }
    anyhow::ensure!(!out.is_empty(), "no RTT in {text:?}");
    out.sort();
    out.dedup();
    Ok(out)
}

/// The log-latency target: two round trips and the log's own transfer at
/// the per-connection cap.
pub fn latency_bound(rtt: Duration, log_bytes: usize, cap_bytes_per_sec: u64) -> Duration {
    2 * rtt + Duration::from_secs_f64(log_bytes as f64 / cap_bytes_per_sec.max(1) as f64)
}

/// One measured copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub tool: &'static str,
    pub workload: Workload,
    pub rtt_ms: u64,
    pub mbps: f64,
    /// CPU seconds per GB of the copying process (the worker or rclone).
    pub cpu_per_gb: f64,
}

pub const XREGION: &str = "xregion";
pub const RCLONE: &str = "rclone tuned";

fn find<'a>(rows: &'a [Row], tool: &str, workload: Workload, rtt_ms: u64) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.tool == tool && r.workload == workload && r.rtt_ms == rtt_ms)
}

/// xregion / rclone for every (workload, RTT) measured with both:
/// (workload, rtt ms, throughput ratio, CPU per GB ratio).
pub fn ratios(rows: &[Row]) -> Vec<(Workload, u64, f64, f64)> {
    let mut out = Vec::new();
    for x in rows.iter().filter(|r| r.tool == XREGION) {
        if let Some(r) = find(rows, RCLONE, x.workload, x.rtt_ms) {
            out.push((
                x.workload,
                x.rtt_ms,
                x.mbps / r.mbps,
                x.cpu_per_gb / r.cpu_per_gb,
            ));
        }
    }
    out
}

/// Whether a throughput ratio at this RTT meets the target (≥ 1.25 at a
/// RTT of 40 ms or more; below that there is no target).
pub fn throughput_target(rtt_ms: u64, ratio: f64) -> Option<bool> {
    (rtt_ms >= 40).then_some(ratio >= 1.25)
}

/// The chart's points of one tool and workload: (RTT ms, MB/s) by RTT.
pub fn series(rows: &[Row], tool: &str, workload: Workload) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.tool == tool && r.workload == workload)
        .map(|r| (r.rtt_ms as f64, r.mbps))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtts_parse_sort_and_refuse_nonsense() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|m| Duration::from_millis(*m))
                .collect::<Vec<_>>()
        };
        assert_eq!(parse_rtts("150, 0,40,40").unwrap(), ms(&[0, 40, 150]));
        assert!(parse_rtts("").is_err());
        assert!(parse_rtts("40ms").is_err());
        assert!(parse_rtts("-1").is_err());
        assert!(parse_rtts("5000").is_err());
    }

    #[test]
    fn workloads_parse_and_refuse_unknown_names() {
        assert_eq!(
            parse_workloads("small, mixed,small").unwrap(),
            vec![Workload::Small, Workload::Mixed]
        );
        assert!(parse_workloads("big").is_err());
        assert!(parse_workloads(" , ").is_err());
    }

    #[test]
    fn sizes_scale_with_a_floor() {
        assert_eq!(Workload::Mixed.sizes(1.0), (2048 * MIB, 500, 8 * MIB));
        assert_eq!(Workload::Mixed.sizes(0.1), (204 * MIB, 50, 8 * MIB));
        assert_eq!(Workload::Mixed.sizes(0.0001), (16 * MIB, 4, 8 * MIB));
        assert_eq!(Workload::Small.sizes(0.1), (256 * KIB, 500, 256 * KIB));
    }

    #[test]
    fn latency_bound_is_two_round_trips_and_the_transfer() {
        let b = latency_bound(Duration::from_millis(40), 8 * MIB, 32_000_000);
        assert_eq!(b.as_millis(), 80 + 262);
        assert_eq!(
            latency_bound(Duration::ZERO, 0, 0),
            Duration::ZERO,
            "a zero cap does not divide by zero"
        );
    }

    fn row(tool: &'static str, workload: Workload, rtt_ms: u64, mbps: f64, cpu: f64) -> Row {
        Row {
            tool,
            workload,
            rtt_ms,
            mbps,
            cpu_per_gb: cpu,
        }
    }

    #[test]
    fn ratios_pair_the_same_workload_and_rtt_only() {
        let rows = vec![
            row(XREGION, Workload::Mixed, 40, 150.0, 1.0),
            row(RCLONE, Workload::Mixed, 40, 100.0, 2.0),
            row(RCLONE, Workload::Mixed, 150, 80.0, 2.0),
            row(XREGION, Workload::Small, 40, 10.0, 1.0),
        ];
        assert_eq!(ratios(&rows), vec![(Workload::Mixed, 40, 1.5, 0.5)]);
        assert_eq!(throughput_target(40, 1.5), Some(true));
        assert_eq!(throughput_target(150, 1.2), Some(false));
        assert_eq!(throughput_target(0, 0.5), None);
    }

    #[test]
    fn series_are_sorted_by_rtt_for_one_tool_and_workload() {
        let rows = vec![
            row(RCLONE, Workload::Mixed, 150, 80.0, 2.0),
            row(RCLONE, Workload::Mixed, 0, 200.0, 2.0),
            row(XREGION, Workload::Mixed, 40, 150.0, 1.0),
        ];
        assert_eq!(
            series(&rows, RCLONE, Workload::Mixed),
            vec![(0.0, 200.0), (150.0, 80.0)]
        );
        assert!(series(&rows, XREGION, Workload::Small).is_empty());
    }
}
