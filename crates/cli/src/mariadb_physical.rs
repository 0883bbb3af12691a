//! Restores a physical MariaDB FULL (an xbstream from `mariabackup
//! --backup --stream=xbstream`) into a new datadir: the FULL's files
//! concatenated in plan order go to `mbstream -x` in a fresh private
//! folder, `mariabackup --prepare` makes the copy consistent, `--move-back`
//! puts it into a fresh private folder beside the datadir, a private server
//! started on it (with the copy's InnoDB settings) replays the plan's
//! binlogs from the FULL's consistent point to the restore time and stops
//! cleanly, and only then is the folder renamed to the datadir. The
//! datadir must be new or empty: a restore never overwrites data (a file
//! that appears in it meanwhile makes the rename, and the restore, fail),
//! and what a failed restore leaves is removed: only its own folders.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::mariadb_apply::{self, succeeded, tool};
pub use crate::mariadb_place::{check_places, ensure_fresh};
use crate::mariadb_place::{place, staging_dir};
use crate::mariadb_server::{private_dir, Server};
use crate::restore::PlanJson;

/// How long each step took, for the user and the tests.
#[derive(Debug, Default)]
pub struct Timings {
    pub extract: Duration,
    pub prepare: Duration,
    pub move_back: Duration,
    pub start: Duration,
    pub replay: Duration,
    pub stop: Duration,
}

impl std::fmt::Display for Timings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "extract {:.1} s, prepare {:.1} s, move back {:.1} s, server start {:.1} s, binlog replay {:.1} s, stop {:.1} s",
            self.extract.as_secs_f64(),
            self.prepare.as_secs_f64(),
            self.move_back.as_secs_f64(),
            self.start.as_secs_f64(),
            self.replay.as_secs_f64(),
            self.stop.as_secs_f64()
        )
    }
}

/// What a physical restore did: each step's time and the options a server
/// on the datadir needs (from the copy's backup-my.cnf).
pub struct Restored {
    pub timings: Timings,
    pub server_options: Vec<String>,
}

/// Restores `plan` (an xbstream FULL and binlogs, downloaded) into
/// `datadir` (new or empty), using a work folder below `work_parent`; the
/// server used for the replay is stopped cleanly before the restored
/// folder is renamed to `datadir`. `datadir` is never written otherwise.
pub fn restore(plan: &PlanJson, datadir: &Path, work_parent: &Path) -> anyhow::Result<Restored> {
    ensure_fresh(datadir)?;
    let datadir = std::path::absolute(datadir)?;
    let staging = staging_dir(&datadir)?;
    let outcome = (|| {
        let (server, mut restored) = build(plan, &staging, work_parent)?;
        let step = Instant::now();
        server.stop()?;
        restored.timings.stop = step.elapsed();
        place(&staging, &datadir)?;
        Ok(restored)
    })();
    if outcome.is_err() {
        // Ours alone: the datadir itself was never written.
        let _ = std::fs::remove_dir_all(&staging);
        eprintln!("removed the failed restore's folder {}", staging.display());
    }
    outcome
}

/// For the drill: restores `plan` into `datadir` (which must not exist:
/// created here), returns the server running on it after the replay.
pub fn restore_running(
    plan: &PlanJson,
    datadir: &Path,
    work_parent: &Path,
) -> anyhow::Result<(Server, Timings)> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(datadir)
        .with_context(|| format!("creating {}", datadir.display()))?;
    let outcome = build(plan, datadir, work_parent);
    match outcome {
        Ok((server, restored)) => Ok((server, restored.timings)),
        Err(e) => {
            let _ = std::fs::remove_dir_all(datadir);
            Err(e)
        }
    }
}

/// Extract, prepare, move back into `target` (empty, ours), start a
/// server on it, replay; the work folder is removed whatever happens.
fn build(plan: &PlanJson, target: &Path, work_parent: &Path) -> anyhow::Result<(Server, Restored)> {
    let work = private_dir(work_parent, ".xbstream")?;
    let copied = copy_in(plan, target, &work);
    let _ = std::fs::remove_dir_all(&work);
    let (mut t, server_options) = copied?;

    let step = Instant::now();
    let server = Server::start_private(target, &server_options)?;
    t.start = step.elapsed();

    let step = Instant::now();
    mariadb_apply::replay(
        &server.login,
        plan.replay_start(),
        &plan.log_files(),
        plan.stop_at_ms,
    )?;
    t.replay = step.elapsed();
    Ok((
        server,
        Restored {
            timings: t,
            server_options,
        },
    ))
}

