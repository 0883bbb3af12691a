//! Keys: the data key of a backup, the key encryption keys (KEK) that wrap
//! it, where KEKs come from, and the keyring that finds one by its id.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore;
use xregion_domain::encryption::{validate_key_id, ALGORITHM, WRAPPED_KEY_LEN};

use crate::error::CryptError;

const NONCE_LEN: usize = 12;

/// A backup's data key. Never stored or logged in the clear.
#[derive(Clone)]
pub struct DataKey(pub(crate) [u8; 32]);

impl DataKey {
    /// A fresh key from the operating system's generator (via thread_rng,
    /// a CSPRNG seeded from it).
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        Self(k)
    }
}

/// Not left behind in freed memory.
impl Drop for DataKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// A data key wrapped by the KEK `key_id`: nonce, encrypted key, tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl WrappedKey {
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }

    /// A wrapped key read back (manifest, upload state): untrusted.
    pub fn from_base64(key_id: &str, text: &str) -> Result<Self, CryptError> {
        validate_key_id(key_id).map_err(CryptError::BadKeyId)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()
            .filter(|b| b.len() == WRAPPED_KEY_LEN)
            .ok_or_else(|| {
                CryptError::Malformed(format!(
                    "the key wrapped by {key_id:?} is not {WRAPPED_KEY_LEN} bytes of base64"
                ))
            })?;
        Ok(Self {
            key_id: key_id.to_string(),
            bytes,
        })
    }
}

/// Where a key encryption key lives. Synchronous: the shipped providers
/// hold the key in memory; a KMS provider would wrap/unwrap by request.
pub trait KeyProvider: Send + Sync {
    fn key_id(&self) -> &str;
    /// `context` says where the key belongs (service prefix and backup
    /// id, see `xregion_domain::encryption::key_context`): a wrapped key
    /// copied to another backup or service does not open there.
    fn wrap(&self, key: &DataKey, context: &str) -> Result<WrappedKey, CryptError>;
    /// Errors name the key id: `WrongKey` when the key does not open it
    /// (also when `context` is not the one it was wrapped for).
    fn unwrap_key(&self, wrapped: &WrappedKey, context: &str) -> Result<DataKey, CryptError>;
}

/// A KEK held in memory (read from a file or an environment variable).
pub struct LocalKey {
    id: String,
    kek: Aes256Gcm,
}

impl std::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl LocalKey {
    pub fn new(id: &str, mut material: [u8; 32]) -> Result<Self, CryptError> {
        let checked = validate_key_id(id).map_err(CryptError::BadKeyId);
        // The cipher keeps its own (zeroized on drop) key schedule.
        let kek = Aes256Gcm::new(&material.into());
        zeroize::Zeroize::zeroize(&mut material);
        checked?;
        Ok(Self {
            id: id.to_string(),
            kek,
        })
    }

    /// AAD of a wrapped key: the key id, the algorithm and where the key
    /// belongs, so a wrapped key relabelled with another id, or moved to
    /// another backup, service or tenant, does not open.
    fn aad(&self, context: &str) -> Vec<u8> {
        format!("xregion/kek/v1|{}|{ALGORITHM}|{context}", self.id).into_bytes()
    }
}

impl KeyProvider for LocalKey {
    fn key_id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, key: &DataKey, context: &str) -> Result<WrappedKey, CryptError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = self.aad(context);
        let sealed = self
            .kek
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &key.0,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptError::BadKey {
                key_id: self.id.clone(),
                reason: "wrapping failed".into(),
            })?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(WrappedKey {
            key_id: self.id.clone(),
            bytes,
        })
    }

    fn unwrap_key(&self, wrapped: &WrappedKey, context: &str) -> Result<DataKey, CryptError> {
        let wrong = || CryptError::WrongKey {
            key_id: self.id.clone(),
        };
        if wrapped.key_id != self.id || wrapped.bytes.len() != WRAPPED_KEY_LEN {
            return Err(wrong());
        }
        let (nonce, sealed) = wrapped.bytes.split_at(NONCE_LEN);
        let aad = self.aad(context);
        let plain = zeroize::Zeroizing::new(
            self.kek
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: &aad,
                    },
                )
                .map_err(|_| wrong())?,
        );
        let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| wrong())?;
        Ok(DataKey(key))
    }
}

