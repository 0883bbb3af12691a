//! The whole system for one test: NATS, a catalog database, Garage regions
//! and the five service binaries, sharing one configuration file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;
use xregion_bus::Namespace;
use xregion_common::RegionConfig;
use xregion_proto::xregion::v1::cross_region_backup_service_client::CrossRegionBackupServiceClient;

use crate::garage::Garage;
use crate::nats::NatsServer;
use crate::net::{free_port, random_suffix};
use crate::postgres::TestDatabase;
use crate::probe::BusProbe;
use crate::process::ChildProcess;
use crate::wait::{wait_until, WAIT};
use crate::wan::{WanProxy, WanSettings};

/// Every binary that reads the shared configuration.
pub const BINARIES: [&str; 7] = [
    "xregion-catalog",
    "xregion-api-gateway",
    "xregion-backup-watcher",
    "xregion-transfer-worker",
    "xregion-cleanup",
    "xregion-drill",
    "xregion-rds-sim",
];

pub const SERVICES: [&str; 5] = [
    "catalog",
    "api-gateway",
    "backup-watcher",
    "transfer-worker",
    "cleanup",
];
/// Nodes of the NATS cluster of `StackOptions::nats_cluster`.
pub const CLUSTER_NODES: usize = 3;
pub const TENANT_A: &str = "tenant-a";
pub const TENANT_B: &str = "tenant-b";
pub const TOKEN_A: &str = "token-of-tenant-a";
pub const TOKEN_B: &str = "token-of-tenant-b";

#[derive(Debug, Clone)]
pub struct StackOptions {
    pub regions: Vec<String>,
    /// Catalog on SQLite (the embedded default) instead of PostgreSQL.
    pub sqlite: bool,
    /// Appended to the shared configuration file.
    pub extra_config: String,
    /// Which services to start now; the others can be started later.
    pub services: Vec<&'static str>,
    /// Accepted (token, tenant) pairs.
    pub tokens: Vec<(String, String)>,
    /// Extra regions on `file://` folders under the stack's directory.
    pub file_regions: Vec<String>,
    /// Where the `file://` regions' folders go (default: the stack's folder).
    pub file_region_root: Option<PathBuf>,
    /// Options set on every Garage region (an empty value removes one).
    pub s3_options: Vec<(String, String)>,
    /// `source_key_prefix` templates by region id.
    pub source_key_prefixes: Vec<(String, String)>,
    /// Use these regions (another stack's buckets) instead of this stack's
    /// own Garage: two deployments sharing storage.
    pub shared_regions: Option<Vec<RegionConfig>>,
    /// Regions of stores the caller runs (another Garage), beside this
    /// stack's own.
    pub extra_regions: Vec<RegionConfig>,
    /// NATS with the shipped users and permissions (`deploy/nats/`), each
    /// service on its own identity; and/or TLS with client certificates.
    pub nats_permissions: bool,
    pub nats_tls: Option<crate::nats::NatsTls>,
    /// A 3-node JetStream cluster (open, without TLS) instead of one
    /// server, and `bus.replicas = 3`.
    pub nats_cluster: bool,
    /// Regions whose S3 endpoint is a WAN emulator in front of Garage
    /// (`Stack::wan`; no delay or cap until set).
    pub wan_regions: Vec<String>,
    /// Environment of every service process (e.g. `OTEL_*`); an empty
    /// value removes the variable.
    pub env: Vec<(String, String)>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            regions: ["r1", "r2", "r3"].map(String::from).to_vec(),
            sqlite: false,
            extra_config: String::new(),
            services: SERVICES.to_vec(),
            tokens: vec![
                (TOKEN_A.into(), TENANT_A.into()),
                (TOKEN_B.into(), TENANT_B.into()),
            ],
            file_regions: Vec::new(),
            s3_options: Vec::new(),
            file_region_root: None,
            source_key_prefixes: Vec::new(),
            shared_regions: None,
            extra_regions: Vec::new(),
            nats_permissions: false,
            nats_tls: None,
            nats_cluster: false,
            wan_regions: Vec::new(),
            env: Vec::new(),
        }
    }
}

