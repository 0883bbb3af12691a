//! Applies a MySQL restore plan to a fresh MariaDB server: load the FULL
//! (an SQL dump), then replay the binlogs with `mariadb-binlog` from the
//! FULL's consistent point up to the first transaction at or after the
//! restore time (found by position, see [`apply`]: not `--stop-datetime`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::Context as _;

/// The variables a database tool may see: none of this process's others
/// (store options, keys, tokens live there; SQL from the store could read
/// a server's environment).
const PASSED_ENV: [&str; 3] = ["PATH", "HOME", "TZ"];

/// A database tool with an environment of [`PASSED_ENV`] only.
pub fn tool(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env_clear();
    for name in PASSED_ENV {
        if let Some(value) = std::env::var_os(name) {
            c.env(name, value);
        }
    }
    c
}

/// How to log in to a server: the user's own (`--mariadb-socket`: root
/// over its socket, as the user set it up) or a private server this
/// process started (a temporary account from an option file, never the
/// restored data's own grants).
#[derive(Debug, Clone)]
pub struct Login {
    pub socket: PathBuf,
    option_file: Option<PathBuf>,
}

impl Login {
    pub fn root(socket: &Path) -> Self {
        Self {
            socket: socket.to_path_buf(),
            option_file: None,
        }
    }

    /// The account in `option_file` (a `[client]` section with user and password).
    pub fn with_option_file(socket: &Path, option_file: &Path) -> Self {
        Self {
            socket: socket.to_path_buf(),
            option_file: Some(option_file.to_path_buf()),
        }
    }
}

/// The MariaDB client for restored SQL. Dumps and binlogs come from the
/// store, which whoever can write the bucket controls: `--sandbox` refuses
/// the client's own commands that reach the file system or a shell (`\!`,
/// `system`, `source`, `tee`, ...), so loading them can only run SQL in the
/// server, never commands on this host.
fn client(login: &Login) -> Command {
    let mut c = tool("mariadb");
    match &login.option_file {
        // Must come first; the only option file read.
        Some(file) => c.arg(format!("--defaults-file={}", file.display())),
        None => c.arg("-uroot"),
    };
    c.arg(format!("--socket={}", login.socket.display()))
        .arg("--sandbox");
    c
}

/// `out` when its program succeeded; else the error `<what>: <its stderr>`.
pub fn succeeded(out: Output, what: impl std::fmt::Display) -> anyhow::Result<Output> {
    anyhow::ensure!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

/// One statement; returns its rows, tab-separated and trimmed.
pub fn query(login: &Login, sql: &str) -> anyhow::Result<String> {
    let out = client(login).args(["-N", "-B", "-e", sql]).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub fn apply(
    login: &Login,
    full: &Path,
    start_position: u64,
    binlogs: &[PathBuf],
    stop_at_ms: i64,
) -> anyhow::Result<()> {
    let dump = std::fs::File::open(full).with_context(|| format!("opening {}", full.display()))?;
    let out = client(login)
        .stdin(dump)
        .output()
        .context("running mariadb")?;
    succeeded(out, "loading the FULL failed")?;
    replay(login, start_position, binlogs, stop_at_ms)
}

/// Replays `binlogs` (in order) into the server from `start_position` of
/// the first up to the first transaction at or after `stop_at_ms`.
pub fn replay(
    login: &Login,
    start_position: u64,
    binlogs: &[PathBuf],
    stop_at_ms: i64,
) -> anyhow::Result<()> {
    if binlogs.is_empty() {
        return Ok(());
    }
    // Binlogs also hold events stamped when the file was opened (format
    // description, rotation), so `--stop-datetime` would stop at once; the
    // stop is found as the position of the first transaction at or after
    // the restore time.
    let stop = stop_point(binlogs, start_position, stop_at_ms)?;
    let (files, stop_position) = match stop {
        Some((index, position)) => (&binlogs[..=index], Some(position)),
        None => (binlogs, None),
    };
    let mut decode = tool("mariadb-binlog");
    decode
        .env("TZ", "UTC")
        .arg(format!("--start-position={start_position}"));
    if let Some(p) = stop_position {
        decode.arg(format!("--stop-position={p}"));
    }
    // --start-position applies to the first file named, --stop-position to the last.
    decode
        .args(files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut decoder = decode.spawn().context("running mariadb-binlog")?;
    let events = decoder
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no output from mariadb-binlog"))?;
    let replay = client(login)
        .stdin(events)
        .output()
        .context("replaying into mariadb")?;
    succeeded(decoder.wait_with_output()?, "mariadb-binlog failed")?;
    succeeded(replay, "replaying binlogs failed")?;
    Ok(())
}

/// (file index, position) of the first transaction stamped at or after
/// `stop_at_ms`; None when every transaction is before it.
fn stop_point(
    binlogs: &[PathBuf],
    start_position: u64,
    stop_at_ms: i64,
) -> anyhow::Result<Option<(usize, u64)>> {
    for (index, file) in binlogs.iter().enumerate() {
        let mut cmd = tool("mariadb-binlog");
        cmd.env("TZ", "UTC");
        if index == 0 {
            cmd.arg(format!("--start-position={start_position}"));
        }
        let out = cmd.arg(file).output().context("reading a binlog")?;
        let out = succeeded(out, format_args!("mariadb-binlog {}", file.display()))?;
        let mut at = None;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(p) = line.strip_prefix("# at ") {
                at = p.trim().parse::<u64>().ok();
            } else if line.starts_with('#')
                && line.contains("server id")
                && line.contains("\tGTID ")
            {
                if let (Some(ts), Some(pos)) = (event_time_ms(line), at) {
                    if ts >= stop_at_ms {
                        return Ok(Some((index, pos)));
                    }
                }
            }
        }
    }
    Ok(None)
}

/// The time of an event header line: `#YYMMDD HH:MM:SS server id …` (UTC;
/// the hour may be space-padded).
fn event_time_ms(line: &str) -> Option<i64> {
    let mut parts = line.trim_start_matches('#').split_whitespace();
    let date = chrono::NaiveDate::parse_from_str(parts.next()?, "%y%m%d").ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    Some(date.and_hms_opt(h, m, s)?.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_see_no_variable_of_this_process_but_path_home_tz() {
        // The test process has CARGO_* variables and more: none may pass.
        let out = tool("env").output().unwrap();
        let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
            .collect();
        assert!(!names.is_empty(), "PATH passes");
        for name in &names {
            assert!(PASSED_ENV.contains(&name.as_str()), "{name} reached a tool");
        }
    }

    #[test]
    fn reads_event_header_times() {
        let line =
            "#251126  9:05:01 server id 1  end_log_pos 428 CRC32 0x1a2b3c4d \tGTID 0-1-2 trans";
        let want = chrono::NaiveDate::from_ymd_opt(2025, 11, 26)
            .unwrap()
            .and_hms_opt(9, 5, 1)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        assert_eq!(event_time_ms(line), Some(want));
        assert_eq!(event_time_ms("# at 4"), None);
    }
}
