//! `file://` to `file://`: the bytes stay in the kernel (`std::io::copy`
//! between files is `copy_file_range`), while a second thread hashes what has
//! landed in the target as it lands. The file appears under its name, by a
//! rename, only once its size and sha256 match. Going through the object
//! store instead reads and writes every byte through user space in small
//! pieces, several times slower than `cp`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use sha2::{Digest, Sha256};

use crate::copy::{check_copied, CopyError};
use crate::throttle::Bucket;

/// Bytes per `copy_file_range` round; also the bandwidth limiter's unit.
const CHUNK: u64 = 8 * 1024 * 1024;
const HASH_BUFFER: usize = 1024 * 1024;

/// The file behind `key` in a region rooted at `root`, for keys made of
/// plain segments only; anything else takes the object-store path, which
/// knows how to encode it.
pub fn fs_path(root: &Path, key: &str) -> Option<PathBuf> {
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-=+".contains(&b))
    };
    key.split('/').all(plain).then(|| root.join(key))
}

pub struct LocalSpec {
    pub source: PathBuf,
    pub target: PathBuf,
    /// For error messages: the source key.
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

/// Stops the blocking copy when the transfer is dropped (service deleted
/// mid-copy), so nothing lands after the transfer gave up.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub async fn copy_local(
    spec: LocalSpec,
    throttle: Arc<Bucket>,
    on_bytes: impl Fn(u64) + Send + Sync + 'static,
) -> Result<(), CopyError> {
    let cancelled = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancelled.clone());
    let runtime = tokio::runtime::Handle::current();
    let limit = move |n: u64| runtime.block_on(throttle.acquire(n));
    tokio::task::spawn_blocking(move || copy_blocking(&spec, &cancelled, &limit, &on_bytes))
        .await
        .map_err(|e| CopyError::State(format!("local copy task: {e}")))?
}

