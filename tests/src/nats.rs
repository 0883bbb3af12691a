use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::net::{find_binary, free_port, random_suffix};
use crate::process::ChildProcess;
use crate::wait::wait_until;

pub mod cluster;

/// The identities of `deploy/nats/nats-server.conf`.
pub const NATS_USERS: [&str; 8] = [
    "catalog",
    "api-gateway",
    "backup-watcher",
    "transfer-worker",
    "cleanup",
    "drill",
    "upstream",
    "operator",
];

/// PEM files for a nats-server that requires TLS and verifies clients.
#[derive(Debug, Clone)]
pub struct NatsTls {
    pub ca_file: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// How the server is locked: the shipped users and permissions (templated
/// with the test's namespace, random passwords), TLS, or both.
#[derive(Debug, Clone, Default)]
pub struct NatsSecurity {
    /// Use `deploy/nats/nats-server.conf` with this namespace.
    pub permissions_namespace: Option<String>,
    pub tls: Option<NatsTls>,
}

/// A private nats-server with JetStream on a random port, or a cluster of
/// them (`start_cluster`): then `url` lists every node and `port`,
/// `process` are node 0's.
pub struct NatsServer {
    pub url: String,
    pub port: u16,
    _dir: tempfile::TempDir,
    pub process: ChildProcess,
    pub security: NatsSecurity,
    /// Password file of each identity (with permissions only).
    pub password_files: BTreeMap<String, PathBuf>,
    /// The other nodes, when this is a cluster.
    pub cluster: Option<cluster::Cluster>,
}

/// `deploy/nats/nats-server.conf` of this checkout.
pub fn shipped_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats/nats-server.conf")
}

/// The shipped configuration for namespace `ns` (upstream namespace `rds`).
pub fn templated_config(ns: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(shipped_config())?;
    let upper = ns.to_ascii_uppercase().replace('-', "_");
    Ok(text.replace("xregion", ns).replace("XREGION", &upper))
}

impl NatsServer {
    pub async fn start(log_dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(log_dir, NatsSecurity::default()).await
    }

    pub async fn start_with(log_dir: &Path, security: NatsSecurity) -> anyhow::Result<Self> {
        let bin = find_binary("XREGION_NATS_SERVER", "nats-server")?;
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        let mut password_files = BTreeMap::new();
        let mut conf = String::new();
        if let Some(ns) = &security.permissions_namespace {
            let store = dir.path().join("js");
            conf = templated_config(ns)?.replace(
                "store_dir: \"/data\"",
                &format!("store_dir: {:?}", store.display().to_string()),
            );
            anyhow::ensure!(!conf.contains("\"/data\""), "store_dir not replaced");
            let mut passwords = String::new();
            for user in NATS_USERS {
                let password = random_suffix();
                let var = format!("{}_PASSWORD", user.to_ascii_uppercase().replace('-', "_"));
                passwords.push_str(&format!("{var}: \"{password}\"\n"));
                let file = dir.path().join(format!("{user}.password"));
                std::fs::write(&file, format!("{password}\n"))?;
                password_files.insert(user.to_string(), file);
            }
            std::fs::write(dir.path().join("passwords.conf"), passwords)?;
        }
        if let Some(tls) = &security.tls {
            conf.push_str(&format!(
                "\ntls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  verify: true\n  timeout: 5\n}}\n",
                tls.server_cert, tls.server_key, tls.ca_file
            ));
        }
        if !conf.is_empty() {
            let path = dir.path().join("nats-server.conf");
            std::fs::write(&path, conf)?;
            cmd.arg("-c").arg(path);
        }
        // Flags win over the file: this test's address and port.
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
        if security.permissions_namespace.is_none() {
            cmd.arg("-js").arg("-sd").arg(dir.path().join("js"));
        }
        let process = ChildProcess::spawn("nats-server", cmd, log_dir)?;
        let server = Self {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            _dir: dir,
            process,
            security,
            password_files,
            cluster: None,
        };
        let probe = &server;
        wait_until(
            "nats-server to accept connections",
            Duration::from_secs(20),
            || async move { Ok(probe.client().await.ok().map(|_| ())) },
        )
        .await?;
        Ok(server)
    }

