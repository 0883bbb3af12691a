//! A target region's encryption at rest: which key encryption key (KEK)
//! wraps the data keys of new backups, and older KEKs kept so that uploads
//! begun under them can resume (rotation). The shape is checked when the
//! configuration loads (every service); the key material is read only by
//! the services that encrypt (transfer-worker, at start), so the other
//! services need no access to it.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use xregion_crypt::{env_key, file_key, KeyProvider, Keyring};

use crate::error::{Error, Result};

/// `[regions.encryption]`: the current key, and `previous` ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionEncryption {
    pub key_id: String,
    /// A file holding the key: 32 raw bytes or 64 hex digits, mode 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// An environment variable holding the key as 64 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_env: Option<String>,
    /// Keys of earlier rotations, kept only to unwrap what they wrapped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<KeySource>,
}

/// An older key: where its material is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySource {
    pub key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_env: Option<String>,
}

impl RegionEncryption {
    fn sources(&self) -> impl Iterator<Item = (&str, Option<&PathBuf>, Option<&String>)> {
        std::iter::once((
            self.key_id.as_str(),
            self.key_file.as_ref(),
            self.key_env.as_ref(),
        ))
        .chain(
            self.previous
                .iter()
                .map(|k| (k.key_id.as_str(), k.key_file.as_ref(), k.key_env.as_ref())),
        )
    }

    /// Key ids follow the grammar and are unique, and each key has exactly
    /// one of `key_file` and `key_env`.
    pub fn validate(&self, region: &str) -> Result<()> {
        let fail = |reason: String| Error::Region {
            region: region.to_string(),
            reason: format!("encryption: {reason}"),
        };
        let mut seen = std::collections::BTreeSet::new();
        for (id, file, env) in self.sources() {
            xregion_crypt::validate_key_id(id).map_err(fail)?;
            if !seen.insert(id) {
                return Err(fail(format!("key id {id:?} is given twice")));
            }
            match (file, env) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(fail(format!(
                        "key {id:?} needs exactly one of key_file and key_env"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Reads every key: an unreadable, public or malformed one is an error
    /// naming the region and the key id.
    pub fn keyring(&self, region: &str) -> Result<Keyring> {
        self.validate(region)?;
        let fail = |e: xregion_crypt::CryptError| Error::Region {
            region: region.to_string(),
            reason: format!("encryption: {e}"),
        };
        let mut keys: Vec<Arc<dyn KeyProvider>> = Vec::new();
        for (id, file, env) in self.sources() {
            let key = match (file, env) {
                (Some(path), _) => file_key(id, path),
                (None, Some(var)) => env_key(id, var),
                (None, None) => continue,
            }
            .map_err(fail)?;
            keys.push(Arc::new(key));
        }
        let mut keys = keys.into_iter();
        let current = keys.next();
        Keyring::new(current, keys.collect()).map_err(fail)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn enc(file: Option<&str>, env: Option<&str>) -> RegionEncryption {
        RegionEncryption {
            key_id: "k1".into(),
            key_file: file.map(PathBuf::from),
            key_env: env.map(String::from),
            previous: vec![],
        }
    }

    #[test]
    fn exactly_one_source_per_key_and_ids_are_checked() {
        let says = |e: &RegionEncryption, what: &str| {
            let err = e.validate("r2").unwrap_err().to_string();
            assert!(err.contains("r2") && err.contains(what), "{err}");
        };
        enc(Some("/k"), None).validate("r2").unwrap();
        says(&enc(Some("/k"), Some("V")), "exactly one");
        says(&enc(None, None), "exactly one");
        let mut e = enc(None, Some("V"));
        e.key_id = "no spaces".into();
        says(&e, "key id");
        let mut e = enc(None, Some("V"));
        e.previous.push(KeySource {
            key_id: "k1".into(),
            key_file: None,
            key_env: Some("W".into()),
        });
        says(&e, "twice");
        // Strict keys: a typo is an error, not a silently missing key.
        assert!(toml::from_str::<RegionEncryption>("key_id = \"k1\"\nkey_fil = \"/k\"").is_err());
        let ok: RegionEncryption = toml::from_str("key_id = \"k1\"\nkey_env = \"V\"").unwrap();
        ok.validate("r2").unwrap();
    }

    #[test]
    fn keys_are_read_with_errors_naming_region_and_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, [1u8; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ring = enc(path.to_str(), None).keyring("r2").unwrap();
        assert_eq!(ring.current().unwrap().key_id(), "k1");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = enc(path.to_str(), None)
            .keyring("r2")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("r2") && err.contains("k1") && err.contains("chmod"),
            "{err}"
        );
    }
}
