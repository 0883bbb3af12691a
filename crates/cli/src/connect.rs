//! The channel to the gateway: plaintext for `http://` endpoints, TLS for
//! `https://` ones (the server verified against `--ca-cert`, or the system's
//! roots), with a client certificate for gateways that require mutual TLS.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM CA certificate that signs the gateway's certificate (https://
    /// endpoints); without it the system's roots are used.
    #[arg(long, global = true, env = "XREGION_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate, for gateways that require mutual TLS.
    #[arg(long, global = true, env = "XREGION_CLIENT_CERT")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, global = true, env = "XREGION_CLIENT_KEY")]
    pub client_key: Option<PathBuf>,
}

impl TlsArgs {
    fn any(&self) -> bool {
        self.ca_cert.is_some() || self.client_cert.is_some() || self.client_key.is_some()
    }
}

fn read(flag: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{flag} {}", path.display()))
}

/// The endpoint with TLS set up as its scheme and the flags say.
pub fn endpoint(url: &str, tls: &TlsArgs) -> anyhow::Result<Endpoint> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .with_context(|| format!("invalid endpoint {url:?}"))?;
    let https = url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if !https {
        anyhow::ensure!(
            !tls.any(),
            "--ca-cert, --client-cert and --client-key need an https:// endpoint (got {url})"
        );
        return Ok(endpoint);
    }
    let mut config = ClientTlsConfig::new();
    config = match &tls.ca_cert {
        Some(ca) => config.ca_certificate(Certificate::from_pem(read("--ca-cert", ca)?)),
        None => config.with_native_roots(),
    };
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            config = config.identity(Identity::from_pem(
                read("--client-cert", cert)?,
                read("--client-key", key)?,
            ));
        }
        (None, None) => {}
        _ => anyhow::bail!("--client-cert and --client-key go together"),
    }
    endpoint
        .tls_config(config)
        .context("TLS settings cannot be used")
}

pub async fn channel(url: &str, tls: &TlsArgs) -> anyhow::Result<Channel> {
    endpoint(url, tls)?
        .connect()
        .await
        .with_context(|| format!("cannot reach {url}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tls_flags_need_https_and_come_in_pairs() {
        let ca = TlsArgs {
            ca_cert: Some("/ca.pem".into()),
            ..Default::default()
        };
        assert!(endpoint("http://127.0.0.1:1", &ca).is_err());
        assert!(endpoint("http://127.0.0.1:1", &TlsArgs::default()).is_ok());
        let half = TlsArgs {
            client_cert: Some("/c.pem".into()),
            ..Default::default()
        };
        let err = endpoint("https://127.0.0.1:1", &half).unwrap_err();
        assert!(err.to_string().contains("go together"), "{err}");
        let missing = endpoint("https://127.0.0.1:1", &ca).unwrap_err();
        assert!(format!("{missing:#}").contains("/ca.pem"), "{missing:#}");
        assert!(endpoint("https://127.0.0.1:1", &TlsArgs::default()).is_ok());
    }
}
