//! A private MariaDB server this process starts on a datadir: listening on a
//! socket in a folder only this user can enter, no TCP, no binary log. Used
//! by the drill (a throwaway server) and by the physical restore (the
//! restored datadir, to replay binlogs). Killed on drop unless stopped.
//!
//! The datadir and the SQL replayed into it come from the store, which
//! whoever can write the bucket controls, and the server runs as this
//! user: it gets no environment but PATH/HOME/TZ, an empty private folder
//! as the only place `SELECT … INTO OUTFILE`/`LOAD_FILE` may touch, no
//! `LOAD DATA LOCAL`, no replication or events starting by themselves.
//! It is logged into with a temporary account the `--init-file` creates
//! (random name and password, in option files only this user can read),
//! not with the restored data's own grants (a source root with a password
//! would lock the restore out); the account is dropped before shutdown.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::mariadb_apply::{self, tool, Login};

/// How long a server may take to accept connections, or to stop.
const DEADLINE: Duration = Duration::from_secs(120);

pub struct Server {
    child: Child,
    pub login: Login,
    /// The temporary account's name (hex: safe in SQL as is).
    account: String,
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

/// A new, empty datadir at `datadir` (`mariadb-install-db`), its
/// temporary tables in a private folder beside it: a shared `/tmp` let
/// concurrent bootstraps trip over each other's files.
pub fn install(datadir: &Path) -> anyhow::Result<()> {
    let parent = datadir.parent().unwrap_or(Path::new("."));
    let tmp = private_dir(parent, "install-tmp")?;
    let out = install_command(datadir, &tmp)
        .output()
        .context("running mariadb-install-db (is mariadb-server installed?)")?;
    mariadb_apply::succeeded(out, "mariadb-install-db")?;
    Ok(())
}

fn install_command(datadir: &Path, tmp: &Path) -> Command {
    let mut c = tool("mariadb-install-db");
    c.arg("--no-defaults")
        .args(as_root())
        .args(["--auth-root-authentication-method=socket", "--skip-test-db"])
        .arg(format!("--datadir={}", datadir.display()))
        .arg(format!("--tmpdir={}", tmp.display()));
    c
}

/// `--user=root` when this process is root (mariadbd refuses to run as
/// root without it); nothing otherwise: the install script would try to
/// chown the datadir to root, which a non-root drill pod cannot.
fn as_root() -> Option<&'static str> {
    nix::unistd::geteuid().is_root().then_some("--user=root")
}

/// `n` random bytes as hex, from the kernel.
fn random_hex(n: usize) -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(hex::encode(bytes))
}

/// Writes `text` to a new file only this user can read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}

