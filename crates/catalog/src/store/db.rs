use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if backend == Backend::Postgres && !verifies_or_stays_local(url) {
            tracing::warn!(
                "the database connection is not verified TLS: set sslmode=verify-full \
                 (and sslrootcert) in catalog.database_url"
            );
        }
        let options: AnyConnectOptions = url.parse()?;
        let options = options.disable_statement_logging();
        let pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let pool = match backend {
            // One writer at a time: SQLite cannot upgrade concurrent deferred
            // transactions, and the embedded default serves one deployment.
            Backend::Sqlite => {
                pool_options
                    .max_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                pool_options
                    .max_connections(max_connections)
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Self { pool, backend })
    }

    pub async fn migrate(&self) -> Result<()> {
        super::schema::migrate(self).await
    }
}

/// Whether a PostgreSQL URL makes the client verify the server's
/// certificate (`sslmode=verify-ca|verify-full`), or talks to this machine
/// only (loopback or a Unix socket), where there is no network to protect.
fn verifies_or_stays_local(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let mode = parsed
        .query_pairs()
        .find(|(k, _)| k == "sslmode" || k == "ssl-mode")
        .map(|(_, v)| v.to_ascii_lowercase());
    if matches!(mode.as_deref(), Some("verify-ca" | "verify-full")) {
        return true;
    }
    let socket_dir = parsed
        .query_pairs()
        .any(|(k, v)| k == "host" && v.starts_with('/'));
    match parsed.host() {
        None => true,
        Some(_) if socket_dir => true,
        // Not a special scheme: the URL parser leaves IPv4 hosts as text.
        Some(url::Host::Domain(d)) => {
            d == "localhost"
                || d.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::verifies_or_stays_local;

    #[test]
    fn only_verified_tls_or_local_connections_pass() {
        for ok in [
            "postgres://xr@db.example/xr?sslmode=verify-full&sslrootcert=/ca.pem",
            "postgres://xr@db.example/xr?sslmode=VERIFY-CA",
            "postgres://xr@127.0.0.1:5432/xr",
            "postgres://xr@localhost/xr?sslmode=disable",
            "postgres://xr@[::1]/xr",
            "postgres://xr@db/xr?host=/var/run/postgresql",
        ] {
            assert!(verifies_or_stays_local(ok), "{ok}");
        }
        for weak in [
            "postgres://xr@db.example/xr",
            "postgres://xr@db.example/xr?sslmode=require",
            "postgres://xr@10.0.0.5/xr?sslmode=prefer",
        ] {
            assert!(!verifies_or_stays_local(weak), "{weak}");
        }
    }
}