    /// A client with every right: anonymous on an open server, `operator`
    /// on one with the shipped permissions.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        if self.security.permissions_namespace.is_some() {
            self.client_as("operator").await
        } else {
            self.connect(self.options(None)?).await
        }
    }

    /// What the upstream RDS control plane connects as.
    pub async fn upstream_client(&self) -> anyhow::Result<async_nats::Client> {
        if self.password_files.contains_key("upstream") {
            self.client_as("upstream").await
        } else {
            self.client().await
        }
    }

    /// A client with `user`'s password and inbox (`_INBOX.<user>`).
    pub async fn client_as(&self, user: &str) -> anyhow::Result<async_nats::Client> {
        self.connect(self.options(Some(user))?).await
    }

    /// Options with this server's CA and client certificate (when it has
    /// TLS) and `user`'s credentials.
    pub fn options(&self, user: Option<&str>) -> anyhow::Result<async_nats::ConnectOptions> {
        let mut options = async_nats::ConnectOptions::new();
        if let Some(user) = user {
            let file = self
                .password_files
                .get(user)
                .ok_or_else(|| anyhow::anyhow!("no NATS user {user}"))?;
            let password = std::fs::read_to_string(file)?.trim().to_string();
            options = options
                .user_and_password(user.to_string(), password)
                .custom_inbox_prefix(format!("_INBOX.{user}"));
        }
        if let Some(tls) = &self.security.tls {
            options = options
                .require_tls(true)
                .add_root_certificates(tls.ca_file.clone())
                .add_client_certificate(tls.client_cert.clone(), tls.client_key.clone());
        }
        Ok(options)
    }

    pub async fn connect(
        &self,
        options: async_nats::ConnectOptions,
    ) -> anyhow::Result<async_nats::Client> {
        Ok(options
            .connection_timeout(Duration::from_secs(5))
            .connect(
                xregion_bus::connect::server_addrs(&self.url)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", self.url))?
                    .as_slice(),
            )
            .await?)
    }

    /// `--set` flags that give service `user` its credentials and the TLS
    /// files, and (with permissions) leave the upstream's stream alone.
    pub fn service_args(&self, user: &str) -> Vec<String> {
        let mut sets = Vec::new();
        if let Some(file) = self.password_files.get(user) {
            sets.push(format!("bus.user={user}"));
            sets.push(format!("bus.password_file={}", file.display()));
            sets.push("bus.create_upstream_stream=false".to_string());
        }
        if let Some(tls) = &self.security.tls {
            sets.push(format!("bus.tls.ca_file={}", tls.ca_file.display()));
            sets.push(format!("bus.tls.cert_file={}", tls.client_cert.display()));
            sets.push(format!("bus.tls.key_file={}", tls.client_key.display()));
        }
        sets.into_iter()
            .flat_map(|s| ["--set".to_string(), s])
            .collect()
    }

    /// The upstream's stream, declared by the upstream itself as it would in
    /// production (services then run with `create_upstream_stream = false`).
    pub async fn declare_upstream_stream(&self, ns: &xregion_bus::Namespace) -> anyhow::Result<()> {
        use async_nats::jetstream::stream::{Config, StorageType};
        async_nats::jetstream::new(self.upstream_client().await?)
            .get_or_create_stream(Config {
                name: ns.upstream_stream(),
                subjects: vec![ns.upstream_filter_all()],
                duplicate_window: Duration::from_secs(3600),
                storage: StorageType::File,
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// Starts a single server again (after its process was killed) on the
    /// same port, configuration and JetStream store: a NATS restart as
    /// clients see one.
    pub async fn restart(&mut self, log_dir: &Path) -> anyhow::Result<()> {
        self.process.kill();
        let mut cmd = Command::new(find_binary("XREGION_NATS_SERVER", "nats-server")?);
        let conf = self._dir.path().join("nats-server.conf");
        if conf.is_file() {
            cmd.arg("-c").arg(conf);
        }
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if self.security.permissions_namespace.is_none() {
            cmd.arg("-js").arg("-sd").arg(self._dir.path().join("js"));
        }
        self.process = ChildProcess::spawn("nats-server", cmd, log_dir)?;
        let probe = &*self;
        wait_until(
            "nats-server to accept connections again",
            Duration::from_secs(20),
            || async move { Ok(probe.client().await.ok().map(|_| ())) },
        )
        .await
    }
}
