#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptError {
    #[error("encryption key {key_id:?} is not configured; give it (e.g. --key-file {key_id}=PATH or --key-env {key_id}=VAR)")]
    MissingKey { key_id: String },
    #[error("encryption key {key_id:?} does not open the wrapped data key: wrong key material for this id, or the wrapped key was altered or belongs to another backup")]
    WrongKey { key_id: String },
    #[error("encryption key {key_id:?}: {reason}")]
    BadKey { key_id: String, reason: String },
    #[error("{0}")]
    BadKeyId(String),
    #[error("chunk {index} failed authentication: the stored bytes were altered, truncated or reordered")]
    Tampered { index: u64 },
    #[error("ciphertext: {0}")]
    Malformed(String),
}
