//! What a manifest records about an encrypted file, and the checks such a
//! record passes when read back from a store (anyone who can write there
//! can write a manifest). Pure: the cryptography is in `xregion-crypt`.
//!
//! A file is stored as AES-256-GCM chunks of `chunk_size` plaintext bytes,
//! each followed by its 16-byte tag; an empty file is one empty chunk, so
//! even it is authenticated. The manifest's `size` and `sha256` stay the
//! plaintext's: a restore checks them after decrypting.

use serde::{Deserialize, Serialize};

/// The only algorithm written today; a record naming another is refused.
pub const ALGORITHM: &str = "aes-256-gcm-chunked-v1";
/// Bytes of a GCM tag, added to every chunk.
pub const TAG_LEN: u64 = 16;
/// Plaintext bytes per chunk written by this version.
pub const CHUNK_SIZE: u64 = 1024 * 1024;
/// Bounds on a recorded chunk size (a forged huge one would cost memory).
pub const MIN_CHUNK_SIZE: u64 = 4096;
pub const MAX_CHUNK_SIZE: u64 = 64 * 1024 * 1024;
/// A wrapped data key: 12-byte nonce, 32-byte key, 16-byte tag.
pub const WRAPPED_KEY_LEN: usize = 60;

/// Where a backup's data key belongs, bound into its wrapping: the
/// service's prefix in the target store (tenant/instance/service) and the
/// backup id. A wrapped key moved to another backup does not unwrap.
pub fn key_context(service_prefix: &str, backup_id: &str) -> String {
    format!("{service_prefix}|{backup_id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEncryption {
    pub algorithm: String,
    /// The key encryption key that wrapped `wrapped_key`.
    pub key_id: String,
    /// The file's data key wrapped by `key_id`, standard base64.
    pub wrapped_key: String,
    pub chunk_size: u64,
    /// Bytes of the object in the target (the ciphertext).
    pub stored_size: u64,
}

/// Chunks a file of `plaintext` bytes is cut into (at least one).
pub fn chunk_count(plaintext: u64, chunk_size: u64) -> u64 {
    plaintext.div_ceil(chunk_size.max(1)).max(1)
}

/// The ciphertext size of `plaintext` bytes; `None` on overflow.
pub fn stored_size(plaintext: u64, chunk_size: u64) -> Option<u64> {
    chunk_count(plaintext, chunk_size)
        .checked_mul(TAG_LEN)?
        .checked_add(plaintext)
}

/// A key id: 1 to 64 of `A-Za-z0-9._-`, starting with a letter or digit
/// (it is named in errors, logs and command lines).
pub fn validate_key_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "key id {:?} must be 1 to 64 of A-Z a-z 0-9 . _ - starting with a letter or digit",
            id.chars().take(80).collect::<String>()
        ))
    }
}

impl FileEncryption {
    /// The record of a file of `plaintext_size` bytes is well formed: known
    /// algorithm, key id grammar, a wrapped key of the right length, a chunk
    /// size in bounds and a stored size that is the formula's.
    pub fn validate(&self, plaintext_size: u64) -> Result<(), String> {
        if self.algorithm != ALGORITHM {
            return Err(format!(
                "unknown encryption algorithm {:?}",
                self.algorithm.chars().take(80).collect::<String>()
            ));
        }
        validate_key_id(&self.key_id)?;
        let b64 = self.wrapped_key.as_bytes();
        let b64_ok = b64.len() == WRAPPED_KEY_LEN.div_ceil(3) * 4
            && b64
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b));
        if !b64_ok {
            return Err(format!(
                "wrapped key must be {WRAPPED_KEY_LEN} bytes in base64"
            ));
        }
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size) {
            return Err(format!(
                "chunk size {} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}",
                self.chunk_size
            ));
        }
        match stored_size(plaintext_size, self.chunk_size) {
            Some(s) if s == self.stored_size => Ok(()),
            _ => Err(format!(
                "stored size {} does not fit {plaintext_size} plaintext bytes in chunks of {}",
                self.stored_size, self.chunk_size
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn record(plaintext: u64) -> FileEncryption {
        FileEncryption {
            algorithm: ALGORITHM.into(),
            key_id: "k1".into(),
            wrapped_key: "A".repeat(80),
            chunk_size: CHUNK_SIZE,
            stored_size: stored_size(plaintext, CHUNK_SIZE).unwrap(),
        }
    }

    #[test]
    fn sizes_count_one_tag_per_chunk_and_one_for_an_empty_file() {
        assert_eq!(stored_size(0, 10), Some(16));
        assert_eq!(stored_size(10, 10), Some(26));
        assert_eq!(stored_size(11, 10), Some(43));
        assert_eq!(stored_size(u64::MAX, 1), None);
    }

    #[test]
    fn forged_records_are_refused_with_the_reason() {
        let good = record(5);
        good.validate(5).unwrap();
        let says = |r: &FileEncryption, size: u64, what: &str| {
            let err = r.validate(size).unwrap_err();
            assert!(err.contains(what), "{err}");
        };
        says(&good, 6, "stored size");
        let mut r = good.clone();
        r.algorithm = "rot13".into();
        says(&r, 5, "unknown encryption algorithm");
        let mut r = good.clone();
        r.key_id = "../k".into();
        says(&r, 5, "key id");
        let mut r = good.clone();
        r.wrapped_key = "A".repeat(81);
        says(&r, 5, "wrapped key");
        let mut r = good.clone();
        r.chunk_size = u64::MAX;
        says(&r, 5, "chunk size");
    }

    proptest! {
        #[test]
        fn stored_size_is_plaintext_plus_a_tag_per_chunk(p in 0u64..1 << 40, c in MIN_CHUNK_SIZE..MAX_CHUNK_SIZE) {
            let s = stored_size(p, c).unwrap();
            let n = chunk_count(p, c);
            prop_assert_eq!(s, p + 16 * n);
            prop_assert!(n >= 1 && (n - 1) * c <= p && p <= n * c);
            prop_assert!(record(p).validate(p).is_ok());
        }
    }
}
