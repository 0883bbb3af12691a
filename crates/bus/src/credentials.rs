//! What a client presents to NATS: TLS settings and one identity (user and
//! password, nkey seed, or `.creds` file), read once from the configured
//! files so that a wrong path is reported at start and never retried.

use std::path::{Path, PathBuf};

use async_nats::ConnectOptions;
use xregion_common::BusConfig;

use crate::error::{BusError, Result};

/// Secrets are kept out of `Debug` output.
pub struct Credentials {
    identity: Identity,
    tls_required: bool,
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
}

enum Identity {
    Anonymous,
    UserPassword { user: String, password: String },
    NkeySeed(String),
    CredsFile(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let identity = match &self.identity {
            Identity::Anonymous => "anonymous".to_string(),
            Identity::UserPassword { user, .. } => format!("user {user}"),
            Identity::NkeySeed(_) => "nkey".to_string(),
            Identity::CredsFile(_) => "creds".to_string(),
        };
        f.debug_struct("Credentials")
            .field("identity", &identity)
            .field("tls_required", &self.tls_required)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

fn config_error(reason: impl Into<String>) -> BusError {
    BusError::Config {
        reason: reason.into(),
    }
}

/// A secret file's content (`xregion_common::secret_file`); an empty or
/// unreadable file is a configuration error naming the key.
fn read_secret(key: &str, path: &Path) -> Result<String> {
    xregion_common::secret_file::read_secret_file(key, path)
        .map_err(|e| config_error(e.to_string()))
}

fn readable(key: &str, path: &Path) -> Result<PathBuf> {
    std::fs::metadata(path).map_err(|e| config_error(format!("{key} {}: {e}", path.display())))?;
    Ok(path.to_path_buf())
}

impl Credentials {
    /// No identity, no TLS: what a client without settings presents.
    pub fn anonymous() -> Self {
        Self {
            identity: Identity::Anonymous,
            tls_required: false,
            ca_file: None,
            client_cert: None,
        }
    }

    pub fn from_config(cfg: &BusConfig) -> Result<Self> {
        let identity = match (
            &cfg.user,
            &cfg.password_file,
            &cfg.nkey_seed_file,
            &cfg.creds_file,
        ) {
            (None, None, None, None) => Identity::Anonymous,
            (Some(user), Some(file), None, None) => {
                if user.trim().is_empty() {
                    return Err(config_error("bus.user is empty"));
                }
                Identity::UserPassword {
                    user: user.clone(),
                    password: read_secret("bus.password_file", file)?,
                }
            }
            (Some(_), None, None, None) => {
                return Err(config_error(
                    "bus.user needs bus.password_file (passwords only from files)",
                ))
            }
            (None, Some(_), None, None) => {
                return Err(config_error("bus.password_file needs bus.user"))
            }
            (None, None, Some(file), None) => {
                let seed = read_secret("bus.nkey_seed_file", file)?.trim().to_string();
                if !seed.starts_with("SU") {
                    return Err(config_error(format!(
                        "bus.nkey_seed_file {}: not a user nkey seed (SU…)",
                        file.display()
                    )));
                }
                Identity::NkeySeed(seed)
            }
            (None, None, None, Some(file)) => {
                let creds = read_secret("bus.creds_file", file)?;
                // Parsed now so that a broken file fails at start, not at connect.
                ConnectOptions::with_credentials(&creds)
                    .map_err(|e| config_error(format!("bus.creds_file {}: {e}", file.display())))?;
                Identity::CredsFile(creds)
            }
            _ => {
                return Err(config_error(
                    "set one NATS identity: bus.user with bus.password_file, \
                     bus.nkey_seed_file, or bus.creds_file",
                ))
            }
        };
        let tls = &cfg.tls;
        let ca_file = match &tls.ca_file {
            Some(p) => Some(readable("bus.tls.ca_file", p)?),
            None => None,
        };
        let client_cert = match (&tls.cert_file, &tls.key_file) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((
                readable("bus.tls.cert_file", cert)?,
                readable("bus.tls.key_file", key)?,
            )),
            _ => {
                return Err(config_error(
                    "bus.tls.cert_file and bus.tls.key_file go together",
                ))
            }
        };
        Ok(Self {
            identity,
            tls_required: tls.required || ca_file.is_some() || client_cert.is_some(),
            ca_file,
            client_cert,
        })
    }

    pub fn tls_required(&self) -> bool {
        self.tls_required
    }

    /// `options` with this identity and TLS settings.
    pub fn apply(&self, mut options: ConnectOptions) -> Result<ConnectOptions> {
        options = match &self.identity {
            Identity::Anonymous => options,
            Identity::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.clone())
            }
            Identity::NkeySeed(seed) => options.nkey(seed.clone()),
            Identity::CredsFile(creds) => options
                .credentials(creds)
                .map_err(|e| config_error(format!("bus.creds_file: {e}")))?,
        };
        if let Some(ca) = &self.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.client_cert {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        Ok(options.require_tls(self.tls_required))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The default bus configuration as `change` leaves it.
    fn with(change: impl FnOnce(&mut BusConfig)) -> BusConfig {
        let mut c = BusConfig::default();
        change(&mut c);
        c
    }

    /// A file holding `text`, in a folder that lives as long as the guard.
    fn file_holding(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        (dir, file)
    }

    #[test]
    fn default_is_anonymous_without_tls() {
        let c = Credentials::from_config(&BusConfig::default()).unwrap();
        assert!(matches!(c.identity, Identity::Anonymous));
        assert!(!c.tls_required());
    }

    #[test]
    fn password_comes_from_its_file_trimmed_and_stays_out_of_debug() {
        let (_dir, file) = file_holding("pw", "s3cret\n");
        let creds = Credentials::from_config(&with(|c| {
            c.user = Some("catalog".into());
            c.password_file = Some(file);
        }))
        .unwrap();
        match &creds.identity {
            Identity::UserPassword { user, password } => {
                assert_eq!(user, "catalog");
                assert_eq!(password, "s3cret");
            }
            _ => panic!("not user/password"),
        }
        assert!(!format!("{creds:?}").contains("s3cret"));
    }

    #[test]
    fn incomplete_or_conflicting_identities_are_refused() {
        let (dir, file) = file_holding("pw", "x");
        let (_empty_dir, empty) = file_holding("empty", "\n");
        let file = || Some(file.clone());
        let cases = [
            ("user alone", with(|c| c.user = Some("u".into()))),
            ("password alone", with(|c| c.password_file = file())),
            (
                "two identities",
                with(|c| {
                    c.user = Some("u".into());
                    c.password_file = file();
                    c.creds_file = file();
                }),
            ),
            (
                "missing file",
                with(|c| {
                    c.user = Some("u".into());
                    c.password_file = Some(dir.path().join("nope"));
                }),
            ),
            (
                "empty file",
                with(|c| {
                    c.user = Some("u".into());
                    c.password_file = Some(empty.clone());
                }),
            ),
            ("not a seed", with(|c| c.nkey_seed_file = file())),
            ("broken creds", with(|c| c.creds_file = file())),
            ("cert without key", with(|c| c.tls.cert_file = file())),
            (
                "missing ca",
                with(|c| c.tls.ca_file = Some(dir.path().join("nope.pem"))),
            ),
        ];
        for (name, c) in cases {
            let err = Credentials::from_config(&c).expect_err(name);
            assert!(matches!(err, BusError::Config { .. }), "{name}: {err}");
        }
    }

    #[test]
    fn a_ca_file_makes_tls_required() {
        let (_dir, ca) = file_holding("ca.pem", "pem");
        let c = with(|c| c.tls.ca_file = Some(ca));
        assert!(Credentials::from_config(&c).unwrap().tls_required());
    }
}
