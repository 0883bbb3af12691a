//! The one configuration loader: defaults → TOML file → `XREGION_` env vars
//! (`__` for nesting) → command-line flags.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::Result;
use crate::keys;
use crate::regions::RegionConfig;
use crate::units;
use crate::validate::{self, Invalid, Validate};

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
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    pub url: String,
    /// Prefix of every subject, stream and durable name of this deployment.
    pub namespace: String,
    /// Prefix of the upstream RDS subjects and stream (`rds` upstream).
    pub upstream_namespace: String,
    /// Create the upstream stream when it does not exist (local stacks).
    pub create_upstream_stream: bool,
    /// Replicas of every stream and key-value bucket xregion creates: 1 on a
    /// single server, 3 on a JetStream cluster (`deploy/`).
    pub replicas: usize,
    /// How long a replica's lease (the watcher's reconciliation, cleanup's
    /// sweep) outlives its last renewal: a dead holder's lease passes to
    /// another replica within this time. Renewed every third of it.
    #[serde(rename = "lease_ttl_secs", with = "units::secs")]
    pub lease_ttl: Duration,
    /// How long to keep trying the first connection.
    #[serde(rename = "connect_timeout_secs", with = "units::secs")]
    pub connect_timeout: Duration,
    /// How long a catalog request may take.
    #[serde(rename = "request_timeout_secs", with = "units::secs")]
    pub request_timeout: Duration,
    /// Deliveries of one message before it goes to the dead-letter subject.
    pub max_deliver: NonZeroU32,
    /// Delays between redeliveries; the last repeats.
    #[serde(rename = "backoff_ms", with = "units::millis_list")]
    pub backoff: Vec<Duration>,
    /// How long the events stream keeps events, configured in days.
    #[serde(rename = "events_max_age_days", with = "units::days")]
    pub events_max_age: Duration,
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
#[serde(default, deny_unknown_fields)]
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

impl Validate for CommonConfig {
    fn validate(&self) -> std::result::Result<(), Invalid> {
        let bus = &self.bus;
        validate::positive("bus.request_timeout_secs", bus.request_timeout)?;
        validate::positive("bus.events_max_age_days", bus.events_max_age)?;
        // Renewed every third of the TTL: below 3 s renewals come faster
        // than a NATS request may take.
        validate::at_least(
            "bus.lease_ttl_secs",
            bus.lease_ttl,
            Duration::from_secs(3),
            "3 s",
        )?;
        if !(1..=5).contains(&bus.replicas) {
            return Err(Invalid::new(
                "bus.replicas",
                format!(
                    "{} is out of range: JetStream keeps 1 to 5 replicas",
                    bus.replicas
                ),
            ));
        }
        validate::one_of(
            "telemetry.log_format",
            &self.telemetry.log_format,
            &["human", "json"],
        )
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            namespace: "xregion".into(),
            upstream_namespace: "rds".into(),
            create_upstream_stream: true,
            replicas: 1,
            lease_ttl: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            max_deliver: const { units::non_zero_u32(10) },
            backoff: [500, 2_000, 10_000, 30_000, 60_000]
                .map(Duration::from_millis)
                .to_vec(),
            events_max_age: Duration::from_secs(30 * 86_400),
            user: None,
            password_file: None,
            nkey_seed_file: None,
            creds_file: None,
            tls: BusTlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
#[serde(default, deny_unknown_fields)]
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
/// `overrides` (dotted keys from the command line), and validates it.
///
/// Strict: a key no service reads is an error naming the key, its section
/// and where it was set ([`crate::keys`]), and so is a value outside its
/// limits ([`Validate`]). Only variables with `__` are configuration
/// (`XREGION_BUS__URL`); others (`XREGION_CONFIG`, the CLI's and the test
/// harness's) are not read here.
pub fn load<T>(file: Option<&Path>, overrides: &[(String, String)]) -> Result<T>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    let defaults = Serialized::defaults(T::default());
    let own: Dict = Figment::from(&defaults).extract().map_err(keys::explain)?;
    let mut figment = Figment::from(defaults);
    if let Some(file) = file {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment = figment.merge(
        Env::prefixed("XREGION_")
            .filter(|key| key.as_str().contains("__"))
            .split("__"),
    );
    for (key, value) in overrides {
        let value: Value = value.parse().unwrap_or_else(|_| Value::from(value.clone()));
        figment = figment.merge(CommandLine(Serialized::global(key, value)));
    }
    keys::check_sections(&figment, &own)?;
    // The common sections first, on their own: inside a service's type they
    // are flattened, and serde then loses the key path of their errors.
    let common: CommonConfig = figment.extract().map_err(keys::explain)?;
    common.validate()?;
    let config: T = figment.extract().map_err(keys::explain)?;
    config.validate()?;
    Ok(config)
}

/// The command-line layer, named so that errors can say a flag set the key.
struct CommandLine(Serialized<Value>);

impl Provider for CommandLine {
    fn metadata(&self) -> Metadata {
        Metadata::named(keys::COMMAND_LINE)
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        self.0.data()
    }
}

/// The effective configuration as TOML, for `--dump-config`, with every
/// secret hidden (`crate::redact`): the output may end up in a ticket.
pub fn dump<T: Serialize>(config: &T) -> Result<String> {
    let mut value = toml::Value::try_from(config)?;
    crate::redact::redact_toml(&mut value);
    Ok(toml::to_string_pretty(&value)?)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
