//! Copies through the object stores: one GET and one PUT for a file no
//! larger than a part, otherwise ranged reads streamed into a multipart
//! upload. Either way the bytes are verified as they pass and nothing is
//! left in the target unless size and sha256 match.

use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use xregion_common::verify::{Mismatch, Verifier};

use crate::inflight::InFlight;
use crate::strategy::FileCopy;
use crate::throttle::Bucket;

/// Bytes read from the source per request.
const READ_CHUNK: u64 = 4 * 1024 * 1024;
// Every read but the last is sealed on its own: it must be whole chunks.
const _: () = assert!(READ_CHUNK.is_multiple_of(xregion_crypt::CHUNK_SIZE));

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("source file {0} is missing")]
    Missing(String),
    #[error("{key}: size {actual} differs from the descriptor's {expected}")]
    SizeMismatch {
        key: String,
        expected: u64,
        actual: u64,
    },
    #[error("{key}: sha256 {actual} differs from the descriptor's {expected}")]
    ChecksumMismatch {
        key: String,
        expected: String,
        actual: String,
    },
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("upload state: {0}")]
    State(String),
    /// The target no longer knows a recorded multipart upload (aborted
    /// outside xregion): counted toward dead-lettering, so a lifecycle rule
    /// that aborts uploads sooner than a copy takes ends in a dead letter,
    /// not in endless restarts.
    #[error("{0}")]
    UploadGone(String),
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
    #[error("encryption: {0}")]
    Crypt(#[from] xregion_crypt::CryptError),
}

impl CopyError {
    /// The verifier's finding about the file read from `key`.
    pub fn mismatch(key: &str, mismatch: Mismatch) -> Self {
        let key = key.to_string();
        match mismatch {
            Mismatch::Size { expected, actual } => CopyError::SizeMismatch {
                key,
                expected,
                actual,
            },
            Mismatch::Sha256 { expected, actual } => CopyError::ChecksumMismatch {
                key,
                expected,
                actual,
            },
        }
    }
}

/// An error reading a source, which may say the file is not there.
pub(crate) trait SourceError: Into<CopyError> {
    fn is_not_found(&self) -> bool;
}

impl SourceError for object_store::Error {
    fn is_not_found(&self) -> bool {
        matches!(self, object_store::Error::NotFound { .. })
    }
}

impl SourceError for std::io::Error {
    fn is_not_found(&self) -> bool {
        self.kind() == std::io::ErrorKind::NotFound
    }
}

/// Maps a failed read of `key`: a file gone since the descriptor was made
/// is `Missing` (the backup is at fault, not the store).
pub(crate) fn reading<E: SourceError>(key: &str) -> impl Fn(E) -> CopyError + '_ {
    move |e| {
        if e.is_not_found() {
            CopyError::Missing(key.to_string())
        } else {
            e.into()
        }
    }
}

/// The two stores of one transfer and what their copies share.
#[derive(Clone)]
pub struct Ends {
    pub source: Arc<dyn ObjectStore>,
    pub target: Arc<dyn ObjectStore>,
    /// Bandwidth shared with the other transfers between the same regions.
    pub throttle: Arc<Bucket>,
    /// How many parts of the file being copied may be in flight: adapted
    /// to the route's bandwidth-delay product, within `parts_in_flight`.
    pub parts: Arc<InFlight>,
}

/// A file no larger than a part: one GET and one PUT, in memory no larger
/// than a part (a source larger than the descriptor says is refused before
/// its body is read). `on_bytes` sees the length once it is written.
/// Returns the ETag the PUT got, if any.
pub async fn copy_whole(
    file: &FileCopy,
    ends: &Ends,
    on_bytes: impl Fn(u64),
) -> Result<Option<String>, CopyError> {
    let got = open_source(file, ends).await?;
    let data = got.bytes().await.map_err(reading(&file.source_key))?;
    ends.throttle.acquire(data.len() as u64).await;
    let mut seen = Verifier::new();
    seen.update(&data);
    file.check(seen)?;
    let len = data.len() as u64;
    let data = match &file.encrypt {
        Some(e) => e.fresh(file.size)?.range(0, &data)?,
        None => data,
    };
    let put = ends
        .target
        .put(&Path::from(file.target_key.as_str()), data.into())
        .await?;
    on_bytes(len);
    Ok(put.e_tag)
}