impl StackOptions {
    /// Every service, with settings that keep sync tests quick.
    pub fn fast_sync() -> Self {
        Self {
            extra_config: crate::sync::FAST_SYNC_CONFIG.into(),
            ..Default::default()
        }
    }

    /// Only the catalog and the gateway: the API without any syncing.
    pub fn api_only() -> Self {
        Self {
            services: vec!["catalog", "api-gateway"],
            ..Default::default()
        }
    }

    /// The catalog on SQLite (the embedded default) instead of PostgreSQL.
    pub fn on_sqlite(self) -> Self {
        Self {
            sqlite: true,
            ..self
        }
    }
}

pub struct Stack {
    pub services: BTreeMap<String, ChildProcess>,
    pub http_ports: BTreeMap<String, u16>,
    pub regions: Vec<RegionConfig>,
    pub namespace: String,
    pub grpc_addr: String,
    pub config_path: PathBuf,
    pub database_url: String,
    pub db: Option<TestDatabase>,
    pub garage: Garage,
    /// In front of Garage for `StackOptions::wan_regions`.
    pub wan: Option<WanProxy>,
    pub nats: NatsServer,
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

/// Where cargo put the service binaries (`cargo build --bins` first).
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("XREGION_BIN_DIR") {
        return Ok(dir.into());
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("cannot locate target dir from {exe:?}"))?
        .to_path_buf();
    anyhow::ensure!(
        dir.join("xregion-catalog").is_file(),
        "service binaries not found in {dir:?}: run `cargo build --bins` first (cargo xtask test does)"
    );
    Ok(dir)
}