fn copy_blocking(
    spec: &LocalSpec,
    cancelled: &AtomicBool,
    limit: &(dyn Fn(u64) + Sync),
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<(), CopyError> {
    let source = match File::open(&spec.source) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CopyError::Missing(spec.key.clone()))
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(dir) = spec.target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = partial_path(&spec.target);
    let outcome =
        copy_and_hash(source, &partial, cancelled, limit, on_bytes).and_then(|(copied, actual)| {
            check_copied(&spec.key, (spec.size, &spec.sha256), copied, actual)
        });
    match outcome {
        Ok(()) => Ok(std::fs::rename(&partial, &spec.target)?),
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// A name no other copy uses; `#` plus letters keeps it listable, so a crash
/// leftover is collected by cleanup's orphan pass like any other object.
fn partial_path(target: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut name = target.as_os_str().to_owned();
    name.push(format!(
        "#partial-p{}-n{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    name.into()
}

/// Copies in the kernel on one thread and hashes the target behind it on
/// this one; returns the bytes copied and their sha256.
fn copy_and_hash(
    source: File,
    partial: &Path,
    cancelled: &AtomicBool,
    limit: &(dyn Fn(u64) + Sync),
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<(u64, String), CopyError> {
    let mut out = File::create(partial)?;
    let mut landed = File::open(partial)?;
    let (tx, rx) = mpsc::sync_channel::<u64>(4);
    std::thread::scope(|scope| {
        let copier = scope.spawn(move || -> std::io::Result<u64> {
            let mut total = 0;
            loop {
                if cancelled.load(Ordering::Relaxed) {
                    return Err(std::io::Error::other("copy cancelled"));
                }
                let n = std::io::copy(&mut (&source).take(CHUNK), &mut out)?;
                if n == 0 {
                    return Ok(total);
                }
                total += n;
                limit(n);
                if tx.send(total).is_err() {
                    // The hasher stopped on an error of its own.
                    return Ok(total);
                }
            }
        });
        let hashed = hash_behind(&mut landed, rx, on_bytes);
        let copied = copier
            .join()
            .map_err(|_| CopyError::State("local copy thread panicked".into()))??;
        let (hashed, digest) = hashed?;
        if hashed != copied {
            return Err(CopyError::State(format!(
                "hashed {hashed} of {copied} copied bytes"
            )));
        }
        Ok((copied, digest))
    })
}

/// Hashes `landed` up to each offset the copier reports, in order.
fn hash_behind(
    landed: &mut File,
    copied_up_to: mpsc::Receiver<u64>,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<(u64, String), CopyError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; HASH_BUFFER];
    let mut position = 0u64;
    // Returning early drops the receiver, which stops the copier.
    for end in copied_up_to {
        let start = position;
        while position < end {
            let want = (end - position).min(buffer.len() as u64) as usize;
            landed.read_exact(&mut buffer[..want])?;
            hasher.update(&buffer[..want]);
            position += want as u64;
        }
        on_bytes(end - start);
    }
    Ok((position, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &[u8], size: u64, sha: &str) -> (Result<(), CopyError>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("src"), data).unwrap();
        let spec = LocalSpec {
            source: dir.path().join("src"),
            target: dir.path().join("a/b/dst"),
            key: "src".into(),
            size,
            sha256: sha.into(),
        };
        let seen = AtomicU64::new(0);
        let r = copy_blocking(&spec, &AtomicBool::new(false), &|_| {}, &|n| {
            seen.fetch_add(n, Ordering::Relaxed);
        });
        if r.is_ok() {
            assert_eq!(seen.load(Ordering::Relaxed), size);
        }
        (r, dir)
    }

    fn names(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn copies_byte_identical_across_chunks() {
        let data: Vec<u8> = (0..(CHUNK as usize * 2 + 12_345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let sha = hex::encode(Sha256::digest(&data));
        let (r, dir) = run(&data, data.len() as u64, &sha);
        r.unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b/dst")).unwrap(), data);
        assert_eq!(names(&dir.path().join("a/b")), vec!["dst".to_string()]);
    }

    #[test]
    fn mismatches_leave_nothing_behind() {
        let data = b"payload";
        let sha = hex::encode(Sha256::digest(data));
        let (r, dir) = run(data, 99, &sha);
        assert!(matches!(r, Err(CopyError::SizeMismatch { .. })));
        assert!(names(&dir.path().join("a/b")).is_empty());
        let (r, dir) = run(data, data.len() as u64, &"0".repeat(64));
        assert!(matches!(r, Err(CopyError::ChecksumMismatch { .. })));
        assert!(names(&dir.path().join("a/b")).is_empty());
    }

    #[test]
    fn empty_and_missing_files() {
        let (r, _dir) = run(b"", 0, &hex::encode(Sha256::digest(b"")));
        r.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let spec = LocalSpec {
            source: dir.path().join("nope"),
            target: dir.path().join("dst"),
            key: "nope".into(),
            size: 0,
            sha256: String::new(),
        };
        let r = copy_blocking(&spec, &AtomicBool::new(false), &|_| {}, &|_| {});
        assert!(matches!(r, Err(CopyError::Missing(_))));
    }

    #[test]
    fn a_cancelled_copy_lands_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("src"), vec![1u8; 1000]).unwrap();
        let spec = LocalSpec {
            source: dir.path().join("src"),
            target: dir.path().join("dst"),
            key: "src".into(),
            size: 1000,
            sha256: hex::encode(Sha256::digest(vec![1u8; 1000])),
        };
        let r = copy_blocking(&spec, &AtomicBool::new(true), &|_| {}, &|_| {});
        assert!(r.is_err());
        assert_eq!(names(dir.path()), vec!["src".to_string()]);
    }

    #[test]
    fn only_plain_keys_map_to_files() {
        let root = Path::new("/r");
        assert_eq!(
            fs_path(root, "t/i/svc-1/backups/b/mysql-bin.000001"),
            Some(PathBuf::from("/r/t/i/svc-1/backups/b/mysql-bin.000001"))
        );
        for bad in ["", "a//b", "../x", "a/./b", "a b", "a%2F", "/abs"] {
            assert_eq!(fs_path(root, bad), None, "{bad:?}");
        }
    }
}
