//! A private MariaDB server for one test: its own datadir, socket and port,
//! binary logging on. Stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::net::free_port;
use crate::process::ChildProcess;
use crate::wait::wait_until;

pub struct MariaDb {
    pub socket: PathBuf,
    pub datadir: PathBuf,
    pub port: u16,
    pub process: ChildProcess,
    _dir: tempfile::TempDir,
}

impl MariaDb {
    pub async fn start(log_dir: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("mariadb-").tempdir()?;
        let datadir = dir.path().join("data");
        // Temporary tables in the test's own folder: bootstraps sharing
        // /tmp failed now and then removing each other's files.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp)?;
        let out = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self::spawn(dir, datadir, log_dir, true).await
    }

    /// A server on a datadir that exists already (a restored one), without
    /// binary logging; the datadir is left in place when it stops.
    pub async fn start_on(datadir: &Path, log_dir: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("mariadb-").tempdir()?;
        Self::spawn(dir, datadir.to_path_buf(), log_dir, false).await
    }

    async fn spawn(
        dir: tempfile::TempDir,
        datadir: PathBuf,
        log_dir: &Path,
        binlog: bool,
    ) -> anyhow::Result<Self> {
        let socket = dir.path().join("mariadb.sock");
        let port = free_port()?;
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let mut cmd = Command::new("mariadbd");
        cmd.arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1");
        if binlog {
            cmd.args([
                "--log-bin=mysql-bin",
                "--server-id=1",
                "--binlog-format=ROW",
            ]);
        }
        cmd.arg(format!(
            "--pid-file={}",
            dir.path().join("mariadb.pid").display()
        ))
        .arg("--skip-name-resolve");
        let name = format!("mariadb-{port}");
        let process = ChildProcess::spawn(&name, cmd, log_dir)?;
        let db = Self {
            socket,
            datadir,
            port,
            process,
            _dir: dir,
        };
        wait_until(
            "mariadb to accept connections",
            Duration::from_secs(60),
            || {
                let ok = db.sql("SELECT 1").is_ok();
                async move { Ok(ok.then_some(())) }
            },
        )
        .await?;
        Ok(db)
    }

    /// Runs SQL as root over the socket; returns tab-separated rows.
    pub fn sql(&self, sql: &str) -> anyhow::Result<String> {
        xregion_rds_sim::mariadb::sql(&self.socket, sql)
    }

    /// `CHECKSUM TABLE <table>`: equal content, equal checksum.
    pub fn checksum(&self, table: &str) -> anyhow::Result<String> {
        let out = self.sql(&format!("CHECKSUM TABLE {table}"))?;
        Ok(out
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string())
    }
}

/// A restore time for `xregion restore --time`, to the second.
pub fn rfc3339_seconds(ms: i64) -> anyhow::Result<String> {
    Ok(chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| anyhow::anyhow!("{ms} ms is no time"))?
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string())
}
