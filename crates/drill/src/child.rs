//! Running `xregion drill` as a child process: the store's options go in
//! its environment (argv is world-readable in /proc, the environment is
//! not), its output is read bounded, and a drill past its time limit is
//! killed with everything it started (its own process group: the
//! throwaway server too) and counts as failed.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use xregion_common::encryption::RegionEncryption;

use crate::report::{self, Outcome, MAX_OUTPUT};

/// The variable `xregion` reads `--store-option`s from, one `KEY=VALUE` a line.
pub const STORE_OPTIONS_ENV: &str = "XREGION_STORE_OPTIONS";

/// What to drill and where.
#[derive(Debug, Clone)]
pub struct DrillRun<'a> {
    pub cli: &'a Path,
    pub store_url: &'a str,
    pub store_options: &'a BTreeMap<String, String>,
    pub instance_id: &'a str,
    pub service_id: &'a str,
    /// `--key-file`/`--key-env` arguments for an encrypted target
    /// ([`key_args`]): paths and variable names, never key material.
    pub key_args: &'a [String],
    pub timeout: Duration,
    /// The point to restore (unix ms): the catalog's latest data time.
    pub point: i64,
    /// Where the drill's private temporary folder is made.
    pub tmp_root: &'a Path,
}

/// The CLI's key arguments for a region's encryption: every key (current
/// and earlier rotations) by its file or by the name of the variable this
/// process and so the child has it in.
pub fn key_args(encryption: Option<&RegionEncryption>) -> Vec<String> {
    let Some(e) = encryption else {
        return Vec::new();
    };
    let current = (&e.key_id, e.key_file.as_ref(), e.key_env.as_ref());
    let previous = e
        .previous
        .iter()
        .map(|k| (&k.key_id, k.key_file.as_ref(), k.key_env.as_ref()));
    let mut args = Vec::new();
    for (id, file, env) in std::iter::once(current).chain(previous) {
        if let Some(file) = file {
            args.extend(["--key-file".to_string(), format!("{id}={}", file.display())]);
        }
        if let Some(var) = env {
            args.extend(["--key-env".to_string(), format!("{id}={var}")]);
        }
    }
    args
}

/// Runs the drill to its end or its time limit; every way it can go wrong
/// is an [`Outcome`] with the reason. Dropped before its end (the role
/// stopping), it kills the drill's process group all the same.
pub async fn run(d: &DrillRun<'_>, now: impl Fn() -> i64) -> Outcome {
    let started = Instant::now();
    let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let options = match options_env(d.store_options) {
        Ok(options) => options,
        Err(why) => return Outcome::failed(why, elapsed_ms()),
    };
    // The point the catalog claims, not the store's newest: the worker
    // writes a manifest before the catalog records the copy, and a later
    // point would be refused as after the latest data time.
    let Some(point) = chrono::DateTime::from_timestamp_millis(d.point)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    else {
        return Outcome::failed(format!("no time at {} ms", d.point), elapsed_ms());
    };
    // The child's temporary files (whole copies of the backups) go to a
    // folder this role removes after every run, a killed drill's too.
    let scratch = match Scratch::create(d.tmp_root) {
        Ok(scratch) => scratch,
        Err(e) => {
            return Outcome::failed(
                format!("cannot create a folder below {}: {e}", d.tmp_root.display()),
                elapsed_ms(),
            )
        }
    };
    let mut command = Command::new(d.cli);
    command
        .args(["drill", "--output", "json", "--region-store", d.store_url])
        .args(["--instance", d.instance_id, "--service", d.service_id])
        .args(["--time", &point])
        .args(d.key_args)
        .env("TMPDIR", &scratch.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // The CLI's own settings (profiles file, gateway, token) are not the
    // drill's: a service's XREGION_CONFIG names the service's file.
    for var in [
        "XREGION_CONFIG",
        "XREGION_PROFILE",
        "XREGION_ENDPOINT",
        "XREGION_TOKEN",
    ] {
        command.env_remove(var);
    }
    // Unset rather than empty, which the CLI would read as one bad option.
    match options {
        None => command.env_remove(STORE_OPTIONS_ENV),
        Some(options) => command.env(STORE_OPTIONS_ENV, options),
    };
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Outcome::failed(format!("cannot run {}: {e}", d.cli.display()), elapsed_ms())
        }
    };
    let mut group = Group(child.id().and_then(|pid| i32::try_from(pid).ok()));
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Outcome::failed("the drill's output is not readable", elapsed_ms());
    };
    let finished = async {
        let (out, err, status) = tokio::join!(tail(stdout), tail(stderr), child.wait());
        (out, err, status)
    };
    let outcome = match tokio::time::timeout(d.timeout, finished).await {
        Ok((out, err, Ok(status))) => {
            report::outcome(status.success(), &out, &err, elapsed_ms(), now())
        }
        Ok((_, _, Err(e))) => Outcome::failed(format!("waiting for the drill: {e}"), elapsed_ms()),
        Err(_) => {
            group.kill();
            Outcome::failed(
                format!(
                    "drill timed out after {} s and was killed",
                    d.timeout.as_secs()
                ),
                elapsed_ms(),
            )
        }
    };
    group.0 = None; // ended or killed: nothing left to kill on drop
    drop(scratch);
    outcome
}

/// `XREGION_STORE_OPTIONS`: one `KEY=VALUE` a line, `None` for no options.
/// A key with `=` or a line break, or a value with a line break, cannot
/// travel so: refused naming the key only (a value may be a secret).
fn options_env(options: &BTreeMap<String, String>) -> Result<Option<String>, String> {
    for (key, value) in options {
        if key.is_empty() || key.contains(['=', '\n', '\r']) {
            return Err(format!(
                "store option {:?} cannot be passed to xregion: a key with '=' or a line break",
                key.chars().take(100).collect::<String>()
            ));
        }
        if value.contains(['\n', '\r']) {
            return Err(format!(
                "store option {key:?} cannot be passed to xregion: its value has a line break"
            ));
        }
    }
    Ok((!options.is_empty()).then(|| {
        options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }))
}

/// A private folder for one drill's temporary files, removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn create(root: &Path) -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Short: the throwaway server's socket lies below it, and a Unix
        // socket's path has at most 107 bytes.
        let path = root.join(format!("xdrill-{}-{n}", std::process::id()));
        // A leftover of a crashed run of the same name goes first.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Self { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove the drill's temporary folder");
        }
    }
}

/// The drill's process group (the child leads it), killed unless it ended:
/// `kill_on_drop` alone would leave the throwaway server it started.
struct Group(Option<i32>);

impl Group {
    fn kill(&mut self) {
        let Some(pgid) = self.0.take() else { return };
        if let Err(e) = killpg(Pid::from_raw(pgid), Signal::SIGKILL) {
            tracing::warn!(pgid, error = %e, "could not kill the drill's process group");
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads to the end, keeping the last [`MAX_OUTPUT`] bytes: the report is
/// the last line, and a child printing without end must not fill memory.
async fn tail(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 8192];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > 2 * MAX_OUTPUT {
                    kept.drain(..kept.len() - MAX_OUTPUT);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "child_tests.rs"]
mod tests;