/// Key material: 32 raw bytes, or 64 hex digits (one trailing line break
/// allowed). Anything else is refused: a short key is a mistake.
pub fn parse_key_material(key_id: &str, raw: &[u8]) -> Result<[u8; 32], CryptError> {
    let bad = |reason: &str| CryptError::BadKey {
        key_id: key_id.to_string(),
        reason: reason.to_string(),
    };
    if let Ok(k) = <[u8; 32]>::try_from(raw) {
        return Ok(k);
    }
    let text = raw
        .strip_suffix(b"\n")
        .map(|t| t.strip_suffix(b"\r").unwrap_or(t))
        .unwrap_or(raw);
    if text.len() == 64 {
        if let Ok(bytes) = hex::decode(text) {
            if let Ok(k) = <[u8; 32]>::try_from(bytes.as_slice()) {
                return Ok(k);
            }
        }
    }
    Err(bad(&format!(
        "key material must be 32 raw bytes or 64 hex digits, got {} bytes",
        raw.len()
    )))
}

/// The KEK `key_id` from `path`: refused when group or others may read it
/// (a key readable by everyone protects nothing).
pub fn file_key(key_id: &str, path: &Path) -> Result<LocalKey, CryptError> {
    validate_key_id(key_id).map_err(CryptError::BadKeyId)?;
    let bad = |reason: String| CryptError::BadKey {
        key_id: key_id.to_string(),
        reason: format!("{}: {reason}", path.display()),
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(bad(format!(
                "mode {:o} lets group or others read the key; chmod 600 it",
                mode & 0o777
            )));
        }
    }
    let _ = meta;
    let raw = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    LocalKey::new(key_id, parse_key_material(key_id, &raw)?)
}

/// The KEK `key_id` from the environment variable `var` (64 hex digits).
pub fn env_key(key_id: &str, var: &str) -> Result<LocalKey, CryptError> {
    validate_key_id(key_id).map_err(CryptError::BadKeyId)?;
    let value = std::env::var(var).map_err(|_| CryptError::BadKey {
        key_id: key_id.to_string(),
        reason: format!("environment variable {var} is not set"),
    })?;
    LocalKey::new(key_id, parse_key_material(key_id, value.as_bytes())?)
}

/// The current KEK (wraps new data keys) and every KEK kept for unwrapping.
#[derive(Clone, Default)]
pub struct Keyring {
    current: Option<Arc<dyn KeyProvider>>,
    by_id: BTreeMap<String, Arc<dyn KeyProvider>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.as_ref().map(|k| k.key_id()))
            .field("ids", &self.by_id.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// `current` wraps new keys; `older` only unwrap. Ids must be unique.
    pub fn new(
        current: Option<Arc<dyn KeyProvider>>,
        older: Vec<Arc<dyn KeyProvider>>,
    ) -> Result<Self, CryptError> {
        let mut ring = Self {
            current: current.clone(),
            by_id: BTreeMap::new(),
        };
        for k in current.into_iter().chain(older) {
            let id = k.key_id().to_string();
            if ring.by_id.insert(id.clone(), k).is_some() {
                return Err(CryptError::BadKeyId(format!("key id {id:?} given twice")));
            }
        }
        Ok(ring)
    }

    pub fn current(&self) -> Option<&Arc<dyn KeyProvider>> {
        self.current.as_ref()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// A fresh data key and its wrapping by the current KEK; `None` when
    /// there is no current key (the region does not encrypt).
    pub fn new_data_key(&self, context: &str) -> Option<Result<(DataKey, WrappedKey), CryptError>> {
        let kek = self.current.as_ref()?;
        let key = DataKey::generate();
        Some(kek.wrap(&key, context).map(|w| (key, w)))
    }

    /// The data key `wrapped` holds, by the KEK it names: `MissingKey` when
    /// that KEK is not in the ring.
    pub fn unwrap_key(&self, wrapped: &WrappedKey, context: &str) -> Result<DataKey, CryptError> {
        self.by_id
            .get(&wrapped.key_id)
            .ok_or_else(|| CryptError::MissingKey {
                key_id: wrapped.key_id.clone(),
            })?
            .unwrap_key(wrapped, context)
    }
}