/// Extracts, checks and prepares the FULL in `work`, moves it into `target`.
fn copy_in(plan: &PlanJson, target: &Path, work: &Path) -> anyhow::Result<(Timings, Vec<String>)> {
    let mut t = Timings::default();
    let step = Instant::now();
    extract(&plan.full_files(), work)?;
    check_position(plan, work)?;
    // Checked before --prepare, which reads it too.
    let server_options = read_cnf(work)?;
    t.extract = step.elapsed();

    let step = Instant::now();
    let out = tool("mariabackup")
        .args(["--no-defaults", "--prepare"])
        .arg(format!("--target-dir={}", work.display()))
        .output()
        .context("running mariabackup (is mariadb-backup installed?)")?;
    succeeded(tail(out), "mariabackup --prepare")?;
    t.prepare = step.elapsed();

    let step = Instant::now();
    let out = tool("mariabackup")
        .args(["--no-defaults", "--move-back"])
        .arg(format!("--target-dir={}", work.display()))
        .arg(format!("--datadir={}", target.display()))
        .output()
        .context("running mariabackup")?;
    succeeded(tail(out), "mariabackup --move-back")?;
    t.move_back = step.elapsed();
    Ok((t, server_options))
}

/// The server options from the stream's backup-my.cnf (none without one).
fn read_cnf(work: &Path) -> anyhow::Result<Vec<String>> {
    let path = work.join("backup-my.cnf");
    let mut text = String::new();
    match std::fs::File::open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other
            .context("opening backup-my.cnf")?
            .take(crate::mariadb_cnf::MAX_BYTES)
            .read_to_string(&mut text)
            .context("reading backup-my.cnf")?,
    };
    crate::mariadb_cnf::server_options(&text).map_err(|e| anyhow::anyhow!("the FULL's {e}"))
}

/// The FULL's parts, concatenated in order, into `mbstream -x` in `work`
/// (fresh and private: names inside the stream land nowhere else;
/// mbstream itself refuses absolute names and `..`).
fn extract(parts: &[PathBuf], work: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(!parts.is_empty(), "the plan's FULL has no files");
    let mut child = tool("mbstream")
        .arg("-x")
        .arg("-C")
        .arg(work)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running mbstream (is mariadb-backup installed?)")?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr from mbstream"))?;
    // Drained to the end (mbstream must not block), kept up to a bound.
    let errors = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut kept);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        String::from_utf8_lossy(&kept).to_string()
    });
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin for mbstream"))?;
    let mut fed = Ok(());
    for part in parts {
        let copied = std::fs::File::open(part)
            .and_then(|mut f| std::io::copy(&mut f, &mut stdin))
            .with_context(|| format!("feeding {} to mbstream", part.display()));
        if let Err(e) = copied {
            fed = Err(e);
            break;
        }
    }
    drop(stdin);
    let status = child.wait()?;
    let errors = errors.join().unwrap_or_default();
    let said = cap(errors.trim(), 1000);
    anyhow::ensure!(status.success(), "mbstream -x failed ({status}): {said}");
    fed?;
    // mbstream skips a file with an unsafe name ("invalid filename") but
    // still exits 0; it says nothing on a good stream: anything is a fault.
    anyhow::ensure!(
        errors.trim().is_empty(),
        "mbstream -x complained about the FULL's stream (a name outside its folder?): {said}"
    );
    Ok(())
}

/// The consistent point the stream records (`xtrabackup_binlog_info`) must
/// be the one the FULL's manifest gives: replay starts there.
fn check_position(plan: &PlanJson, work: &Path) -> anyhow::Result<()> {
    let path = work.join("xtrabackup_binlog_info");
    let mut text = String::new();
    std::fs::File::open(&path)
        .context(
            "the FULL's stream holds no xtrabackup_binlog_info (was the source's binary log on?)",
        )?
        .take(4096)
        .read_to_string(&mut text)
        .context("reading xtrabackup_binlog_info")?;
    let mut fields = text.split_whitespace();
    let file_number = fields
        .next()
        .and_then(|name| name.rsplit('.').next()?.parse::<u64>().ok());
    let offset = fields.next().and_then(|p| p.parse::<u64>().ok());
    let manifest = (plan.replay_start_file(), Some(plan.replay_start()));
    anyhow::ensure!(
        (file_number, offset) == manifest,
        "the FULL's stream says its consistent point is binlog {file_number:?} at {offset:?}, its manifest says {:?} at {:?}",
        manifest.0,
        manifest.1
    );
    Ok(())
}

/// At most `max` characters of `text`, marked when cut.
pub(crate) fn cap(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Keeps the last lines of a tool's chatty stderr for an error message.
fn tail(mut out: std::process::Output) -> std::process::Output {
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<&str> = text.lines().collect();
    out.stderr = lines[lines.len().saturating_sub(8)..]
        .join("\n")
        .into_bytes();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn long_tool_output_is_capped_on_a_character() {
        let text = "é".repeat(2000);
        let capped = cap(&text, 1000);
        assert_eq!(capped.chars().count(), 1001);
        assert_eq!(cap("short", 1000), "short");
    }
}
