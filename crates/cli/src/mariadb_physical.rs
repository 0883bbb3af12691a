//! Restores a physical MariaDB FULL (an xbstream from `mariabackup
//! --backup --stream=xbstream`) into a new datadir: the FULL's files
//! concatenated in plan order go to `mbstream -x` in a fresh private
//! folder, `mariabackup --prepare` makes the copy consistent, `--move-back`
//! puts it into the datadir, a private server started on it replays the
//! plan's binlogs from the FULL's consistent point to the restore time.
//! The datadir must be new or empty: a restore never overwrites data, and
//! what it leaves after a failure is removed (it was all ours).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::mariadb_apply::{self, succeeded};
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
}

impl std::fmt::Display for Timings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "extract {:.1} s, prepare {:.1} s, move back {:.1} s, server start {:.1} s, binlog replay {:.1} s",
            self.extract.as_secs_f64(),
            self.prepare.as_secs_f64(),
            self.move_back.as_secs_f64(),
            self.start.as_secs_f64(),
            self.replay.as_secs_f64()
        )
    }
}

/// Refuses a datadir that holds anything (or is not a plain folder).
pub fn ensure_fresh(datadir: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(datadir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.with_context(|| format!("reading {}", datadir.display()))?,
    };
    anyhow::ensure!(
        meta.is_dir(),
        "refusing to restore into {}: it is not a folder (give a new or empty folder)",
        datadir.display()
    );
    let mut entries =
        std::fs::read_dir(datadir).with_context(|| format!("reading {}", datadir.display()))?;
    anyhow::ensure!(
        entries.next().is_none(),
        "refusing to restore into {}: it is not empty (a restore never overwrites data; give a new or empty folder)",
        datadir.display()
    );
    Ok(())
}

/// Refuses a download folder inside the datadir: the datadir would not be
/// empty by the time the FULL is moved into it.
pub fn check_places(into: &Path, datadir: &Path) -> anyhow::Result<()> {
    let (into_abs, datadir_abs) = (std::path::absolute(into)?, std::path::absolute(datadir)?);
    anyhow::ensure!(
        !into_abs.starts_with(&datadir_abs),
        "--into {} is inside --mariadb-datadir {}: download somewhere else",
        into.display(),
        datadir.display()
    );
    Ok(())
}

/// Restores `plan` (an xbstream FULL and binlogs, downloaded) into
/// `datadir`, using a work folder below `work_parent`; returns the server
/// running on it after the replay, with the time each step took.
pub fn restore(
    plan: &PlanJson,
    datadir: &Path,
    work_parent: &Path,
) -> anyhow::Result<(Server, Timings)> {
    ensure_fresh(datadir)?;
    let existed = datadir.exists();
    let work = private_dir(work_parent, ".xbstream")?;
    let outcome = restore_into(plan, datadir, &work);
    let _ = std::fs::remove_dir_all(&work);
    if outcome.is_err() {
        // Everything in it came from this restore: it was new or empty.
        discard(datadir, existed);
    }
    outcome
}

fn restore_into(plan: &PlanJson, datadir: &Path, work: &Path) -> anyhow::Result<(Server, Timings)> {
    let mut t = Timings::default();
    let step = Instant::now();
    extract(&plan.full_files(), work)?;
    check_position(plan, work)?;
    t.extract = step.elapsed();

    let step = Instant::now();
    let out = Command::new("mariabackup")
        .args(["--no-defaults", "--prepare"])
        .arg(format!("--target-dir={}", work.display()))
        .output()
        .context("running mariabackup (is mariadb-backup installed?)")?;
    succeeded(tail(out), "mariabackup --prepare")?;
    t.prepare = step.elapsed();

    let step = Instant::now();
    if !datadir.exists() {
        std::fs::create_dir_all(datadir)
            .with_context(|| format!("creating {}", datadir.display()))?;
    }
    let out = Command::new("mariabackup")
        .args(["--no-defaults", "--move-back"])
        .arg(format!("--target-dir={}", work.display()))
        .arg(format!("--datadir={}", datadir.display()))
        .output()
        .context("running mariabackup")?;
    succeeded(tail(out), "mariabackup --move-back")?;
    t.move_back = step.elapsed();

    let step = Instant::now();
    let server = Server::start_private(datadir)?;
    t.start = step.elapsed();

    let step = Instant::now();
    mariadb_apply::replay(
        &server.socket,
        plan.replay_start(),
        &plan.log_files(),
        plan.stop_at_ms,
    )?;
    t.replay = step.elapsed();
    Ok((server, t))
}

/// The FULL's parts, concatenated in order, into `mbstream -x` in `work`
/// (fresh and private: names inside the stream land nowhere else;
/// mbstream itself refuses absolute names and `..`).
fn extract(parts: &[PathBuf], work: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(!parts.is_empty(), "the plan's FULL has no files");
    let mut child = Command::new("mbstream")
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
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
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
    anyhow::ensure!(status.success(), "mbstream -x failed ({status}): {errors}");
    fed?;
    // mbstream skips a file with an unsafe name but still exits 0.
    anyhow::ensure!(
        !errors.contains("invalid filename"),
        "the FULL's stream names files outside its folder: {}",
        errors.trim()
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

/// Keeps the last lines of a tool's chatty stderr for an error message.
fn tail(mut out: std::process::Output) -> std::process::Output {
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<&str> = text.lines().collect();
    out.stderr = lines[lines.len().saturating_sub(8)..]
        .join("\n")
        .into_bytes();
    out
}

fn discard(datadir: &Path, existed: bool) {
    if existed {
        if let Ok(entries) = std::fs::read_dir(datadir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = match entry.file_type() {
                    Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
                    _ => std::fs::remove_file(&path),
                };
            }
        }
    } else {
        let _ = std::fs::remove_dir_all(datadir);
    }
    eprintln!(
        "removed what the failed restore left in {}",
        datadir.display()
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_or_empty_folder_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        ensure_fresh(&dir.path().join("absent")).unwrap();
        ensure_fresh(dir.path()).unwrap();
        std::fs::write(dir.path().join("ibdata1"), b"x").unwrap();
        let err = ensure_fresh(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not empty"), "{err}");
        let err = ensure_fresh(&dir.path().join("ibdata1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a folder"), "{err}");
        assert_eq!(std::fs::read(dir.path().join("ibdata1")).unwrap(), b"x");
    }

    #[test]
    fn the_download_folder_cannot_be_inside_the_datadir() {
        let err = check_places(Path::new("/r/data/files"), Path::new("/r/data"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("inside --mariadb-datadir"), "{err}");
        assert!(check_places(Path::new("/r/data"), Path::new("/r/data")).is_err());
        check_places(Path::new("/r/files"), Path::new("/r/data")).unwrap();
        check_places(Path::new("/r"), Path::new("/r/data")).unwrap();
        check_places(Path::new("/r/database"), Path::new("/r/data")).unwrap();
    }
}
