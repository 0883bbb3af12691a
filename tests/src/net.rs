use std::net::TcpListener;

/// A port that was free a moment ago, taken below the kernel's ephemeral
/// range: a port the OS hands out for `bind(0)` is also what it gives the
/// next outgoing connection of any process, and CI once saw nats-server lose
/// its port to one ("address already in use") in the gap before it bound.
pub fn free_port() -> anyhow::Result<u16> {
    use rand::Rng;
    let (low, high) = (10_000, ephemeral_range_start().max(10_001));
    let mut rng = rand::thread_rng();
    for _ in 0..200 {
        let port: u16 = rng.gen_range(low..high);
        if claim(port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The first port of `net.ipv4.ip_local_port_range` (32768 when unknown).
fn ephemeral_range_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// True the first time `port` is asked for in this process, so two parts of
/// one test never get the same port before either has bound it.
fn claim(port: u16) -> bool {
    static CLAIMED: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    CLAIMED
        .lock()
        .map(|mut claimed| claimed.insert(port))
        .unwrap_or(true)
}

pub fn random_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}

/// Finds an executable: an explicit override variable, then PATH.
pub fn find_binary(env_var: &str, name: &str) -> anyhow::Result<std::path::PathBuf> {
    if let Ok(p) = std::env::var(env_var) {
        return Ok(p.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let home_cargo = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cargo/bin")
        .join(name);
    if home_cargo.is_file() {
        return Ok(home_cargo);
    }
    anyhow::bail!(
        "{name} not found (set {env_var} or put it on PATH; `cargo xtask test` installs it)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
        let start = ephemeral_range_start();
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "a port was handed out twice");
        for port in ports {
            // A kernel whose ephemeral range starts low leaves no room
            // below it: then only bind(0) is left.
            if start > 11_000 {
                assert!(port < start, "{port} in the ephemeral range from {start}");
            }
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }
}