pub fn token_sha(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

impl Stack {
    pub async fn start(opts: StackOptions) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("xregion-test-").tempdir()?;
        let namespace = format!("t{}", &random_suffix()[..10]);
        let nats = if opts.nats_cluster {
            anyhow::ensure!(
                !opts.nats_permissions && opts.nats_tls.is_none(),
                "the NATS cluster of the harness is open: no permissions, no TLS"
            );
            NatsServer::start_cluster(dir.path(), CLUSTER_NODES).await?
        } else {
            NatsServer::start_with(
                dir.path(),
                crate::nats::NatsSecurity {
                    permissions_namespace: opts.nats_permissions.then(|| namespace.clone()),
                    tls: opts.nats_tls.clone(),
                },
            )
            .await?
        };
        if opts.nats_permissions {
            let ns = Namespace::new(&namespace, "rds")?;
            nats.declare_upstream_stream(&ns).await?;
        }
        let garage = Garage::start(dir.path()).await?;
        let mut regions = match &opts.shared_regions {
            Some(shared) => shared.clone(),
            None => opts
                .regions
                .iter()
                .map(|r| garage.region(r))
                .collect::<anyhow::Result<Vec<_>>>()?,
        };
        regions.extend(opts.extra_regions.iter().cloned());
        for region in &mut regions {
            for (key, value) in &opts.s3_options {
                if value.is_empty() {
                    region.options.remove(key);
                } else {
                    region.options.insert(key.clone(), value.clone());
                }
            }
        }
        let wan = match opts.wan_regions.is_empty() {
            true => None,
            false => {
                let upstream = garage.endpoint.trim_start_matches("http://").parse()?;
                let proxy = WanProxy::start(upstream, WanSettings::default()).await?;
                for region in regions.iter_mut() {
                    if opts.wan_regions.contains(&region.id) {
                        region.options.insert("aws_endpoint".into(), proxy.url());
                    }
                }
                Some(proxy)
            }
        };
        for (id, template) in &opts.source_key_prefixes {
            if let Some(region) = regions.iter_mut().find(|r| &r.id == id) {
                region.source_key_prefix = Some(template.clone());
            }
        }
        for id in &opts.file_regions {
            let path = opts
                .file_region_root
                .clone()
                .unwrap_or_else(|| dir.path().join("regions"))
                .join(id);
            std::fs::create_dir_all(&path)?;
            regions.push(RegionConfig {
                id: id.clone(),
                display_name: id.clone(),
                url: format!("file://{}", path.display()),
                options: Default::default(),
                source_key_prefix: None,
                encryption: None,
            });
        }
        let (db, database_url) = if opts.sqlite {
            (
                None,
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("catalog.db").display()
                ),
            )
        } else {
            let db = TestDatabase::create().await?;
            let url = db.url.clone();
            (Some(db), url)
        };
        let grpc_addr = format!("127.0.0.1:{}", free_port()?);
        let config_path = dir.path().join("xregion.toml");
        // Only the cluster sets it: other stacks run on the default.
        let replicas = if opts.nats_cluster {
            format!("replicas = {CLUSTER_NODES}\n")
        } else {
            String::new()
        };
        let mut config = format!(
            "[bus]\nurl = \"{}\"\nnamespace = \"{namespace}\"\nbackoff_ms = [200, 500, 1000]
max_deliver = 3\n{replicas}\n\
             [telemetry]\nlog_filter = \"info,xregion=debug\"\n\n\
             [catalog]\ndatabase_url = \"{database_url}\"\nrelay_interval_ms = 200\n\n\
             [gateway]\nlisten = \"{grpc_addr}\"\n\
             tokens = [{}]\n\n",
            nats.url,
            opts.tokens
                .iter()
                .map(|(t, tenant)| format!(
                    "{{ sha256 = \"{}\", tenant = \"{tenant}\" }}",
                    token_sha(t)
                ))
                .collect::<Vec<_>>()
                .join(", "),
        );
        for r in &regions {
            config.push_str(&format!(
                "[[regions]]\n{}\n",
                toml::to_string(r)?.replace("[options]", "[regions.options]")
            ));
        }
        config.push_str(&opts.extra_config);
        std::fs::write(&config_path, &config)?;
        let mut stack = Self {
            services: BTreeMap::new(),
            http_ports: BTreeMap::new(),
            regions,
            namespace,
            grpc_addr,
            config_path,
            database_url,
            db,
            garage,
            wan,
            nats,
            dir,
            env: opts.env.clone(),
        };
        for s in &opts.services {
            stack.start_service(s, &[]).await?;
        }
        Ok(stack)
    }

    /// Starts (or restarts) one service and waits until its /healthz is 200.
    pub async fn start_service(&mut self, name: &str, extra_args: &[&str]) -> anyhow::Result<()> {
        self.start_service_as(name, name, extra_args).await
    }

    /// Starts one more process of service `name`, known to the stack as
    /// `label` (e.g. a second catalog next to the first).
    pub async fn start_service_as(
        &mut self,
        label: &str,
        name: &str,
        extra_args: &[&str],
    ) -> anyhow::Result<()> {
        let bin = bin_dir()?.join(format!("xregion-{name}"));
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(&self.config_path)
            .arg("--http-listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(self.nats.service_args(name))
            .args(extra_args);
        cmd.env_remove("RUST_LOG");
        for (key, value) in &self.env {
            match value.is_empty() {
                true => cmd.env_remove(key),
                false => cmd.env(key, value),
            };
        }
        let process = ChildProcess::spawn(label, cmd, self.dir.path())?;
        self.services.insert(label.to_string(), process);
        self.http_ports.insert(label.to_string(), port);
        let svc = label.to_string();
        wait_until(
            &format!("{label} to be ready"),
            Duration::from_secs(60),
            || {
                let running = self
                    .services
                    .get_mut(&svc)
                    .map(|p| p.is_running())
                    .unwrap_or(false);
                let svc = svc.clone();
                async move {
                    anyhow::ensure!(running, "{svc} exited during start-up");
                    Ok(http_get(port, "/healthz")
                        .await
                        .ok()
                        .filter(|(code, _)| *code == 200)
                        .map(|_| ()))
                }
            },
        )
        .await
    }

    /// Starts one more `name` on this stack's configuration and `--set
    /// setting`, which must make it refuse to start; waits until it has
    /// exited and returns its log.
    pub async fn refused_start(
        &self,
        label: &str,
        name: &str,
        setting: &str,
    ) -> anyhow::Result<String> {
        let mut cmd = Command::new(bin_dir()?.join(format!("xregion-{name}")));
        cmd.arg("--config").arg(&self.config_path).args([
            "--http-listen",
            "127.0.0.1:0",
            "--set",
            setting,
        ]);
        let mut process = ChildProcess::spawn(label, cmd, self.dir.path())?;
        process.wait_exit(&format!("{label} to exit"), WAIT).await
    }

    /// Waits until service `name` has exited on its own (a fail point, a
    /// fatal error); `why` says what the test expects to stop it.
    pub async fn wait_exited(&mut self, name: &str, why: &str) -> anyhow::Result<()> {
        let what = format!("{name} to exit: {why}");
        self.service(name)?.wait_exit(&what, WAIT).await?;
        Ok(())
    }

    pub fn kill(&mut self, name: &str) {
        if let Some(p) = self.services.get_mut(name) {
            p.kill();
        }
    }

    pub fn service(&mut self, name: &str) -> anyhow::Result<&mut ChildProcess> {
        self.services
            .get_mut(name)
            .ok_or_else(|| anyhow::anyhow!("{name} not started"))
    }

    pub fn ns(&self) -> Namespace {
        Namespace::new(&self.namespace, "rds").unwrap_or_else(|e| panic!("namespace: {e}"))
    }

    /// The upstream simulator, connected as the upstream.
    pub async fn upstream(&self) -> anyhow::Result<xregion_rds_sim::Upstream> {
        let client = self.nats.upstream_client().await?;
        Ok(xregion_rds_sim::Upstream::new(client, self.ns()))
    }

    /// The uploads bucket: the workers' records of multipart uploads.
    pub async fn uploads(&self) -> anyhow::Result<async_nats::jetstream::kv::Store> {
        let js = async_nats::jetstream::new(self.nats.client().await?);
        Ok(js.get_key_value(self.ns().uploads_bucket()).await?)
    }

    /// A probe on the bus, with every right.
    pub async fn probe(&self) -> anyhow::Result<BusProbe> {
        Ok(BusProbe::new(self.nats.client().await?, self.ns()))
    }

    pub fn region(&self, id: &str) -> anyhow::Result<&RegionConfig> {
        self.regions
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| anyhow::anyhow!("no region {id}"))
    }

    pub async fn grpc(&self) -> anyhow::Result<CrossRegionBackupServiceClient<Channel>> {
        Ok(CrossRegionBackupServiceClient::connect(format!("http://{}", self.grpc_addr)).await?)
    }

    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(format!("http://{}", self.grpc_addr))?
            .connect()
            .await?)
    }

    /// The sum of a metric over the label sets containing `label` (e.g.
    /// `region="r2"`, or "" for all), read from the service's /metrics.
    pub async fn metric(&self, service: &str, name: &str, label: &str) -> anyhow::Result<f64> {
        Ok(self
            .metrics(service)
            .await?
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(['{', ' ']).next() == Some(name) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// Bytes the worker has copied for FULLs so far: whether a FULL is
    /// under way, and how far.
    pub async fn full_bytes_moved(&self) -> anyhow::Result<f64> {
        self.metric(
            "transfer-worker",
            "xregion_transfer_bytes_total",
            "lane=\"full\"",
        )
        .await
    }

    pub async fn metrics(&self, service: &str) -> anyhow::Result<String> {
        let port = *self
            .http_ports
            .get(service)
            .ok_or_else(|| anyhow::anyhow!("{service} not started"))?;
        Ok(http_get(port, "/metrics").await?.1)
    }
}

/// `request` with `authorization: Bearer <token>`.
pub fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Ok(v) = format!("Bearer {token}").parse() {
        req.metadata_mut().insert("authorization", v);
    }
    req
}

/// A minimal HTTP/1.0 GET, enough for /healthz and /metrics.
pub async fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}
