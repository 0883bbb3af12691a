//! `xregion drill`: a disaster-recovery drill. Restores the instance from the
//! target store alone into a throwaway MariaDB server, checks that it
//! answers and what it holds, reports whether it worked and how long it
//! took, and removes the server. Nobody trusts a backup never restored.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use crate::mariadb_apply;
use crate::render::{self, say, Output};
use crate::restore::{self, RestoreArgs, TargetArgs};

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path) -> anyhow::Result<(Server, std::path::PathBuf)> {
    let datadir = dir.join("data");
    let out = Command::new("mariadb-install-db")
        .args([
            "--no-defaults",
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ])
        .arg(format!("--datadir={}", datadir.display()))
        .output()
        .context("running mariadb-install-db (is mariadb-server installed?)")?;
    mariadb_apply::succeeded(out, "mariadb-install-db")?;
    let socket = dir.join("drill.sock");
    let child = Command::new("mariadbd")
        .arg("--no-defaults")
        .arg("--user=root")
        .arg(format!("--datadir={}", datadir.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--pid-file={}", dir.join("drill.pid").display()))
        .arg("--skip-networking")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting mariadbd")?;
    let server = Server { child };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if mariadb_apply::query(&socket, "SELECT 1").is_ok() {
            return Ok((server, socket));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the throwaway server did not start within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A fresh folder only this user can enter: created here (never an
/// existing folder or a link someone else planted under a guessable name),
/// so the restore's `--into` below it is ours alone.
fn private_dir() -> anyhow::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    // Not a time: a nonce for the folder name.
    #[allow(clippy::disallowed_methods)]
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("xregion-drill-{}-{nanos:09}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// What monitoring reads (`--output json`): one object.
#[derive(Debug, Serialize)]
struct DrillReport {
    success: bool,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_start_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tables: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn run(target: TargetArgs, out: Output) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = private_dir()?;
    let outcome = async {
        let (_server, socket) = start_server(&dir)?;
        let server_ready = started.elapsed();
        restore::run(RestoreArgs {
            target,
            into: dir.join("files"),
            mariadb_socket: Some(socket.clone()),
            database: None,
        })
        .await?;
        let tables: u64 = mariadb_apply::query(
            &socket,
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema NOT IN ('mysql','information_schema','performance_schema','sys')",
        )?
        .parse()
        .unwrap_or(0);
        anyhow::Ok((server_ready, tables))
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    let seconds = started.elapsed().as_secs_f64();
    let report = match &outcome {
        Ok((ready, tables)) => DrillReport {
            success: true,
            seconds,
            server_start_seconds: Some(ready.as_secs_f64()),
            tables: Some(*tables),
            error: None,
        },
        Err(e) => DrillReport {
            success: false,
            seconds,
            server_start_seconds: None,
            tables: None,
            error: Some(format!("{e:#}")),
        },
    };
    match (out, &report.tables) {
        (Output::Json, _) => render::json_line(&report),
        (Output::Table, Some(tables)) => {
            say!("drill succeeded in {seconds:.1} s: the database answered with {tables} tables")
        }
        (Output::Table, None) => say!(
            "drill FAILED after {seconds:.1} s: {}",
            report.error.as_deref().unwrap_or_default()
        ),
    }
    outcome.map(|_| ())
}