/// The `mariadbd` command line for `datadir`, its files in `run_dir`;
/// `extra` are options read from the copy (validated InnoDB settings).
fn server_command(datadir: &Path, run_dir: &Path, extra: &[String]) -> Command {
    let mut c = tool("mariadbd");
    c.arg("--no-defaults")
        .args(as_root())
        .arg(format!("--datadir={}", datadir.display()));
    // Every file of the server in the private run folder; its temporary
    // tables too, not in a shared (and in a pod, small) /tmp.
    for (option, name) in [
        ("tmpdir", "tmp"),
        ("socket", "mariadb.sock"),
        ("pid-file", "mariadb.pid"),
        ("log-error", "error.log"),
        ("init-file", "init.sql"),
        ("secure-file-priv", "sql-files"),
    ] {
        c.arg(format!("--{option}={}", run_dir.join(name).display()));
    }
    c.args([
        "--skip-networking",
        "--local-infile=0",
        "--skip-slave-start",
        "--event-scheduler=OFF",
    ])
    .args(extra)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

impl Server {
    /// Starts `mariadbd` on `datadir` with its socket, pid file and error
    /// log in `run_dir` (private), and waits until it answers.
    pub fn start(datadir: &Path, run_dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(datadir, run_dir, &[])
    }

    /// [`Server::start`] with `extra` options (validated by the caller).
    pub fn start_with(datadir: &Path, run_dir: &Path, extra: &[String]) -> anyhow::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let socket = run_dir.join("mariadb.sock");
        let log = run_dir.join("error.log");
        for folder in ["sql-files", "tmp"] {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(run_dir.join(folder))
                .context("creating the server's file folders")?;
        }
        let account = format!("xregion_{}", random_hex(8)?);
        let password = random_hex(24)?;
        write_private(
            &run_dir.join("init.sql"),
            &format!(
                "CREATE USER '{account}'@'localhost' IDENTIFIED BY '{password}';\n\
                 GRANT ALL PRIVILEGES ON *.* TO '{account}'@'localhost' WITH GRANT OPTION;\n"
            ),
        )?;
        let option_file = run_dir.join("client.cnf");
        write_private(
            &option_file,
            &format!("[client]\nuser={account}\npassword={password}\n"),
        )?;
        let child = server_command(datadir, run_dir, extra)
            .spawn()
            .context("starting mariadbd (is mariadb-server installed?)")?;
        let mut server = Server {
            child,
            login: Login::with_option_file(&socket, &option_file),
            account,
            log,
            own_dir: None,
        };
        let deadline = Instant::now() + DEADLINE;
        loop {
            if mariadb_apply::query(&server.login, "SELECT 1").is_ok() {
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

    /// One statement as the temporary account; its rows, tab-separated.
    pub fn query(&self, sql: &str) -> anyhow::Result<String> {
        mariadb_apply::query(&self.login, sql)
    }

    /// [`Server::start`] with a run folder of its own in the temp dir (a
    /// short socket path), removed when the server is dropped.
    pub fn start_private(datadir: &Path, extra: &[String]) -> anyhow::Result<Self> {
        let run_dir = private_dir(&std::env::temp_dir(), "xregion-mariadb")?;
        match Self::start_with(datadir, &run_dir, extra) {
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

    /// A clean shutdown (InnoDB flushed, the datadir ready for any server),
    /// the temporary account dropped first (the session keeps its rights).
    pub fn stop(mut self) -> anyhow::Result<()> {
        let sql = format!("DROP USER '{}'@'localhost'; SHUTDOWN", self.account);
        mariadb_apply::query(&self.login, &sql).context("shutting the server down")?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_server_reaches_no_file_replica_or_variable_of_ours() {
        let extra = ["--innodb-page-size=8192".to_string()];
        let c = server_command(Path::new("/d/data"), Path::new("/r"), &extra);
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().to_string())
            .collect();
        for want in [
            "--no-defaults",
            "--secure-file-priv=/r/sql-files",
            "--local-infile=0",
            "--skip-slave-start",
            "--skip-networking",
            "--event-scheduler=OFF",
            "--init-file=/r/init.sql",
            "--tmpdir=/r/tmp",
            "--innodb-page-size=8192",
        ] {
            assert!(args.iter().any(|a| a == want), "{want} missing: {args:?}");
        }
        assert_eq!(args[0], "--no-defaults", "must come first");
        // env_clear: only what tool() passes is set.
        for (name, _) in c.get_envs() {
            let name = name.to_string_lossy();
            assert!(["PATH", "HOME", "TZ"].contains(&name.as_ref()), "{name}");
        }
    }

    #[test]
    fn only_root_asks_the_tools_to_run_as_root() {
        let root = nix::unistd::geteuid().is_root();
        let server = server_command(Path::new("/d/data"), Path::new("/r"), &[]);
        let install = install_command(Path::new("/d/data"), Path::new("/d/tmp"));
        for c in [server, install] {
            let asks = c.get_args().any(|a| a == "--user=root");
            assert_eq!(asks, root, "{:?}", c.get_program());
        }
    }

    #[test]
    fn secrets_files_are_new_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.cnf");
        write_private(&path, "x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(write_private(&path, "y").is_err(), "never an existing file");
        assert_eq!(random_hex(8).unwrap().len(), 16);
        assert_ne!(random_hex(8).unwrap(), random_hex(8).unwrap());
    }
}
