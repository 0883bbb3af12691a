//! Encryption at rest on the way into the target: when the target region
//! has a key, each transfer gets a fresh data key, wrapped by the region's
//! current key encryption key; every path seals the bytes it writes with
//! it, in whole chunks (`xregion_crypt::FileCipher`). The source is still
//! verified on the plaintext. A resumable upload records the WRAPPED key
//! with its parts and a resumed one continues under it, so the parts it
//! sends again are the same bytes; which key each file ended up under is
//! collected here for the manifest.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use xregion_crypt::{CryptError, DataKey, FileCipher, Keyring, WrappedKey, ALGORITHM, CHUNK_SIZE};
use xregion_domain::encryption::{key_context, FileEncryption};
use xregion_domain::manifest::Manifest;
use xregion_domain::parts::{UploadKey, UploadState};

use crate::copy::CopyError;
use crate::strategy::FileCopy;

/// One transfer's data key and what each of its files was sealed under.
pub struct Sealing {
    keyring: Keyring,
    /// Where the key belongs (service prefix and backup id), bound into
    /// its wrapping.
    context: String,
    key: DataKey,
    wrapped: WrappedKey,
    used: Mutex<BTreeMap<u32, FileEncryption>>,
}

impl std::fmt::Debug for Sealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealing")
            .field("key_id", &self.wrapped.key_id)
            .finish_non_exhaustive()
    }
}

/// A file of an encrypting transfer: the transfer's sealing and the file's
/// index in the backup (part of every chunk's nonce).
#[derive(Clone, Debug)]
pub struct Encrypt {
    pub sealing: Arc<Sealing>,
    pub index: u32,
    /// The file's key in the target store, bound into every chunk.
    pub target_key: String,
}

impl PartialEq for Encrypt {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.sealing, &other.sealing) && self.index == other.index
    }
}

impl Eq for Encrypt {}

/// A file's cipher and the manifest record that goes with it.
pub struct FileSeal {
    pub cipher: FileCipher,
    pub record: FileEncryption,
}

impl Sealing {
    /// A fresh data key under the keyring's current key for the backup
    /// `backup_id` of the service at `service_prefix`; `None` when the
    /// target region does not encrypt.
    pub fn fresh(
        keyring: Option<&Keyring>,
        service_prefix: &str,
        backup_id: &str,
    ) -> Result<Option<Arc<Self>>, CryptError> {
        let Some(keyring) = keyring else {
            return Ok(None);
        };
        let context = key_context(service_prefix, backup_id);
        let Some(made) = keyring.new_data_key(&context) else {
            return Ok(None);
        };
        let (key, wrapped) = made?;
        Ok(Some(Arc::new(Self {
            keyring: keyring.clone(),
            context,
            key,
            wrapped,
            used: Mutex::default(),
        })))
    }

    pub fn key_id(&self) -> &str {
        &self.wrapped.key_id
    }

    fn seal(
        &self,
        file: &Encrypt,
        size: u64,
        key: &DataKey,
        wrapped: &WrappedKey,
    ) -> Result<FileSeal, CopyError> {
        let cipher = FileCipher::new(key, file.index, &file.target_key, CHUNK_SIZE, size);
        let stored_size = cipher.stored_size().ok_or_else(|| {
            CopyError::State(format!(
                "{}: sealed size of {size} bytes overflows",
                file.target_key
            ))
        })?;
        let record = FileEncryption {
            algorithm: ALGORITHM.to_string(),
            key_id: wrapped.key_id.clone(),
            wrapped_key: wrapped.to_base64(),
            chunk_size: CHUNK_SIZE,
            stored_size,
        };
        self.used
            .lock()
            .map_err(|_| CopyError::State("sealing records poisoned".into()))?
            .insert(file.index, record.clone());
        Ok(FileSeal { cipher, record })
    }

    /// The manifest with each file's record; a file copied without one
    /// (impossible when every path seals) is an error, never plaintext
    /// passed off as encrypted or the reverse.
    pub fn apply(&self, manifest: &Manifest) -> Result<Manifest, CopyError> {
        let used = self
            .used
            .lock()
            .map_err(|_| CopyError::State("sealing records poisoned".into()))?;
        let mut m = manifest.clone();
        m.format = xregion_domain::manifest::FORMAT_ENCRYPTED;
        for (i, f) in m.files.iter_mut().enumerate() {
            let record = u32::try_from(i).ok().and_then(|i| used.get(&i));
            f.encryption = Some(
                record
                    .cloned()
                    .ok_or_else(|| CopyError::State(format!("{}: no encryption record", f.key)))?,
            );
        }
        Ok(m)
    }
}

