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

use xregion_common::verify::Verifier;

use crate::copy::{reading, CopyError};
use crate::strategy::FileCopy;
use crate::throttle::Bucket;

/// Bytes per `copy_file_range` round; also the bandwidth limiter's unit.
const CHUNK: u64 = 8 * 1024 * 1024;
const HASH_BUFFER: usize = 1024 * 1024;

/// The two files of a kernel copy.
#[derive(Debug, Clone)]
pub struct Files {
    pub source: PathBuf,
    pub target: PathBuf,
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
    file: &FileCopy,
    files: Files,
    throttle: Arc<Bucket>,
    on_bytes: impl Fn(u64) + Send + Sync + 'static,
) -> Result<(), CopyError> {
    let cancelled = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancelled.clone());
    let runtime = tokio::runtime::Handle::current();
    let limit = move |n: u64| runtime.block_on(throttle.acquire(n));
    let file = file.clone();
    tokio::task::spawn_blocking(move || copy_blocking(&file, &files, &cancelled, &limit, &on_bytes))
        .await
        .map_err(|e| CopyError::State(format!("local copy task: {e}")))?
}

fn copy_blocking(
    file: &FileCopy,
    files: &Files,
    cancelled: &AtomicBool,
    limit: &(dyn Fn(u64) + Sync),
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<(), CopyError> {
    let source = File::open(&files.source).map_err(reading(&file.source_key))?;
    if let Some(dir) = files.target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = partial_path(&files.target);
    let outcome = copy_and_hash(source, &partial, cancelled, limit, on_bytes)
        .and_then(|seen| file.check(seen))
        .and_then(|()| match cancelled.load(Ordering::Relaxed) {
            // Dropped while it hashed: its service may be removing the copy.
            true => Err(std::io::Error::other("copy cancelled").into()),
            false => Ok(()),
        });
    match outcome {
        Ok(()) => Ok(std::fs::rename(&partial, &files.target)?),
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
/// this one; returns what was hashed, all of what was copied.
fn copy_and_hash(
    source: File,
    partial: &Path,
    cancelled: &AtomicBool,
    limit: &(dyn Fn(u64) + Sync),
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<Verifier, CopyError> {
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
        let hashed = hashed?;
        if hashed.bytes() != copied {
            return Err(CopyError::State(format!(
                "hashed {} of {copied} copied bytes",
                hashed.bytes()
            )));
        }
        Ok(hashed)
    })
}

/// Hashes `landed` up to each offset the copier reports, in order.
fn hash_behind(
    landed: &mut File,
    copied_up_to: mpsc::Receiver<u64>,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<Verifier, CopyError> {
    let mut seen = Verifier::new();
    let mut buffer = vec![0u8; HASH_BUFFER];
    // Returning early drops the receiver, which stops the copier.
    for end in copied_up_to {
        let start = seen.bytes();
        while seen.bytes() < end {
            let want = (end - seen.bytes()).min(buffer.len() as u64) as usize;
            landed.read_exact(&mut buffer[..want])?;
            seen.update(&buffer[..want]);
        }
        on_bytes(end - start);
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn file(key: &str, size: u64, sha256: &str) -> FileCopy {
        FileCopy {
            source_key: key.into(),
            target_key: "unused".into(),
            size,
            sha256: sha256.into(),
            encrypt: None,
        }
    }

    fn run(data: &[u8], size: u64, sha: &str) -> (Result<(), CopyError>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("src"), data).unwrap();
        let files = Files {
            source: dir.path().join("src"),
            target: dir.path().join("a/b/dst"),
        };
        let seen = AtomicU64::new(0);
        let r = copy_blocking(
            &file("src", size, sha),
            &files,
            &AtomicBool::new(false),
            &|_| {},
            &|n| {
                seen.fetch_add(n, Ordering::Relaxed);
            },
        );
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
        let (r, dir) = run(&data, data.len() as u64, &sha(&data));
        r.unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b/dst")).unwrap(), data);
        assert_eq!(names(&dir.path().join("a/b")), vec!["dst".to_string()]);
    }

    #[test]
    fn mismatches_leave_nothing_behind() {
        let data = b"payload";
        let (r, dir) = run(data, 99, &sha(data));
        assert!(matches!(r, Err(CopyError::SizeMismatch { .. })));
        assert!(names(&dir.path().join("a/b")).is_empty());
        let (r, dir) = run(data, data.len() as u64, &"0".repeat(64));
        assert!(matches!(r, Err(CopyError::ChecksumMismatch { .. })));
        assert!(names(&dir.path().join("a/b")).is_empty());
    }

    #[test]
    fn empty_and_missing_files() {
        let (r, _dir) = run(b"", 0, &sha(b""));
        r.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = Files {
            source: dir.path().join("nope"),
            target: dir.path().join("dst"),
        };
        let r = copy_blocking(
            &file("nope", 0, ""),
            &files,
            &AtomicBool::new(false),
            &|_| {},
            &|_| {},
        );
        assert!(matches!(r, Err(CopyError::Missing(_))));
    }

    #[test]
    fn a_cancelled_copy_lands_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("src"), vec![1u8; 1000]).unwrap();
        let files = Files {
            source: dir.path().join("src"),
            target: dir.path().join("dst"),
        };
        let r = copy_blocking(
            &file("src", 1000, &sha(&[1u8; 1000])),
            &files,
            &AtomicBool::new(true),
            &|_| {},
            &|_| {},
        );
        assert!(r.is_err());
        assert_eq!(names(dir.path()), vec!["src".to_string()]);
    }
}