/// Large ranged reads, two ahead, into a multipart upload of `part_size`
/// parts, aborted unless the bytes verify; `on_bytes` sees each chunk.
/// Returns the ETag the completed upload got, if any.
pub async fn copy_streamed(
    file: &FileCopy,
    ends: &Ends,
    part_size: usize,
    on_bytes: impl Fn(u64),
) -> Result<Option<String>, CopyError> {
    let source_path = Path::from(file.source_key.as_str());
    let read = reading(&file.source_key);
    let size = ends.source.head(&source_path).await.map_err(&read)?.size as u64;
    refuse_other_size(&file.source_key, file, size)?;
    // A stream of the whole object would come in 8 KiB pieces from local
    // stores, each a blocking call.
    let ranges = (0..size.div_ceil(READ_CHUNK))
        .map(|i| (i * READ_CHUNK) as usize..((i + 1) * READ_CHUNK).min(size) as usize);
    let mut chunks = futures::stream::iter(ranges)
        .map(|r| {
            let (source, path) = (ends.source.clone(), source_path.clone());
            async move {
                let asked = std::time::Instant::now();
                let got = source.get_range(&path, r).await;
                (got, asked.elapsed())
            }
        })
        .buffered(2);
    let target_path = Path::from(file.target_key.as_str());
    let upload = ends.target.put_multipart(&target_path).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size.max(1));
    let mut seen = Verifier::new();
    let seal = file
        .encrypt
        .as_ref()
        .map(|e| e.fresh(file.size))
        .transpose()?;
    let mut at = 0u64;
    // Every error in the loop aborts the upload, so such a failed copy
    // leaves no incomplete multipart upload behind in the target.
    let copied = async {
        while let Some((chunk, took)) = chunks.next().await {
            let chunk = chunk.map_err(|e| {
                ends.parts.failed();
                read(e)
            })?;
            // The ranged reads are this path's requests of known latency.
            ends.parts.done(chunk.len() as u64, took);
            ends.throttle.acquire(chunk.len() as u64).await;
            seen.update(&chunk);
            writer.wait_for_capacity(ends.parts.window()).await?;
            // Reads are whole chunks of the cipher (READ_CHUNK is a multiple).
            let body = crate::seal::maybe(seal.as_ref(), at, chunk.clone())?;
            at += chunk.len() as u64;
            writer.write(&body);
            on_bytes(chunk.len() as u64);
        }
        file.check(std::mem::take(&mut seen))
    }
    .await;
    if let Err(err) = copied {
        let _ = writer.abort().await;
        return Err(err);
    }
    // finish aborts the upload itself when its completion fails; a last
    // part that fails there, or a copy dropped mid-way, leaves it to the
    // store's own expiry of incomplete uploads.
    Ok(writer.finish().await?.e_tag)
}

/// The source's GET of a file copied whole, refused before its body is read
/// when the store holds another size than the descriptor says.
pub(crate) async fn open_source(
    file: &FileCopy,
    ends: &Ends,
) -> Result<object_store::GetResult, CopyError> {
    let got = ends
        .source
        .get(&Path::from(file.source_key.as_str()))
        .await
        .map_err(reading(&file.source_key))?;
    refuse_other_size(&file.source_key, file, got.meta.size as u64)?;
    Ok(got)
}

/// An object (at `key`) whose size is not the descriptor's fails its check
/// anyway; refusing it before reading keeps a wrong size from costing
/// memory or bandwidth.
pub(crate) fn refuse_other_size(key: &str, file: &FileCopy, actual: u64) -> Result<(), CopyError> {
    if actual == file.size {
        return Ok(());
    }
    Err(CopyError::SizeMismatch {
        key: key.to_string(),
        expected: file.size,
        actual,
    })
}

