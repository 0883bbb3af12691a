use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use xregion_common::units::{self, non_zero_usize};
use xregion_common::validate::{at_least, Invalid, Validate};

xregion_common::service_config! {
    /// The common sections and `[gateway]`.
    pub struct GatewayConfig { gateway: GatewaySettings }
}

/// Reloading files more often than this only burns CPU.
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(100);

impl Validate for GatewayConfig {
    fn validate(&self) -> Result<(), Invalid> {
        at_least(
            "gateway.reload_interval_ms",
            self.gateway.reload_interval,
            MIN_RELOAD_INTERVAL,
            "100",
        )?;
        let dashboard = &self.gateway.dashboard_listen;
        if !dashboard.is_empty() && dashboard.parse::<std::net::SocketAddr>().is_err() {
            return Err(Invalid::new(
                "gateway.dashboard_listen",
                format!(
                    "must be an address like 127.0.0.1:8088 (or empty for off), got {dashboard:?}"
                ),
            ));
        }
        Ok(())
    }
}

/// The `[gateway]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// gRPC listen address.
    pub listen: String,
    /// Web dashboard (HTTP) listen address; empty: no dashboard. Plaintext,
    /// so the same loopback rule as gRPC applies (`allow_plaintext`).
    pub dashboard_listen: String,
    /// Serve plaintext gRPC on a non-loopback address. Without TLS a bearer
    /// token crosses the network in the clear, so this must be asked for.
    pub allow_plaintext: bool,
    /// Accepted bearer tokens, stored only as sha256 hashes.
    pub tokens: Vec<TokenConfig>,
    /// A TOML file with more `tokens = [...]`, reloaded when it changes.
    pub tokens_file: Option<PathBuf>,
    /// How often the tokens file and the JWKS file are checked for changes.
    #[serde(rename = "reload_interval_ms", with = "units::millis")]
    pub reload_interval: Duration,
    pub tls: TlsSettings,
    pub jwt: JwtSettings,
    /// Watches one tenant may have open at once (RESOURCE_EXHAUSTED past it).
    pub max_watches_per_tenant: NonZeroUsize,
    /// Watches the gateway keeps open at once, all tenants together.
    pub max_watches: NonZeroUsize,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".into(),
            dashboard_listen: String::new(),
            allow_plaintext: false,
            tokens: Vec::new(),
            tokens_file: None,
            reload_interval: Duration::from_secs(2),
            tls: TlsSettings::default(),
            jwt: JwtSettings::default(),
            max_watches_per_tenant: const { non_zero_usize(32) },
            max_watches: const { non_zero_usize(1024) },
        }
    }
}

/// gRPC over TLS; on when `cert_file` is set. Secrets come from files only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain of the gateway.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificate(s): when set, every client must present a
    /// certificate signed by one of them (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
}

/// JWT bearer tokens (RS256, ES256, EdDSA); on when `jwks_file` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// A JWKS document (`{"keys": [...]}`), reloaded when it changes.
    pub jwks_file: Option<PathBuf>,
    /// Required `iss`.
    pub issuer: String,
    /// Required member of `aud`.
    pub audience: String,
    /// The claim holding the caller's tenant id.
    pub tenant_claim: String,
    /// Clock skew allowed for `exp` and `nbf`.
    #[serde(rename = "leeway_secs", with = "units::secs")]
    pub leeway: Duration,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            jwks_file: None,
            issuer: String::new(),
            audience: String::new(),
            tenant_claim: "tenant".into(),
            leeway: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Lower-case hex sha256 of the token (`printf %s TOKEN | sha256sum`).
    pub sha256: String,
    pub tenant: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use xregion_common::config_cases::{each_refused_naming_its_key, load_set};

    fn load(key: &str, value: &str) -> xregion_common::Result<GatewayConfig> {
        load_set(key, value)
    }

    #[test]
    fn strict_keys_and_limits() {
        each_refused_naming_its_key::<GatewayConfig>(&[
            ("gateway.reload_interval_ms", "50"),
            ("gateway.dashboard_listen", "\"localhost\""),
            ("gateway.max_watches_per_tenant", "0"),
            ("gateway.max_watches", "0"),
        ])
        .unwrap();
        let cfg = load("gateway.max_watches_per_tenant", "4").unwrap();
        assert_eq!(cfg.gateway.max_watches_per_tenant.get(), 4);
        assert_eq!(cfg.gateway.max_watches.get(), 1024);
        assert!(load("gateway.dashboard_listen", "\"127.0.0.1:0\"").is_ok());
        let err = load("gateway.jwt.leeway", "30").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown key `gateway.jwt.leeway` (section `gateway`)"),
            "{err}"
        );
        let err = load(
            "gateway.tokens",
            "[{ sha256 = \"ab\", tenant = \"t\", name = \"x\" }]",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("`gateway.tokens[0].name`"),
            "{err}"
        );
        let cfg = load("gateway.jwt.leeway_secs", "5").unwrap();
        assert_eq!(cfg.gateway.jwt.leeway, Duration::from_secs(5));
        assert_eq!(cfg.gateway.reload_interval, Duration::from_secs(2));
    }
}
