//! The one configuration loader: defaults → TOML file → `XREGION_` env vars
//! (`__` for nesting) → command-line flags.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::Result;
use crate::regions::RegionConfig;

/// Settings every service has. Services embed it with `#[serde(flatten)]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CommonConfig {
    pub bus: BusConfig,
    pub telemetry: TelemetryConfig,
    pub http: HttpConfig,
    pub regions: Vec<RegionConfig>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BusConfig {
    pub url: String,
    /// Prefix of every subject, stream and durable name of this deployment.
    pub namespace: String,
    /// Prefix of the upstream RDS subjects and stream (`rds` upstream).
    pub upstream_namespace: String,
    /// Create the upstream stream when it does not exist (local stacks).
    pub create_upstream_stream: bool,
    /// How long to keep trying the first connection.
    pub connect_timeout_secs: u64,
    pub request_timeout_secs: u64,
    /// Deliveries of one message before it goes to the dead-letter subject.
    pub max_deliver: u32,
    /// Delays between redeliveries, in milliseconds; the last repeats.
    pub backoff_ms: Vec<u64>,
    /// How long the events stream keeps events, in days.
    pub events_max_age_days: u64,
    /// NATS user name; its password comes from `password_file`.
    pub user: Option<String>,
    /// File holding the NATS password of `user` (secrets only from files).
    pub password_file: Option<PathBuf>,
    /// File holding an nkey seed (`SU…`): authenticates with an nkey.
    pub nkey_seed_file: Option<PathBuf>,
    /// A `.creds` file (user JWT and nkey seed) of decentralised NATS auth.
    pub creds_file: Option<PathBuf>,
    pub tls: BusTlsConfig,
}

/// TLS towards NATS. Setting any file makes TLS required: a server that
/// offers none is refused instead of talking plaintext.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BusTlsConfig {
    /// Require TLS even with no file set (the system roots verify the server).
    pub required: bool,
    /// PEM file of the CA that signs the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for servers that verify clients.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// As `--dump-config` shows it: the URL's credentials hidden.
impl std::fmt::Debug for BusConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::redact::debug_redacted(f, "BusConfig", self)
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            namespace: "xregion".into(),
            upstream_namespace: "rds".into(),
            create_upstream_stream: true,
            connect_timeout_secs: 30,
            request_timeout_secs: 10,
            max_deliver: 10,
            backoff_ms: vec![500, 2_000, 10_000, 30_000, 60_000],
            events_max_age_days: 30,
            user: None,
            password_file: None,
            nkey_seed_file: None,
            creds_file: None,
            tls: BusTlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// `human` or `json`.
    pub log_format: String,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub log_filter: String,
    /// OTLP/gRPC endpoint (e.g. `http://127.0.0.1:4317`); none: no export.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: "human".into(),
            log_filter: "info".into(),
            otlp_endpoint: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Where `/healthz` and `/metrics` are served; port 0 picks a free one.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
        }
    }
}

/// Loads `T` from its defaults, then `file`, then `XREGION_*` variables, then
/// `overrides` (dotted keys from the command line).
pub fn load<T>(file: Option<&Path>, overrides: &[(String, String)]) -> Result<T>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(file) = file {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment = figment.merge(Env::prefixed("XREGION_").split("__"));
    for (key, value) in overrides {
        let value: figment::value::Value = value
            .parse()
            .unwrap_or_else(|_| figment::value::Value::from(value.clone()));
        figment = figment.merge(Serialized::global(key, value));
    }
    figment.extract().map_err(|e| Box::new(e).into())
}

/// The effective configuration as TOML, for `--dump-config`, with every
/// secret hidden (`crate::redact`): the output may end up in a ticket.
pub fn dump<T: Serialize>(config: &T) -> Result<String> {
    let mut value = toml::Value::try_from(config)?;
    crate::redact::redact_toml(&mut value);
    Ok(toml::to_string_pretty(&value)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Svc {
        #[serde(flatten)]
        common: CommonConfig,
        lanes: u32,
    }

    #[test]
    fn later_layers_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "lanes = 3\n[bus]\nnamespace = \"fromfile\"\nurl = \"nats://file:1\"\n",
        )
        .unwrap();
        let cfg: Svc = load(
            Some(&file),
            &[
                ("bus.url".into(), "nats://flag:2".into()),
                ("lanes".into(), "5".into()),
            ],
        )
        .unwrap();
        assert_eq!(cfg.common.bus.namespace, "fromfile");
        assert_eq!(cfg.common.bus.url, "nats://flag:2");
        assert_eq!(cfg.lanes, 5);
        assert_eq!(cfg.common.bus.upstream_namespace, "rds");
    }

    #[test]
    fn missing_file_is_an_error() {
        let r: Result<Svc> = load(Some(Path::new("/nonexistent/x.toml")), &[]);
        assert!(r.is_err());
    }

    #[test]
    fn dump_hides_secrets() {
        let mut svc = Svc::default();
        svc.common.bus.url = "nats://svc:natspw@n:4222".into();
        svc.common.regions.push(crate::RegionConfig {
            id: "r1".into(),
            display_name: String::new(),
            url: "s3://b".into(),
            options: [("aws_secret_access_key".to_string(), "s3pw".to_string())].into(),
            source_key_prefix: None,
        });
        let text = dump(&svc).unwrap();
        assert!(!text.contains("natspw") && !text.contains("s3pw"), "{text}");
        assert!(text.contains("aws_secret_access_key"), "{text}");
    }

    #[test]
    fn bus_debug_hides_the_url_password() {
        let bus = BusConfig {
            url: "nats://svc:natspw@n:4222".into(),
            ..Default::default()
        };
        let shown = format!("{bus:?}");
        assert!(
            !shown.contains("natspw") && shown.contains("n:4222"),
            "{shown}"
        );
    }

    #[test]
    fn dump_round_trips() {
        let text = dump(&Svc::default()).unwrap();
        let back: Svc = toml::from_str(&text).unwrap();
        assert_eq!(back.common.bus.namespace, "xregion");
    }
}