impl Encrypt {
    /// The file sealed under the transfer's fresh key.
    pub fn fresh(&self, size: u64) -> Result<FileSeal, CopyError> {
        let s = &self.sealing;
        s.seal(self, size, &s.key, &s.wrapped)
    }

    /// What a new upload state records: the wrapped key, never the key.
    pub fn upload_key(&self) -> UploadKey {
        UploadKey {
            key_id: self.sealing.wrapped.key_id.clone(),
            wrapped_key: self.sealing.wrapped.to_base64(),
        }
    }

    /// The data key a recorded upload was begun under, if the keyring
    /// still opens it.
    fn recorded(&self, key: &UploadKey) -> Result<(DataKey, WrappedKey), CryptError> {
        let wrapped = WrappedKey::from_base64(&key.key_id, &key.wrapped_key)?;
        let key = self
            .sealing
            .keyring
            .unwrap_key(&wrapped, &self.sealing.context)?;
        Ok((key, wrapped))
    }
}

/// Can the recorded upload go on for this file as it is copied now:
/// encrypted both or neither, under a key the keyring opens, in parts of
/// whole chunks?
pub fn state_fits(file: &FileCopy, state: &UploadState) -> bool {
    match (&file.encrypt, &state.encryption) {
        (None, None) => true,
        (Some(e), Some(k)) => e.recorded(k).is_ok() && state.part_size.is_multiple_of(CHUNK_SIZE),
        _ => false,
    }
}

/// The cipher for a resumable upload: under the recorded key when the
/// state has one (a resumed upload), else the fresh one.
pub fn for_upload(file: &FileCopy, state: &UploadState) -> Result<Option<FileSeal>, CopyError> {
    let Some(e) = &file.encrypt else {
        return Ok(None);
    };
    Ok(Some(match &state.encryption {
        Some(k) => {
            let (key, wrapped) = e.recorded(k)?;
            e.sealing.seal(e, file.size, &key, &wrapped)?
        }
        None => e.fresh(file.size)?,
    }))
}

impl FileSeal {
    /// `plaintext` starting at byte `offset` of the file (a chunk edge)
    /// sealed; errors if it does not cover whole chunks.
    pub fn range(&self, offset: u64, plaintext: &[u8]) -> Result<Bytes, CopyError> {
        if !offset.is_multiple_of(self.cipher.chunk_size()) {
            return Err(CopyError::State(format!(
                "encrypted range at {offset} is not on a chunk edge"
            )));
        }
        Ok(Bytes::from(self.cipher.seal_range(
            offset / self.cipher.chunk_size(),
            plaintext,
        )?))
    }
}

/// `data` as written to the target: sealed when the file is encrypted.
pub fn maybe(seal: Option<&FileSeal>, offset: u64, data: Bytes) -> Result<Bytes, CopyError> {
    match seal {
        Some(s) => s.range(offset, &data),
        None => Ok(data),
    }
}

impl Sealing {
    /// What file `index` was sealed under, once a copy sealed it.
    pub fn record(&self, index: u32) -> Option<FileEncryption> {
        self.used.lock().ok()?.get(&index).cloned()
    }
}

#[cfg(test)]
pub(crate) const TEST_PREFIX: &str = "t/i/s";
#[cfg(test)]
pub(crate) const TEST_BACKUP: &str = "b1";

/// A sealing under a fixed test key `k1`, and the keyring that opens it.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_sealing() -> (Arc<Sealing>, Keyring) {
    let kek = xregion_crypt::LocalKey::new("k1", [3; 32]).unwrap();
    let ring = Keyring::new(Some(Arc::new(kek)), vec![]).unwrap();
    (
        Sealing::fresh(Some(&ring), TEST_PREFIX, TEST_BACKUP)
            .unwrap()
            .unwrap(),
        ring,
    )
}

/// The plaintext of a stored file, by its record and the keyring.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_open(
    ring: &Keyring,
    r: &FileEncryption,
    index: u32,
    target_key: &str,
    size: u64,
    stored: &[u8],
) -> Vec<u8> {
    let wrapped = WrappedKey::from_base64(&r.key_id, &r.wrapped_key).unwrap();
    let context = key_context(TEST_PREFIX, TEST_BACKUP);
    let key = ring.unwrap_key(&wrapped, &context).unwrap();
    FileCipher::new(&key, index, target_key, r.chunk_size, size)
        .open_file(stored)
        .unwrap()
}
