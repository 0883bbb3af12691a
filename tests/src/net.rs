use std::net::TcpListener;

/// A port that was free a moment ago. The OS rarely hands the same port out
/// again at once; the services still fail loudly if it happened.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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
