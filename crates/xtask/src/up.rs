//! `cargo xtask up`: the whole system on embedded defaults — SQLite catalog,
//! `file://` regions under one folder, a private nats-server — plus the
//! upstream simulator's demo workload when it is built.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use sha2::Digest;

use crate::tools;

const SERVICES: [&str; 5] = [
    "catalog",
    "api-gateway",
    "backup-watcher",
    "transfer-worker",
    "cleanup",
];
pub const REGIONS: [(&str, &str); 3] = [
    ("cn-north-1", "North 1"),
    ("cn-east-2", "East 2"),
    ("cn-south-1", "South 1"),
];
pub const DEMO_TOKENS: [(&str, &str); 2] =
    [("demo-token-a", "tenant-a"), ("demo-token-b", "tenant-b")];

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Folder for the catalog, the regions' data, NATS and logs.
    #[arg(long, default_value = ".xregion")]
    dir: PathBuf,
    /// gRPC address of the gateway.
    #[arg(long, default_value = "127.0.0.1:50051")]
    grpc_listen: String,
    /// Web dashboard of the gateway (empty: none).
    #[arg(long, default_value = "127.0.0.1:8088")]
    dashboard_listen: String,
    /// Port of the private nats-server.
    #[arg(long, default_value_t = 14222)]
    nats_port: u16,
    /// First of the services' health/metrics ports (one each, in order).
    #[arg(long, default_value_t = 19100)]
    http_base_port: u16,
    /// Do not start the simulator's demo workload.
    #[arg(long)]
    no_demo: bool,
    /// Start, wait until everything is ready, print the summary and stop
    /// (for checks and CI).
    #[arg(long)]
    check: bool,
}

struct Running {
    name: String,
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("xtask: {} did not stop in time, killing it", self.name);
        let _ = self.child.kill();
    }
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let nats_bin = tools::ensure_nats_server()?;
    tools::cargo(&["build", "--workspace", "--bins"], &[])?;
    let target = target_dir()?;
    std::fs::create_dir_all(args.dir.join("logs"))?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let config = write_config(&dir, &args)?;

    // Started in reverse of the stop order: the Drop of `running` stops the
    // last started first, so NATS goes last.
    let mut running: Vec<Running> = Vec::new();
    let nats_dir = dir.join("nats");
    let mut nats = Command::new(&nats_bin);
    nats.args([
        "-a",
        "127.0.0.1",
        "-p",
        &args.nats_port.to_string(),
        "-js",
        "-sd",
    ])
    .arg(&nats_dir);
    running.push(spawn("nats-server", nats, &dir)?);
    wait_port(args.nats_port, "nats-server")?;

    let mut order: Vec<&str> = SERVICES.to_vec();
    order.retain(|s| *s != "api-gateway");
    order.push("api-gateway");
    for (i, name) in order.iter().enumerate() {
        let port = args.http_base_port + i as u16;
        let mut cmd = Command::new(target.join(format!("xregion-{name}")));
        cmd.arg("--config")
            .arg(&config)
            .arg("--http-listen")
            .arg(format!("127.0.0.1:{port}"));
        running.push(spawn(name, cmd, &dir)?);
        wait_healthy(port, name)?;
    }
    let sim = target.join("xregion-rds-sim");
    if !args.no_demo && sim.is_file() {
        let mut cmd = Command::new(sim);
        cmd.arg("--config").arg(&config).arg("demo");
        running.push(spawn("rds-sim", cmd, &dir)?);
    }
    print_summary(&dir, &args);
    if args.check {
        println!("xtask: --check: everything is up; stopping");
        drop_in_order(running);
        return Ok(());
    }
    println!("Press Ctrl-C to stop.");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst))?;
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            println!("xtask: stopping (services first, NATS last)");
            drop_in_order(running);
            return Ok(());
        }
        for r in running.iter_mut() {
            if let Ok(Some(status)) = r.child.try_wait() {
                eprintln!(
                    "xtask: {} exited ({status}); see {}/logs/{}.log",
                    r.name,
                    dir.display(),
                    r.name
                );
                drop_in_order(running);
                anyhow::bail!("a service stopped");
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn drop_in_order(mut running: Vec<Running>) {
    while let Some(r) = running.pop() {
        drop(r);
    }
}

fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no target dir"))?
        .to_path_buf())
}

fn spawn(name: &str, mut cmd: Command, dir: &Path) -> anyhow::Result<Running> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("logs").join(format!("{name}.log")))?;
    cmd.stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .stdin(Stdio::null());
    let child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {name}: {e}"))?;
    Ok(Running {
        name: name.to_string(),
        child,
    })
}

fn wait_port(port: u16, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("{what} did not open port {port}")
}

fn wait_healthy(port: u16, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200") {
                println!("xtask: {name} ready (health on 127.0.0.1:{port})");
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("{name} did not become ready; see its log")
}

fn write_config(dir: &Path, args: &UpArgs) -> anyhow::Result<PathBuf> {
    let mut text = format!(
        "# Written by `cargo xtask up`; every service reads it.\n[bus]\nurl = \"nats://127.0.0.1:{}\"\n\n\
         [catalog]\ndatabase_url = \"sqlite://{}?mode=rwc\"\n\n[gateway]\nlisten = \"{}\"\ndashboard_listen = \"{}\"\ntokens = [\n",
        args.nats_port,
        dir.join("catalog.db").display(),
        args.grpc_listen,
        args.dashboard_listen
    );
    for (token, tenant) in DEMO_TOKENS {
        text.push_str(&format!(
            "  {{ sha256 = \"{}\", tenant = \"{tenant}\" }},\n",
            hex::encode(sha2::Sha256::digest(token))
        ));
    }
    text.push_str("]\n");
    for (id, name) in REGIONS {
        text.push_str(&format!(
            "\n[[regions]]\nid = \"{id}\"\ndisplay_name = \"{name}\"\nurl = \"file://{}\"\n\
             source_key_prefix = \"{{instance}}/\"\n",
            dir.join("regions").join(id).display()
        ));
    }
    let path = dir.join("xregion.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn print_summary(dir: &Path, args: &UpArgs) {
    println!("\nxregion is up.");
    println!("  gRPC endpoint   http://{}", args.grpc_listen);
    if !args.dashboard_listen.is_empty() {
        println!(
            "  dashboard       http://{}/  (sign in with a token below)",
            args.dashboard_listen
        );
    }
    println!("  config          {}", dir.join("xregion.toml").display());
    println!("  logs            {}", dir.join("logs").display());
    println!("  regions         {}", REGIONS.map(|r| r.0).join(", "));
    for (token, tenant) in DEMO_TOKENS {
        println!("  token {token:<14} tenant {tenant}");
    }
    println!("\nTry: XREGION_TOKEN=demo-token-a cargo run -q -p xregion-cli -- list\n");
}
