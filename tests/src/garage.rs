//! A single-node Garage server (S3-compatible) with one bucket per region.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use xregion_common::RegionConfig;

use crate::net::{find_binary, free_port, random_suffix};
use crate::process::ChildProcess;
use crate::wait::wait_until;

pub struct Garage {
    pub endpoint: String,
    pub admin_port: u16,
    admin_token: String,
    pub key_id: String,
    pub secret: String,
    config: PathBuf,
    bin: PathBuf,
    _dir: tempfile::TempDir,
    pub process: ChildProcess,
}

impl Garage {
    pub async fn start(log_dir: &std::path::Path) -> anyhow::Result<Self> {
        let bin = find_binary("XREGION_GARAGE", "garage")?;
        let dir = tempfile::tempdir()?;
        let (rpc, s3, admin) = (free_port()?, free_port()?, free_port()?);
        let secret: String = (0..4).map(|_| random_suffix()).collect();
        let config = dir.path().join("garage.toml");
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
                 [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\nroot_domain = \".s3.garage.localhost\"\n\
                 [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\nadmin_token = \"{secret}\"\nmetrics_token = \"{secret}\"\n",
                d = dir.path().display()
            ),
        )?;
        let mut cmd = Command::new(&bin);
        cmd.arg("-c").arg(&config).arg("server");
        let process = ChildProcess::spawn("garage", cmd, log_dir)?;
        let mut g = Self {
            endpoint: format!("http://127.0.0.1:{s3}"),
            admin_port: admin,
            admin_token: secret.clone(),
            key_id: String::new(),
            secret: String::new(),
            config,
            bin,
            _dir: dir,
            process,
        };
        // `node id` answers from local files; `status` needs the server.
        let node = wait_until("garage server", Duration::from_secs(30), || {
            let out = g
                .cli(&["status"])
                .and_then(|_| g.cli(&["node", "id", "-q"]));
            async move {
                Ok(out
                    .ok()
                    .and_then(|s| s.split('@').next().map(str::to_string))
                    .filter(|s| !s.is_empty()))
            }
        })
        .await?;
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "100G", node.trim()])?;
        g.cli(&["layout", "apply", "--version", "1"])?;
        let key = g.cli(&["key", "create", "xregion-test"])?;
        g.key_id = field(&key, "Key ID:")?;
        g.secret = field(&key, "Secret key:")?;
        Ok(g)
    }

    /// Garage's own Prometheus metrics (request counters per S3 endpoint).
    pub async fn metrics(&self) -> anyhow::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.admin_port)).await?;
        s.write_all(
            format!(
                "GET /metrics HTTP/1.0\r\nAuthorization: Bearer {}\r\n\r\n",
                self.admin_token
            )
            .as_bytes(),
        )
        .await?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).await?;
        Ok(buf)
    }

    fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "garage {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// Creates a bucket the test key owns and returns the region's config.
    pub fn region(&self, id: &str) -> anyhow::Result<RegionConfig> {
        let bucket = format!("xr-{id}-{}", &random_suffix()[..8]).to_ascii_lowercase();
        self.cli(&["bucket", "create", &bucket])?;
        self.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            &bucket,
            "--key",
            "xregion-test",
        ])?;
        let options: BTreeMap<String, String> = [
            ("aws_endpoint", self.endpoint.as_str()),
            ("aws_region", "garage"),
            ("aws_access_key_id", self.key_id.as_str()),
            ("aws_secret_access_key", self.secret.as_str()),
            ("aws_allow_http", "true"),
            ("aws_virtual_hosted_style_request", "false"),
            ("aws_checksum_algorithm", "sha256"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Ok(RegionConfig {
            id: id.to_string(),
            display_name: format!("Region {id}"),
            url: format!("s3://{bucket}"),
            options,
            source_key_prefix: None,
            encryption: None,
        })
    }
}

pub fn store(region: &RegionConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    Ok(xregion_common::regions::build_store(region)?)
}

fn field(text: &str, name: &str) -> anyhow::Result<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
        .ok_or_else(|| anyhow::anyhow!("no {name:?} in garage output: {text}"))
}
