//! Running `xregion drill` as a child process: the store's options go in
//! its environment (argv is world-readable in /proc, the environment is
//! not), its output is read bounded, and a drill past its time limit is
//! killed with everything it started (its own process group: the
//! throwaway server too) and counts as failed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

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
/// is an [`Outcome`] with the reason.
pub async fn run(d: &DrillRun<'_>, now: impl Fn() -> i64) -> Outcome {
    let started = Instant::now();
    let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let options: Vec<String> = d
        .store_options
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut command = Command::new(d.cli);
    command
        .args(["drill", "--output", "json", "--region-store", d.store_url])
        .args(["--instance", d.instance_id, "--service", d.service_id])
        .args(d.key_args)
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
    match options.is_empty() {
        true => command.env_remove(STORE_OPTIONS_ENV),
        false => command.env(STORE_OPTIONS_ENV, options.join("\n")),
    };
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Outcome::failed(format!("cannot run {}: {e}", d.cli.display()), elapsed_ms())
        }
    };
    let pid = child.id();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Outcome::failed("the drill's output is not readable", elapsed_ms());
    };
    let finished = async {
        let (out, err, status) = tokio::join!(tail(stdout), tail(stderr), child.wait());
        (out, err, status)
    };
    match tokio::time::timeout(d.timeout, finished).await {
        Ok((out, err, Ok(status))) => {
            report::outcome(status.success(), &out, &err, elapsed_ms(), now())
        }
        Ok((_, _, Err(e))) => Outcome::failed(format!("waiting for the drill: {e}"), elapsed_ms()),
        Err(_) => {
            kill_group(pid).await;
            Outcome::failed(
                format!(
                    "drill timed out after {} s and was killed",
                    d.timeout.as_secs()
                ),
                elapsed_ms(),
            )
        }
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

/// Kills the drill's process group (the child leads it): `kill_on_drop`
/// alone would leave the throwaway server it started running.
async fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid else { return };
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    if !killed.is_ok_and(|s| s.success()) {
        tracing::warn!(pid, "could not kill the drill's process group");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use xregion_common::encryption::KeySource;

    use super::*;

    use crate::testing::{script, SERIAL};

    async fn drill(cli: &Path, timeout: Duration) -> Outcome {
        let options = BTreeMap::from([("secret_access_key".to_string(), "s3cr3t".to_string())]);
        drill_with(cli, timeout, &options).await
    }

    async fn drill_with(
        cli: &Path,
        timeout: Duration,
        options: &BTreeMap<String, String>,
    ) -> Outcome {
        let d = DrillRun {
            cli,
            store_url: "file:///nowhere",
            store_options: options,
            instance_id: "db-1",
            service_id: "svc-1",
            key_args: &[],
            timeout,
        };
        run(&d, || 1_700_000_000_000).await
    }

    #[tokio::test]
    async fn options_travel_in_the_environment_not_argv() {
        let _serial = SERIAL.lock().await;
        let dir = tempfile::tempdir().unwrap();
        // Succeeds only when the secret is in the environment and not among
        // the arguments.
        let cli = script(
            dir.path(),
            r#"case "$*" in *s3cr3t*) exit 3;; esac
[ "$XREGION_STORE_OPTIONS" = "secret_access_key=s3cr3t" ] || exit 4
[ "$*" = "drill --output json --region-store file:///nowhere --instance db-1 --service svc-1" ] || exit 5
echo '{"success":true,"seconds":2,"restored_to_ms":1699999999000}'"#,
        );
        let o = drill(&cli, Duration::from_secs(30)).await;
        assert_eq!(o.error, "");
        assert_eq!((o.restored_to, o.rto_ms), (Some(1_699_999_999_000), 2_000));
        // No options: the variable is unset, not empty.
        let unset = script(
            dir.path(),
            r#"[ "${XREGION_STORE_OPTIONS+set}" = "" ] || exit 4
echo '{"success":true,"seconds":2,"restored_to_ms":1699999999000}'"#,
        );
        let o = drill_with(&unset, Duration::from_secs(30), &BTreeMap::new()).await;
        assert_eq!(o.error, "");
    }

    #[test]
    fn keys_are_passed_by_file_or_variable_name() {
        assert!(key_args(None).is_empty());
        let e = RegionEncryption {
            key_id: "k2".into(),
            key_file: Some("/keys/k2".into()),
            key_env: None,
            previous: vec![KeySource {
                key_id: "k1".into(),
                key_file: None,
                key_env: Some("OLD_KEY".into()),
            }],
        };
        assert_eq!(
            key_args(Some(&e)),
            ["--key-file", "k2=/keys/k2", "--key-env", "k1=OLD_KEY"]
        );
    }

    #[tokio::test]
    async fn a_hanging_drill_is_killed_with_what_it_started() {
        let _serial = SERIAL.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let cli = script(
            dir.path(),
            &format!("sleep 300 &\necho $! > {}\nwait", pidfile.display()),
        );
        let started = Instant::now();
        let o = drill(&cli, Duration::from_secs(2)).await;
        assert!(started.elapsed() < Duration::from_secs(30));
        assert!(o.error.contains("timed out"), "{}", o.error);
        assert_eq!(o.restored_to, None);
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        // Gone, or a zombie waiting to be reaped; the kill is delivered at
        // once but noticed a moment later: poll with a deadline.
        let gone = || {
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                .map_or(true, |s| s.contains(") Z "))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !gone() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone(), "the grandchild {pid} survived");
    }

    #[tokio::test]
    async fn endless_garbage_is_bounded_and_a_missing_binary_is_a_failure() {
        let _serial = SERIAL.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let cli = script(
            dir.path(),
            "head -c 5000000 /dev/zero | tr '\\0' 'x'; exit 1",
        );
        let o = drill(&cli, Duration::from_secs(30)).await;
        assert!(
            o.error.starts_with("unreadable drill report"),
            "{}",
            &o.error[..100.min(o.error.len())]
        );
        assert!(o.error.len() < 1000);
        let o = drill(&dir.path().join("no-such-binary"), Duration::from_secs(5)).await;
        assert!(o.error.starts_with("cannot run"), "{}", o.error);
    }
}