/// Two empty in-memory stores, unthrottled, two parts in flight.
#[cfg(test)]
pub(crate) fn test_ends() -> Ends {
    use object_store::memory::InMemory;
    Ends {
        source: Arc::new(InMemory::new()),
        target: Arc::new(InMemory::new()),
        throttle: Default::default(),
        parts: Arc::new(crate::inflight::Route::default().window(
            crate::inflight::Level::Parts,
            2,
            5,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn file(size: u64, sha256: &str) -> FileCopy {
        FileCopy {
            source_key: "a/f".into(),
            target_key: "b/f".into(),
            size,
            sha256: sha256.into(),
            encrypt: None,
        }
    }

    /// Copies `data` both ways: whole, and streamed in 5-byte parts.
    async fn both_ways(
        data: &[u8],
        file: &FileCopy,
    ) -> Vec<(Result<Option<String>, CopyError>, Ends, u64)> {
        let mut runs = Vec::new();
        for streamed in [false, true] {
            let ends = test_ends();
            ends.source
                .put(&Path::from("a/f"), data.to_vec().into())
                .await
                .unwrap();
            let seen = std::sync::atomic::AtomicU64::new(0);
            let count = |n| {
                seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            };
            let r = if streamed {
                copy_streamed(file, &ends, 5, count).await
            } else {
                copy_whole(file, &ends, count).await
            };
            runs.push((r, ends, seen.into_inner()));
        }
        runs
    }

    async fn landed(ends: &Ends) -> Option<bytes::Bytes> {
        let got = ends.target.get(&Path::from("b/f")).await.ok()?;
        got.bytes().await.ok()
    }

    #[tokio::test]
    async fn copies_byte_identical_and_reports_progress() {
        let data = b"hello cross-region world";
        let sha = hex::encode(Sha256::digest(data));
        for (r, ends, seen) in both_ways(data, &file(data.len() as u64, &sha)).await {
            // The ETag the write got is the object's.
            let stored = ends.target.head(&Path::from("b/f")).await.unwrap();
            assert!(stored.e_tag.is_some());
            assert_eq!(r.unwrap(), stored.e_tag);
            assert_eq!(seen, data.len() as u64);
            assert_eq!(landed(&ends).await.unwrap().as_ref(), data);
        }
    }

    #[tokio::test]
    async fn mismatches_leave_nothing_behind() {
        let data = b"payload";
        let sha = hex::encode(Sha256::digest(data));
        for (r, ends, _) in both_ways(data, &file(99, &sha)).await {
            assert!(
                matches!(r, Err(CopyError::SizeMismatch { actual: 7, .. })),
                "{r:?}"
            );
            assert!(landed(&ends).await.is_none());
        }
        let wrong = "0".repeat(64);
        for (r, ends, _) in both_ways(data, &file(7, &wrong)).await {
            assert!(
                matches!(r, Err(CopyError::ChecksumMismatch { .. })),
                "{r:?}"
            );
            assert!(landed(&ends).await.is_none());
        }
    }

    #[tokio::test]
    async fn a_missing_source_is_reported_as_such() {
        let ends = test_ends();
        let nope = FileCopy {
            source_key: "nope".into(),
            ..file(0, "")
        };
        let r = copy_whole(&nope, &ends, |_| {}).await;
        assert!(matches!(r, Err(CopyError::Missing(_))), "{r:?}");
        let r = copy_streamed(&nope, &ends, 5, |_| {}).await;
        assert!(matches!(r, Err(CopyError::Missing(_))), "{r:?}");
    }

    #[tokio::test]
    async fn encrypted_copies_store_ciphertext_that_opens_to_the_source() {
        // Three reads of the streamed path, the last one short.
        let data: Vec<u8> = (0..9 * 1024 * 1024 + 5u32)
            .map(|i| (i % 251) as u8)
            .collect();
        let sha = hex::encode(Sha256::digest(&data));
        for streamed in [false, true] {
            let (sealing, ring) = crate::seal::test_sealing();
            let f = file(data.len() as u64, &sha)
                .encrypted(Some(&sealing), 3)
                .unwrap();
            let ends = test_ends();
            ends.source
                .put(&Path::from("a/f"), data.clone().into())
                .await
                .unwrap();
            if streamed {
                copy_streamed(&f, &ends, 5 * 1024 * 1024, |_| {})
                    .await
                    .unwrap();
            } else {
                copy_whole(&f, &ends, |_| {}).await.unwrap();
            }
            let stored = landed(&ends).await.unwrap();
            let record = sealing.record(3).unwrap();
            assert_eq!(record.key_id, "k1");
            assert_eq!(record.stored_size, stored.len() as u64);
            assert!(!stored.windows(64).any(|w| w == &data[1000..1064]));
            let plain = crate::seal::test_open(
                &ring,
                &record,
                3,
                &f.target_key,
                data.len() as u64,
                &stored,
            );
            assert!(plain == data, "streamed {streamed}");
        }
    }
}
