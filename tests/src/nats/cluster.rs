//! A JetStream cluster of nats-server processes routed to each other on
//! loopback, each with its own ports, store and configuration file: the
//! fleet topology (`deploy/`) in a test. Open servers only: the shipped
//! users and permissions run on a single server (`NatsServer::start_with`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use async_nats::jetstream::stream::{Config, StorageType};

use super::{NatsSecurity, NatsServer};
use crate::net::{find_binary, free_port, random_suffix};
use crate::process::ChildProcess;
use crate::wait::{wait_until, WAIT};

/// One node: what it needs to be started again exactly as before.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    pub name: String,
    pub port: u16,
    config: PathBuf,
}

impl ClusterNode {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&self, bin: &Path, log_dir: &Path) -> anyhow::Result<ChildProcess> {
        let mut cmd = Command::new(bin);
        cmd.arg("-c").arg(&self.config);
        ChildProcess::spawn(&format!("nats-{}", self.name), cmd, log_dir)
    }
}

/// The nodes of a cluster; node 0's process is `NatsServer::process`, so
/// code written for one server (its log, its pid) keeps working.
pub struct Cluster {
    pub nodes: Vec<ClusterNode>,
    /// Processes of nodes 1.. (`None` while killed).
    others: Vec<ChildProcess>,
    bin: PathBuf,
    log_dir: PathBuf,
}

/// `count` distinct ports that were free a moment ago.
fn distinct_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let mut ports = BTreeSet::new();
    while ports.len() < count {
        ports.insert(free_port()?);
    }
    Ok(ports.into_iter().collect())
}

/// The configuration file of node `i`: routes to every other node.
fn node_config(cluster: &str, i: usize, ports: &[u16], routes: &[u16], store: &Path) -> String {
    let others: Vec<String> = routes
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, p)| format!("    nats-route://127.0.0.1:{p}"))
        .collect();
    format!(
        "server_name: n{i}\nlisten: 127.0.0.1:{}\n\
         jetstream {{\n  store_dir: {:?}\n}}\n\
         cluster {{\n  name: {cluster}\n  listen: 127.0.0.1:{}\n  routes: [\n{}\n  ]\n}}\n",
        ports[i],
        store.display().to_string(),
        routes[i],
        others.join("\n"),
    )
}

impl NatsServer {
    /// Starts a `size`-node JetStream cluster and waits until it can hold
    /// streams with `size` replicas. `url` lists every node
    /// (comma-separated, as `bus.url` takes it), `port` is node 0's.
    pub async fn start_cluster(log_dir: &Path, size: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(size >= 1, "a cluster needs a node");
        let bin = find_binary("XREGION_NATS_SERVER", "nats-server")?;
        let dir = tempfile::tempdir()?;
        let cluster_name = format!("xr{}", &random_suffix()[..8]);
        let all = distinct_ports(2 * size)?;
        let (ports, routes) = all.split_at(size);
        let mut nodes = Vec::new();
        for i in 0..size {
            let config = dir.path().join(format!("n{i}.conf"));
            let store = dir.path().join(format!("n{i}"));
            std::fs::write(
                &config,
                node_config(&cluster_name, i, ports, routes, &store),
            )?;
            nodes.push(ClusterNode {
                name: format!("n{i}"),
                port: ports[i],
                config,
            });
        }
        let mut processes = nodes
            .iter()
            .map(|n| n.spawn(&bin, log_dir))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let process = processes.remove(0);
        let url = nodes
            .iter()
            .map(ClusterNode::url)
            .collect::<Vec<_>>()
            .join(",");
        let server = Self {
            url,
            port: ports[0],
            _dir: dir,
            process,
            security: NatsSecurity::default(),
            password_files: Default::default(),
            cluster: Some(Cluster {
                nodes,
                others: processes,
                bin,
                log_dir: log_dir.to_path_buf(),
            }),
        };
        for i in 0..size {
            server.wait_node_serves(i).await?;
        }
        server.wait_ready_for_replicas(size).await?;
        Ok(server)
    }

