//! Flags every service binary accepts.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "XREGION_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub dump_config: bool,
    /// NATS server URL (overrides `bus.url`).
    #[arg(long)]
    pub nats_url: Option<String>,
    /// Namespace prefix of subjects, streams and durables (overrides `bus.namespace`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Address of the health and metrics endpoint (overrides `http.listen`).
    #[arg(long)]
    pub http_listen: Option<String>,
    /// Any other setting, as a dotted key: `--set worker.log_concurrency=8`.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,
}

impl CommonArgs {
    /// The flags as dotted-key overrides, the last layer of the loader.
    pub fn overrides(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(v) = &self.nats_url {
            out.push(("bus.url".to_string(), v.clone()));
        }
        if let Some(v) = &self.namespace {
            out.push(("bus.namespace".to_string(), v.clone()));
        }
        if let Some(v) = &self.http_listen {
            out.push(("http.listen".to_string(), v.clone()));
        }
        out.extend(self.set.iter().cloned());
        out
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    if k.is_empty() {
        return Err("empty key".into());
    }
    Ok((k.to_string(), v.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_values() {
        assert_eq!(
            parse_key_value("a.b=c=d").unwrap(),
            ("a.b".into(), "c=d".into())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }
}
