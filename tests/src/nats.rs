use std::process::Command;
use std::time::Duration;

use crate::net::{find_binary, free_port};
use crate::process::ChildProcess;
use crate::wait::wait_until;

/// A private nats-server with JetStream on a random port.
pub struct NatsServer {
    pub url: String,
    pub port: u16,
    _dir: tempfile::TempDir,
    pub process: ChildProcess,
}

impl NatsServer {
    pub async fn start(log_dir: &std::path::Path) -> anyhow::Result<Self> {
        let bin = find_binary("XREGION_NATS_SERVER", "nats-server")?;
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path());
        let process = ChildProcess::spawn("nats-server", cmd, log_dir)?;
        let url = format!("nats://127.0.0.1:{port}");
        let probe = url.clone();
        wait_until(
            "nats-server to accept connections",
            Duration::from_secs(20),
            || {
                let probe = probe.clone();
                async move { Ok(async_nats::connect(probe).await.ok().map(|_| ())) }
            },
        )
        .await?;
        Ok(Self {
            url,
            port,
            _dir: dir,
            process,
        })
    }

    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        Ok(async_nats::connect(&self.url).await?)
    }
}