    fn cluster_ref(&self) -> anyhow::Result<&Cluster> {
        self.cluster
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("not a cluster: started with NatsServer::start"))
    }

    /// The nodes' client URLs, node 0 first.
    pub fn node_urls(&self) -> Vec<String> {
        match &self.cluster {
            Some(c) => c.nodes.iter().map(ClusterNode::url).collect(),
            None => vec![self.url.clone()],
        }
    }

    fn node_process(&mut self, i: usize) -> anyhow::Result<&mut ChildProcess> {
        let cluster = self
            .cluster
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("not a cluster"))?;
        match i {
            0 => Ok(&mut self.process),
            _ => cluster
                .others
                .get_mut(i - 1)
                .ok_or_else(|| anyhow::anyhow!("no node {i}")),
        }
    }

    /// SIGKILLs node `i`: no goodbye to its peers or clients.
    pub fn kill_node(&mut self, i: usize) -> anyhow::Result<()> {
        self.node_process(i)?.kill();
        Ok(())
    }

    /// Starts node `i` again on its ports and store (appending to its log),
    /// and waits until it serves clients and the cluster can hold streams
    /// with a replica on every node again (a meta leader that sees every
    /// peer).
    pub async fn restart_node(&mut self, i: usize) -> anyhow::Result<()> {
        let cluster = self.cluster_ref()?;
        let node = cluster
            .nodes
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("no node {i}"))?;
        let size = cluster.nodes.len();
        let process = node.spawn(&cluster.bin, &cluster.log_dir)?;
        let slot = self.node_process(i)?;
        anyhow::ensure!(!slot.is_running(), "node {i} is still running");
        // The killed process is gone; dropping its handle prints its tail.
        *slot = process;
        self.wait_node_serves(i).await?;
        self.wait_ready_for_replicas(size).await
    }

    /// Waits until node `i` accepts client connections itself.
    pub async fn wait_node_serves(&self, i: usize) -> anyhow::Result<()> {
        let url = self
            .node_urls()
            .get(i)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no node {i}"))?;
        wait_until(&format!("nats node {i} to serve"), WAIT, || {
            let url = url.clone();
            async move {
                let options =
                    async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(2));
                Ok(options.connect(url.as_str()).await.ok().map(|_| ()))
            }
        })
        .await
    }

    /// JetStream requests that give up soon: before a leader exists nobody
    /// may answer, and the next poll should not wait the default 5 s.
    async fn probe_context(&self) -> anyhow::Result<async_nats::jetstream::Context> {
        let mut js = async_nats::jetstream::new(self.client().await?);
        js.set_timeout(Duration::from_secs(2));
        Ok(js)
    }

    /// Waits until the cluster has a JetStream meta leader: `$JS.API.INFO`
    /// is answered by the leader only, and with an error while there is
    /// none.
    pub async fn wait_meta_leader(&self) -> anyhow::Result<()> {
        let js = self.probe_context().await?;
        wait_until("a JetStream meta leader", WAIT, || async {
            Ok(js.query_account().await.ok().map(|_| ()))
        })
        .await
    }

    /// Waits until a stream with `replicas` replicas can be created: a meta
    /// leader that sees enough peers online. Proven by creating (and
    /// deleting) a small probe stream, the harness's own name.
    pub async fn wait_ready_for_replicas(&self, replicas: usize) -> anyhow::Result<()> {
        self.wait_meta_leader().await?;
        let js = self.probe_context().await?;
        let name = format!("HARNESS_PROBE_{}", &random_suffix()[..8]);
        let config = Config {
            name: name.clone(),
            subjects: vec![format!("harness.probe.{name}")],
            storage: StorageType::Memory,
            num_replicas: replicas,
            ..Default::default()
        };
        wait_until(
            &format!("the cluster to accept a stream with {replicas} replicas"),
            WAIT,
            || async {
                js.create_stream(config.clone()).await?;
                js.delete_stream(&name).await?;
                Ok(Some(()))
            },
        )
        .await
    }
}
