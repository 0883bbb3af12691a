//! A throwaway PostgreSQL cluster that speaks TLS only: `ssl = on` with the
//! certificate and key a test hands in, and a pg_hba.conf that accepts TCP
//! connections over TLS and rejects plaintext ones.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sqlx::{Connection, PgConnection};

use crate::net::free_port;
use crate::postgres::{as_postgres, pg_bin};
use crate::wait::wait_until;

pub struct TlsPostgres {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl TlsPostgres {
    /// Starts the cluster with this server certificate (PEM, the chain the
    /// server presents) and its private key (PEM).
    pub async fn start(cert_pem: &str, key_pem: &str) -> anyhow::Result<Self> {
        let bin = pg_bin();
        let dir = tempfile::Builder::new().prefix("pg-tls-").tempdir()?;
        let data = dir.path().join("data");
        chown_postgres(dir.path());
        let data_s = data.to_string_lossy().to_string();
        let out = as_postgres(
            &bin.join("initdb"),
            &["-D", &data_s, "-A", "trust", "-U", "postgres"],
        )
        .output()?;
        anyhow::ensure!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(data.join("server.crt"), cert_pem)?;
        std::fs::write(data.join("server.key"), key_pem)?;
        {
            use std::os::unix::fs::PermissionsExt;
            // PostgreSQL refuses a key others can read.
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )?;
        }
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf"))?;
        conf.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(data.join("postgresql.conf"), conf)?;
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )?;
        chown_postgres(dir.path());

        let port = free_port()?;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            dir.path().display()
        );
        let log = dir.path().join("pg.log").to_string_lossy().to_string();
        let out = as_postgres(
            &bin.join("pg_ctl"),
            &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
        )
        .output()?;
        anyhow::ensure!(
            out.status.success(),
            "pg_ctl start failed: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let cluster = Self { port, dir, bin };
        // TLS without verification: only to see the server is up.
        let probe = cluster.url("postgres", "sslmode=require");
        wait_until(
            "postgres (TLS) to accept connections",
            Duration::from_secs(30),
            || {
                let probe = probe.clone();
                async move { Ok(PgConnection::connect(&probe).await.ok().map(|_| ())) }
            },
        )
        .await?;
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>?<query>`.
    pub fn url(&self, database: &str, query: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?{query}",
            self.port
        )
    }

    /// The server's log, for assertions and failure reports.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
    }
}

fn chown_postgres(path: &std::path::Path) {
    let _ = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(path)
        .status();
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().to_string();
        let _ = as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "stop"],
        )
        .output();
    }
}
