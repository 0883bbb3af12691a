//! The one check a copied or downloaded file passes before it is kept: the
//! bytes that went through, counted and hashed in order, against the size
//! and sha256 its descriptor or manifest records. The transfer worker's copy
//! paths and `xregion restore` both use it, so they cannot disagree on what
//! "verified" means.

use sha2::{Digest, Sha256};

/// What differed; size is compared first, since a short or long file hashes
/// differently anyway and its size says more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("size {actual} differs from the expected {expected}")]
    Size { expected: u64, actual: u64 },
    #[error("sha256 {actual} differs from the expected {expected}")]
    Sha256 { expected: String, actual: String },
}

pub type Result<T> = std::result::Result<T, Mismatch>;

/// A running sha256 and byte count over a file's bytes, fed in order.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    hasher: Sha256,
    bytes: u64,
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
    }

    /// Bytes seen so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Checks everything seen against the expected size and (hex) sha256.
    pub fn finish(self, expected_size: u64, expected_sha256: &str) -> Result<()> {
        if self.bytes != expected_size {
            return Err(Mismatch::Size {
                expected: expected_size,
                actual: self.bytes,
            });
        }
        let actual = hex::encode(self.hasher.finalize());
        if actual != expected_sha256 {
            return Err(Mismatch::Sha256 {
                expected: expected_sha256.to_string(),
                actual,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn fed(pieces: &[&[u8]]) -> Verifier {
        let mut v = Verifier::new();
        pieces.iter().for_each(|p| v.update(p));
        v
    }

    #[test]
    fn matching_bytes_pass_however_they_are_cut() {
        let v = fed(&[b"hello ", b"", b"world"]);
        assert_eq!(v.bytes(), 11);
        v.finish(11, &sha(b"hello world")).unwrap();
        Verifier::new().finish(0, &sha(b"")).unwrap();
    }

    #[test]
    fn a_size_mismatch_is_named_first() {
        // The hash is wrong too; the size is what is reported.
        let err = fed(&[b"short"]).finish(9, &"0".repeat(64)).unwrap_err();
        assert_eq!(
            err,
            Mismatch::Size {
                expected: 9,
                actual: 5
            }
        );
        assert_eq!(err.to_string(), "size 5 differs from the expected 9");
    }

    #[test]
    fn a_hash_mismatch_names_both_hashes() {
        let wrong = "0".repeat(64);
        let err = fed(&[b"payload"]).finish(7, &wrong).unwrap_err();
        assert_eq!(
            err,
            Mismatch::Sha256 {
                expected: wrong.clone(),
                actual: sha(b"payload"),
            }
        );
        let text = err.to_string();
        assert!(
            text.contains(&wrong) && text.contains(&sha(b"payload")),
            "{text}"
        );
    }
}
