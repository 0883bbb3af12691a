//! What `/proc` says about a process: its peak and current memory, and the
//! CPU time it has used (to see where a run's time went on two cores).

/// A `Vm…:` line of `/proc/<pid>/status`, in MiB.
fn status_mib(pid: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Peak resident memory (VmHWM) in MiB.
pub fn peak_mib(pid: u32) -> f64 {
    status_mib(&pid.to_string(), "VmHWM:").unwrap_or(f64::NAN)
}

/// Resident memory of this process now (VmRSS) in MiB.
pub fn own_rss_mib() -> f64 {
    status_mib("self", "VmRSS:").unwrap_or(f64::NAN)
}

/// Peak resident memory of this process (VmHWM) in MiB.
pub fn own_peak_mib() -> f64 {
    status_mib("self", "VmHWM:").unwrap_or(f64::NAN)
}

/// Resets this process's VmHWM to its current RSS (Linux `clear_refs` 5),
/// so a later peak is the peak of what ran in between.
pub fn reset_own_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// User plus system CPU seconds a process has used so far.
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after ')'.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0 // USER_HZ
}

/// Every process whose command line contains `needle` (nats-server,
/// postgres): their CPU seconds, summed.
pub fn cpu_secs_of(needle: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return f64::NAN;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .map(cpu_secs)
        .sum()
}

/// The machine's busy and total CPU ticks so far (`/proc/stat`), to tell a
/// run's share of both cores from the part other work took.
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    // idle and iowait
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (total - idle, total)
}
