//! One file, streamed from source to target while its sha256 is computed;
//! nothing is left in the target unless size and checksum match.

use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};

/// Bytes read from the source per request.
const READ_CHUNK: u64 = 4 * 1024 * 1024;

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
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
}

pub struct CopySpec<'a> {
    pub source: &'a Arc<dyn ObjectStore>,
    pub target: &'a Arc<dyn ObjectStore>,
    pub source_key: &'a str,
    pub target_key: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    pub part_size: usize,
    pub parts_in_flight: usize,
    /// Bandwidth shared with the other transfers between the same regions.
    pub throttle: Arc<crate::throttle::Bucket>,
}

/// Copies and verifies; `on_bytes` sees each chunk's length as it passes.
pub async fn copy_verified(
    spec: CopySpec<'_>,
    mut on_bytes: impl FnMut(u64),
) -> Result<(), CopyError> {
    let source_path = Path::from(spec.source_key);
    let target_path = Path::from(spec.target_key);
    let size = match spec.source.head(&source_path).await {
        Ok(meta) => meta.size as u64,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(CopyError::Missing(spec.source_key.to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    if size <= spec.part_size as u64 {
        return copy_whole(&spec, &source_path, &target_path, on_bytes).await;
    }
    // Large ranged reads, two ahead: a stream of the whole object would come
    // in 8 KiB pieces from local stores, each a blocking call.
    let ranges = (0..size.div_ceil(READ_CHUNK))
        .map(|i| (i * READ_CHUNK) as usize..((i + 1) * READ_CHUNK).min(size) as usize);
    let source = spec.source.clone();
    let mut chunks = futures::stream::iter(ranges)
        .map(|r| {
            let (source, path) = (source.clone(), source_path.clone());
            async move { source.get_range(&path, r).await }
        })
        .buffered(2);
    let upload = spec.target.put_multipart(&target_path).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, spec.part_size.max(1));
    let mut hasher = Sha256::new();
    let mut copied: u64 = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(match e {
                    object_store::Error::NotFound { .. } => {
                        CopyError::Missing(spec.source_key.to_string())
                    }
                    e => e.into(),
                });
            }
        };
        spec.throttle.acquire(chunk.len() as u64).await;
        hasher.update(&chunk);
        copied += chunk.len() as u64;
        if let Err(e) = writer.wait_for_capacity(spec.parts_in_flight.max(1)).await {
            return Err(e.into());
        }
        writer.write(&chunk);
        on_bytes(chunk.len() as u64);
    }
    if let Err(err) = verify(&spec, copied, hex::encode(hasher.finalize())) {
        let _ = writer.abort().await;
        return Err(err);
    }
    writer.finish().await?;
    Ok(())
}

/// A file no larger than one part: one GET and one PUT (a multipart upload
/// would cost two more requests), in memory no larger than a part.
async fn copy_whole(
    spec: &CopySpec<'_>,
    source: &Path,
    target: &Path,
    mut on_bytes: impl FnMut(u64),
) -> Result<(), CopyError> {
    let missing = |e: object_store::Error| match e {
        object_store::Error::NotFound { .. } => CopyError::Missing(spec.source_key.to_string()),
        e => e.into(),
    };
    let data = spec
        .source
        .get(source)
        .await
        .map_err(missing)?
        .bytes()
        .await
        .map_err(missing)?;
    spec.throttle.acquire(data.len() as u64).await;
    verify(spec, data.len() as u64, hex::encode(Sha256::digest(&data)))?;
    let len = data.len() as u64;
    spec.target.put(target, data.into()).await?;
    on_bytes(len);
    Ok(())
}

fn verify(spec: &CopySpec<'_>, copied: u64, actual: String) -> Result<(), CopyError> {
    check_copied(spec.source_key, (spec.size, spec.sha256), copied, actual)
}

/// What was copied against what the descriptor says: size first, then sha256.
pub fn check_copied(
    key: &str,
    (size, sha256): (u64, &str),
    copied: u64,
    actual: String,
) -> Result<(), CopyError> {
    if copied != size {
        Err(CopyError::SizeMismatch {
            key: key.to_string(),
            expected: size,
            actual: copied,
        })
    } else if actual != sha256 {
        Err(CopyError::ChecksumMismatch {
            key: key.to_string(),
            expected: sha256.to_string(),
            actual,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn stores() -> (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>) {
        (Arc::new(InMemory::new()), Arc::new(InMemory::new()))
    }

    async fn spec_run(
        data: &[u8],
        size: u64,
        sha: &str,
        part_size: usize,
    ) -> (Result<(), CopyError>, Arc<dyn ObjectStore>, u64) {
        let (src, dst) = stores();
        src.put(&Path::from("a/f"), data.to_vec().into())
            .await
            .unwrap();
        let mut seen = 0;
        let r = copy_verified(
            CopySpec {
                source: &src,
                target: &dst,
                source_key: "a/f",
                target_key: "b/f",
                size,
                sha256: sha,
                part_size,
                parts_in_flight: 2,
                throttle: Default::default(),
            },
            |n| seen += n,
        )
        .await;
        (r, dst, seen)
    }

    #[tokio::test]
    async fn copies_byte_identical_and_reports_progress() {
        let data = b"hello cross-region world";
        let sha = hex::encode(Sha256::digest(data));
        // Parts of 5 bytes (multipart), and one part (a single PUT).
        for part_size in [5, 1024] {
            let (r, dst, seen) = spec_run(data, data.len() as u64, &sha, part_size).await;
            r.unwrap();
            assert_eq!(seen, data.len() as u64);
            assert_eq!(
                dst.get(&Path::from("b/f"))
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap()
                    .as_ref(),
                data
            );
        }
    }

    #[tokio::test]
    async fn mismatches_leave_nothing_behind() {
        let data = b"payload";
        for part_size in [5, 1024] {
            let sha = hex::encode(Sha256::digest(data));
            let (r, dst, _) = spec_run(data, 99, &sha, part_size).await;
            assert!(matches!(r, Err(CopyError::SizeMismatch { .. })));
            assert!(dst.head(&Path::from("b/f")).await.is_err());
            let (r, dst, _) = spec_run(data, data.len() as u64, &"0".repeat(64), part_size).await;
            assert!(matches!(r, Err(CopyError::ChecksumMismatch { .. })));
            assert!(dst.head(&Path::from("b/f")).await.is_err());
        }
    }

    #[tokio::test]
    async fn a_missing_source_is_reported_as_such() {
        let (src, dst) = stores();
        let r = copy_verified(
            CopySpec {
                source: &src,
                target: &dst,
                source_key: "nope",
                target_key: "x",
                size: 0,
                sha256: "",
                part_size: 5,
                parts_in_flight: 1,
                throttle: Default::default(),
            },
            |_| {},
        )
        .await;
        assert!(matches!(r, Err(CopyError::Missing(_))));
    }
}
