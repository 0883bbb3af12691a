//! gRPC over TLS, from PEM files, and the rule for plaintext: a bearer
//! token must not cross a network in the clear, so without TLS the gateway
//! serves only on a loopback address unless `gateway.allow_plaintext`.

use std::net::SocketAddr;
use std::path::Path;

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::TlsSettings;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read gateway.tls.{key} {path}: {source}")]
    Read {
        key: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("gateway.tls.{key} {path} holds no PEM block")]
    NotPem { key: &'static str, path: String },
    #[error("gateway.tls: {0}")]
    Incomplete(&'static str),
}

fn read_pem(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.display().to_string(),
        source,
    })?;
    if !String::from_utf8_lossy(&bytes).contains("-----BEGIN ") {
        return Err(TlsError::NotPem {
            key,
            path: path.display().to_string(),
        });
    }
    Ok(bytes)
}

/// The server's TLS configuration, or none when TLS is not configured.
pub fn server_config(s: &TlsSettings) -> Result<Option<ServerTlsConfig>, TlsError> {
    let (cert, key) = match (&s.cert_file, &s.key_file) {
        (None, None) => {
            if s.client_ca_file.is_some() {
                return Err(TlsError::Incomplete(
                    "client_ca_file needs cert_file and key_file",
                ));
            }
            return Ok(None);
        }
        (Some(c), Some(k)) => (read_pem("cert_file", c)?, read_pem("key_file", k)?),
        _ => {
            return Err(TlsError::Incomplete(
                "cert_file and key_file must be set together",
            ))
        }
    };
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca) = &s.client_ca_file {
        config = config.client_ca_root(Certificate::from_pem(read_pem("client_ca_file", ca)?));
    }
    Ok(Some(config))
}

/// Whether plaintext gRPC may be served on `addr`.
pub fn plaintext_allowed(addr: SocketAddr, allow_plaintext: bool) -> bool {
    allow_plaintext || addr.ip().is_loopback()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_on_loopback_unless_allowed() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(plaintext_allowed(addr("127.0.0.1:1"), false));
        assert!(plaintext_allowed(addr("127.1.2.3:1"), false));
        assert!(plaintext_allowed(addr("[::1]:1"), false));
        assert!(!plaintext_allowed(addr("0.0.0.0:1"), false));
        assert!(!plaintext_allowed(addr("[::]:1"), false));
        assert!(!plaintext_allowed(addr("10.1.2.3:1"), false));
        assert!(plaintext_allowed(addr("0.0.0.0:1"), true));
    }

    #[test]
    fn incomplete_or_unreadable_settings_are_errors() {
        let s = |c: Option<&str>, k: Option<&str>, ca: Option<&str>| TlsSettings {
            cert_file: c.map(Into::into),
            key_file: k.map(Into::into),
            client_ca_file: ca.map(Into::into),
        };
        assert!(server_config(&s(None, None, None)).unwrap().is_none());
        assert!(matches!(
            server_config(&s(Some("/c"), None, None)),
            Err(TlsError::Incomplete(_))
        ));
        assert!(matches!(
            server_config(&s(None, None, Some("/ca"))),
            Err(TlsError::Incomplete(_))
        ));
        let err = server_config(&s(Some("/nonexistent/c.pem"), Some("/k"), None)).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/c.pem"), "{err}");
    }
}
