//! One PostgreSQL database per test: on the server named by `DATABASE_URL`
//! when set, otherwise on a throwaway cluster made with initdb/pg_ctl.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};

use crate::net::{free_port, random_suffix};
use crate::wait::wait_until;

pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
    _cluster: Option<Cluster>,
}

impl TestDatabase {
    pub async fn create() -> anyhow::Result<Self> {
        let (admin_url, cluster) = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                let cluster = Cluster::start().await?;
                (cluster.url.clone(), Some(cluster))
            }
        };
        let name = format!("xr_{}", random_suffix());
        let mut conn = PgConnection::connect(&admin_url).await?;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        let mut url = url::Url::parse(&admin_url)?;
        url.set_path(&format!("/{name}"));
        Ok(Self {
            url: url.to_string(),
            admin_url,
            name,
            _cluster: cluster,
        })
    }

    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        Ok(PgConnection::connect(&self.url).await?)
    }

    /// An outage of this database, as its users see one: new connections
    /// are refused and open ones are ended. [`Self::accept_connections`]
    /// ends it.
    pub async fn refuse_connections(&self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        let name = &self.name;
        admin
            .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false").as_str())
            .await?;
        admin
            .execute(
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                )
                .as_str(),
            )
            .await?;
        Ok(())
    }

    pub async fn accept_connections(&self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        admin
            .execute(format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", self.name).as_str())
            .await?;
        Ok(())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self._cluster.is_some() {
            return; // the cluster goes away whole
        }
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a private one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .ok()
            })
        })
        .join();
    }
}

struct Cluster {
    url: String,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

pub(crate) fn pg_bin() -> PathBuf {
    std::env::var("XREGION_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

pub(crate) fn as_postgres(bin: &std::path::Path, args: &[&str]) -> Command {
    // initdb and pg_ctl refuse to run as root.
    let is_root = std::env::var("USER").map(|u| u == "root").unwrap_or(false) || euid_is_root();
    if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin).args(args);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(args);
        c
    }
}

fn euid_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

impl Cluster {
    async fn start() -> anyhow::Result<Self> {
        let bin = pg_bin();
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let _ = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status();
        let data_s = data.to_string_lossy().to_string();
        let status = as_postgres(
            &bin.join("initdb"),
            &["-D", &data_s, "-A", "trust", "-U", "postgres"],
        )
        .output()?;
        anyhow::ensure!(
            status.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let port = free_port()?;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            dir.path().display()
        );
        let log = dir.path().join("pg.log").to_string_lossy().to_string();
        let status = as_postgres(
            &bin.join("pg_ctl"),
            &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
        )
        .output()?;
        anyhow::ensure!(
            status.status.success(),
            "pg_ctl start failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let probe = url.clone();
        wait_until(
            "postgres to accept connections",
            Duration::from_secs(30),
            || {
                let probe = probe.clone();
                async move { Ok(PgConnection::connect(&probe).await.ok().map(|_| ())) }
            },
        )
        .await?;
        Ok(Self { url, dir, bin })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().to_string();
        let _ = as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "stop"],
        )
        .output();
    }
}
