//! A private MariaDB server this process starts on a datadir: listening on a
//! socket in a folder only this user can enter, no TCP, no binary log. Used
//! by the drill (a throwaway server) and by the physical restore (the
//! restored datadir, to replay binlogs). Killed on drop unless stopped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::mariadb_apply;

/// How long a server may take to accept connections, or to stop.
const DEADLINE: Duration = Duration::from_secs(120);

pub struct Server {
    child: Child,
    pub socket: PathBuf,
    log: PathBuf,
    /// The private run folder this server made for itself: removed with it.
    own_dir: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(dir) = &self.own_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A fresh folder only this user can enter, below `parent`: created here
/// (never an existing folder or a link someone else planted under a
/// guessable name). Short, so a socket path inside stays within the
/// 107 bytes Unix sockets allow when `parent` is the temp dir.
pub fn private_dir(parent: &Path, prefix: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    // Not a time: a nonce for the folder name.
    #[allow(clippy::disallowed_methods)]
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = parent.join(format!("{prefix}-{}-{nanos:09}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A new, empty datadir at `datadir` (`mariadb-install-db`).
pub fn install(datadir: &Path) -> anyhow::Result<()> {
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
    Ok(())
}

impl Server {
    /// Starts `mariadbd` on `datadir` with its socket, pid file and error
    /// log in `run_dir` (private), and waits until it answers.
    pub fn start(datadir: &Path, run_dir: &Path) -> anyhow::Result<Self> {
        let socket = run_dir.join("mariadb.sock");
        let log = run_dir.join("error.log");
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            // Needed when running as root; ignored with a warning otherwise.
            .arg("--user=root")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!(
                "--pid-file={}",
                run_dir.join("mariadb.pid").display()
            ))
            .arg(format!("--log-error={}", log.display()))
            .arg("--skip-networking")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting mariadbd (is mariadb-server installed?)")?;
        let mut server = Server {
            child,
            socket,
            log,
            own_dir: None,
        };
        let deadline = Instant::now() + DEADLINE;
        loop {
            if mariadb_apply::query(&server.socket, "SELECT 1").is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                anyhow::bail!(
                    "mariadbd on {} exited ({status}): {}",
                    datadir.display(),
                    server.log_tail()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "mariadbd on {} did not answer within {} s: {}",
                datadir.display(),
                DEADLINE.as_secs(),
                server.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// [`Server::start`] with a run folder of its own in the temp dir (a
    /// short socket path), removed when the server is dropped.
    pub fn start_private(datadir: &Path) -> anyhow::Result<Self> {
        let run_dir = private_dir(&std::env::temp_dir(), "xregion-mariadb")?;
        match Self::start(datadir, &run_dir) {
            Ok(mut server) => {
                server.own_dir = Some(run_dir);
                Ok(server)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&run_dir);
                Err(e)
            }
        }
    }

    /// The last lines of the server's error log, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    /// A clean shutdown (InnoDB flushed, the datadir ready for any server).
    pub fn stop(mut self) -> anyhow::Result<()> {
        mariadb_apply::query(&self.socket, "SHUTDOWN").context("shutting the server down")?;
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::ensure!(status.success(), "mariadbd stopped with {status}");
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "mariadbd did not stop within {} s",
                DEADLINE.as_secs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
