//! One file sealed in fixed plaintext chunks. Chunk `i` is AES-256-GCM under
//! the data key with nonce = file index (u32, big endian) || `i` (u64, big
//! endian), unique per (data key, file, chunk), and AAD = a version label,
//! the file's key in the target store and whether it is the file's last
//! chunk (so an object moved to another key does not open). Swapping chunks changes their
//! nonces, cutting the file makes a non-last chunk the end, appending adds
//! a chunk after the last: each fails to open. Any run of whole chunks is
//! sealed and opened on its own, so a part or a ranged GET needs nothing
//! but its first chunk index.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use xregion_domain::encryption::{chunk_count, stored_size, TAG_LEN};

use crate::error::CryptError;
use crate::keys::DataKey;

const AAD_LABEL: &[u8] = b"xregion/chunk/v1";

/// Bulk sealing uses ring's AES-256-GCM (assembly with AES-NI and
/// carry-less multiply: several times RustCrypto's rate on this path).
pub struct FileCipher {
    /// Always `Some` (AES-256-GCM takes any 32-byte key); checked on use
    /// rather than assumed.
    aead: Option<LessSafeKey>,
    file_index: u32,
    chunk_size: u64,
    plaintext_size: u64,
    /// AAD of a chunk that is not the last, and of the last.
    aad_inner: Vec<u8>,
    aad_last: Vec<u8>,
}

impl std::fmt::Debug for FileCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCipher")
            .field("file_index", &self.file_index)
            .field("chunk_size", &self.chunk_size)
            .field("plaintext_size", &self.plaintext_size)
            .finish_non_exhaustive()
    }
}

impl FileCipher {
    /// The cipher of file `file_index` of a backup, stored at `target_key`,
    /// `plaintext_size` bytes cut in chunks of `chunk_size` (at least 1).
    pub fn new(
        key: &DataKey,
        file_index: u32,
        target_key: &str,
        chunk_size: u64,
        plaintext_size: u64,
    ) -> Self {
        let aad = |last: u8| {
            let mut a = AAD_LABEL.to_vec();
            a.push(b'|');
            a.extend_from_slice(target_key.as_bytes());
            a.push(b'|');
            a.push(last);
            a
        };
        Self {
            aad_inner: aad(0),
            aad_last: aad(1),
            aead: UnboundKey::new(&AES_256_GCM, &key.0)
                .ok()
                .map(LessSafeKey::new),
            file_index,
            chunk_size: chunk_size.max(1),
            plaintext_size,
        }
    }

    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    pub fn chunks(&self) -> u64 {
        chunk_count(self.plaintext_size, self.chunk_size)
    }

    /// Bytes of the whole ciphertext; `None` on overflow.
    pub fn stored_size(&self) -> Option<u64> {
        stored_size(self.plaintext_size, self.chunk_size)
    }

    fn key(&self) -> Result<&LessSafeKey, CryptError> {
        self.aead
            .as_ref()
            .ok_or_else(|| CryptError::Malformed("the data key was refused".into()))
    }

    /// Where chunk `i` starts in the ciphertext.
    pub fn stored_offset(&self, chunk: u64) -> u64 {
        chunk.saturating_mul(self.chunk_size + TAG_LEN)
    }

    fn nonce(&self, chunk: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&self.file_index.to_be_bytes());
        n[4..].copy_from_slice(&chunk.to_be_bytes());
        n
    }

    fn aad(&self, chunk: u64) -> &[u8] {
        if chunk + 1 == self.chunks() {
            &self.aad_last
        } else {
            &self.aad_inner
        }
    }

    /// Plaintext bytes of chunk `i` (the last one may be short or empty).
    fn plain_len(&self, chunk: u64) -> u64 {
        let start = chunk.saturating_mul(self.chunk_size);
        self.plaintext_size
            .saturating_sub(start)
            .min(self.chunk_size)
    }

    /// Seals `plaintext`, the whole chunks starting at chunk `first` (the
    /// last may be the file's short last chunk): each chunk, then its tag.
    pub fn seal_range(&self, first: u64, plaintext: &[u8]) -> Result<Vec<u8>, CryptError> {
        let aead = self.key()?;
        // One tag per chunk (plus one for a short last chunk): no regrowth.
        let tags = (plaintext.len() as u64 / self.chunk_size + 1) * TAG_LEN;
        let mut out = Vec::with_capacity(plaintext.len() + usize::try_from(tags).unwrap_or(0));
        let mut rest = plaintext;
        let mut i = first;
        loop {
            if i >= self.chunks() {
                return Err(CryptError::Malformed(format!(
                    "chunk {i} is past the file's {} chunks",
                    self.chunks()
                )));
            }
            let want = self.plain_len(i) as usize;
            if rest.len() < want {
                return Err(CryptError::Malformed(format!(
                    "chunk {i}: {} plaintext bytes, {want} expected (ranges must be whole chunks)",
                    rest.len()
                )));
            }
            let (chunk, tail) = rest.split_at(want);
            let start = out.len();
            out.extend_from_slice(chunk);
            let tag = aead
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(self.nonce(i)),
                    Aad::from(self.aad(i)),
                    &mut out[start..],
                )
                .map_err(|_| CryptError::Malformed(format!("chunk {i}: sealing failed")))?;
            out.extend_from_slice(tag.as_ref());
            rest = tail;
            i += 1;
            if rest.is_empty() {
                return Ok(out);
            }
        }
    }

    /// Opens a whole file: a ciphertext of any other length than the
    /// formula's is cut or extended, and refused.
    pub fn open_file(&self, ciphertext: &[u8]) -> Result<Vec<u8>, CryptError> {
        if Some(ciphertext.len() as u64) != self.stored_size() {
            return Err(CryptError::Malformed(format!(
                "{} bytes stored, {:?} expected",
                ciphertext.len(),
                self.stored_size()
            )));
        }
        self.open_range(0, ciphertext, self.plaintext_size)
    }

    /// Opens `ciphertext`, the whole sealed chunks starting at chunk
    /// `first`, expected to hold `plain_len` plaintext bytes; any change,
    /// cut (even at a chunk edge) or reordering is `Tampered`.
    pub fn open_range(
        &self,
        first: u64,
        ciphertext: &[u8],
        plain_len: u64,
    ) -> Result<Vec<u8>, CryptError> {
        let aead = self.key()?;
        let mut out = Vec::with_capacity(ciphertext.len());
        let mut rest = ciphertext;
        let mut i = first;
        loop {
            if i >= self.chunks() {
                return Err(CryptError::Tampered { index: i });
            }
            let want = (self.plain_len(i) + TAG_LEN) as usize;
            if rest.len() < want {
                return Err(CryptError::Tampered { index: i });
            }
            let (sealed, tail) = rest.split_at(want);
            let start = out.len();
            out.extend_from_slice(sealed);
            aead.open_in_place(
                Nonce::assume_unique_for_key(self.nonce(i)),
                Aad::from(self.aad(i)),
                &mut out[start..],
            )
            .map_err(|_| CryptError::Tampered { index: i })?;
            out.truncate(out.len() - TAG_LEN as usize);
            rest = tail;
            i += 1;
            if rest.is_empty() {
                // Whole chunks, but fewer (or more) than asked for: a cut
                // at a chunk edge before the range's end.
                if out.len() as u64 != plain_len {
                    return Err(CryptError::Tampered { index: i });
                }
                return Ok(out);
            }
        }
    }
}
