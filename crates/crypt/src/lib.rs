//! Encryption at rest in a target region.
//!
//! - a key encryption key (KEK) per region comes from a [`KeyProvider`]
//!   (a local key from a file or an environment variable ships; a KMS
//!   would be another provider) and is named by a key id;
//! - each backup gets a fresh [`DataKey`], stored only wrapped by the KEK
//!   ([`WrappedKey`], AES-256-GCM, random nonce, key id bound as AAD);
//! - a file is sealed by [`FileCipher`] in fixed plaintext chunks: chunk
//!   `i` depends only on (data key, file index, `i`, its plaintext), so any
//!   range of whole chunks, e.g. one multipart part, can be produced again
//!   identically after a crash, and decrypted alone (ranged GETs);
//! - a [`Keyring`] holds the current key for new backups and older ones
//!   for restoring what they wrapped (rotation).

mod chunks;
mod error;
mod keys;

pub use chunks::FileCipher;
pub use error::CryptError;
pub use keys::{
    env_key, file_key, parse_key_material, DataKey, KeyProvider, Keyring, LocalKey, WrappedKey,
};
pub use xregion_domain::encryption::{
    chunk_count, stored_size, validate_key_id, ALGORITHM, CHUNK_SIZE, TAG_LEN,
};

#[cfg(test)]
mod tests;
