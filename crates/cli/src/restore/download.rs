//! Downloading one file of a restore plan: ranged GETs in parallel, each
//! small enough to finish well within the store client's per-request
//! timeout and retried on its own, written in order to a partial file that
//! survives an interruption. A later run keeps what is there (re-hashing
//! it) and fetches only the rest; the file gets its final name only once
//! size and sha256 match the manifest.

use std::ops::Range;
use std::path::Path as FsPath;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::ObjectStore;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use xregion_common::verify::Verifier;

use super::progress::Progress;

/// How files are fetched.
#[derive(Debug, Clone, Copy)]
pub struct Fetcher {
    /// Bytes per ranged GET.
    pub range_size: u64,
    /// Ranged GETs in flight per file; memory is at most this many ranges.
    pub parallel: usize,
    /// Attempts per range before the restore gives up.
    pub attempts: u32,
}

/// One file to fetch, as the (validated) manifest describes it.
pub struct Wanted<'a> {
    pub key: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    /// Shown in progress lines.
    pub label: &'a str,
    /// How the stored object opens, when it is encrypted (`size` and
    /// `sha256` stay the plaintext's and are checked after decrypting).
    pub cipher: Option<&'a xregion_crypt::FileCipher>,
}

/// What fetching one file took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes read from the store by this run.
    pub fetched: u64,
    /// Bytes of an earlier, interrupted run kept and re-hashed.
    pub resumed: u64,
}

const HASH_BLOCK: usize = 1024 * 1024;

impl Fetcher {
    /// Brings `want` to `dest`, through `partial`. A verified file already at
    /// `dest` is kept as it is.
    pub async fn fetch(
        &self,
        store: &dyn ObjectStore,
        want: &Wanted<'_>,
        dest: &FsPath,
        partial: &FsPath,
    ) -> anyhow::Result<Fetched> {
        if is_verified(dest, want).await? {
            eprintln!("{}: already here, size and sha256 verified", want.label);
            return Ok(Fetched {
                fetched: 0,
                resumed: want.size,
            });
        }
        for dir in [dest.parent(), partial.parent()].into_iter().flatten() {
            tokio::fs::create_dir_all(dir)
                .await
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        let fetched = match self.fetch_partial(store, want, partial).await? {
            Ok(fetched) => fetched,
            // What an interrupted run left may be damaged (a crash after the
            // file grew but before its data reached the disk): start over once.
            Err(mismatch) if mismatch.resumed => {
                eprintln!("{}: {mismatch}; downloading it again", want.label);
                tokio::fs::remove_file(partial).await?;
                self.fetch_partial(store, want, partial)
                    .await?
                    .map_err(|m| discard(partial, m))?
            }
            Err(mismatch) => return Err(discard(partial, mismatch)),
        };
        tokio::fs::rename(partial, dest)
            .await
            .with_context(|| format!("moving {} into place", partial.display()))?;
        Ok(fetched)
    }

    /// Completes `partial` and checks it. The inner error is a mismatch with
    /// the manifest (the partial file is left for the caller to judge).
    async fn fetch_partial(
        &self,
        store: &dyn ObjectStore,
        want: &Wanted<'_>,
        partial: &FsPath,
    ) -> anyhow::Result<Result<Fetched, Mismatch>> {
        let mut file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(partial)
            .await
            .with_context(|| format!("opening {}", partial.display()))?;
        let mut have = file.metadata().await?.len();
        if have > want.size {
            file.set_len(0).await?;
            have = 0;
        }
        // An encrypted file resumes at a chunk edge: its ranges are whole
        // chunks, which open on their own.
        if let Some(c) = want.cipher {
            let edge = have - have % c.chunk_size();
            if edge != have {
                file.set_len(edge).await?;
                have = edge;
            }
        }
        let mut seen = Verifier::new();
        if have > 0 {
            eprintln!(
                "{}: resuming, {have} of {} bytes already here (re-hashing them)",
                want.label, want.size
            );
            hash_prefix(&mut file, have, &mut seen).await?;
        }
        file.seek(std::io::SeekFrom::Start(have)).await?;
        let location = Path::from(want.key);
        let mut progress = Progress::new(want.label, want.size, have);
        let step = match want.cipher {
            Some(c) => self.range_size.div_ceil(c.chunk_size()).max(1) * c.chunk_size(),
            None => self.range_size,
        };
        let mut ranges = stream::iter(ranges(have, want.size, step))
            .map(|r| self.get_plain(store, &location, r, want.cipher))
            .buffered(self.parallel.max(1));
        while let Some(bytes) = ranges.try_next().await? {
            seen.update(&bytes);
            file.write_all(&bytes).await?;
            progress.advance(bytes.len() as u64);
        }
        file.flush().await?;
        file.sync_all().await?;
        if let Err(differs) = seen.finish(want.size, want.sha256) {
            return Ok(Err(Mismatch {
                resumed: have > 0,
                text: format!(
                    "{}: {differs}; the manifest says {} bytes with sha256 {}",
                    want.key, want.size, want.sha256
                ),
            }));
        }
        let fetched = want.size - have;
        progress.finish(have);
        Ok(Ok(Fetched {
            fetched,
            resumed: have,
        }))
    }

    /// Plaintext bytes `range` of the file: read as they are, or the whole
    /// chunks holding them read and opened (a failed tag is no transient
    /// error: not retried).
    async fn get_plain(
        &self,
        store: &dyn ObjectStore,
        location: &Path,
        range: Range<u64>,
        cipher: Option<&xregion_crypt::FileCipher>,
    ) -> anyhow::Result<Bytes> {
        let Some(c) = cipher else {
            return self.get_range(store, location, range).await;
        };
        // Ranges are cut on chunk edges; one that is not would open the
        // wrong bytes (or none).
        if !range.start.is_multiple_of(c.chunk_size()) {
            anyhow::bail!(
                "{location}: range at {} is not on a chunk edge of {}",
                range.start,
                c.chunk_size()
            );
        }
        let first = range.start / c.chunk_size();
        let chunks = (range.end - range.start).div_ceil(c.chunk_size());
        let start = c.stored_offset(first);
        let end = start + (range.end - range.start) + chunks * xregion_crypt::TAG_LEN;
        let sealed = self.get_range(store, location, start..end).await?;
        let plain = c
            .open_range(first, &sealed, range.end - range.start)
            .with_context(|| format!("decrypting {location}"))?;
        Ok(Bytes::from(plain))
    }

    /// One range, retried with backoff: a range that fails (a timeout, a
    /// connection cut mid-body) costs one range, not the file.
    async fn get_range(
        &self,
        store: &dyn ObjectStore,
        location: &Path,
        range: Range<u64>,
    ) -> anyhow::Result<Bytes> {
        let want = range.end - range.start;
        let usize_range = usize::try_from(range.start)?..usize::try_from(range.end)?;
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let error = match store.get_range(location, usize_range.clone()).await {
                Ok(bytes) if bytes.len() as u64 == want => return Ok(bytes),
                Ok(bytes) => anyhow::anyhow!("got {} bytes instead of {want}", bytes.len()),
                Err(e) => anyhow::Error::new(e),
            };
            if attempt >= self.attempts {
                return Err(error.context(format!(
                    "reading bytes {}..{} of {location} ({attempt} attempts)",
                    range.start, range.end
                )));
            }
            eprintln!(
                "retrying bytes {}..{} of {location} (attempt {attempt} failed: {error:#})",
                range.start, range.end
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
            attempt += 1;
        }
    }
}

/// A file whose bytes do not match its manifest.
#[derive(Debug)]
struct Mismatch {
    /// Part of it came from an earlier run.
    resumed: bool,
    text: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Removes bytes that turned out wrong; the mismatch becomes the error.
fn discard(partial: &FsPath, mismatch: Mismatch) -> anyhow::Error {
    let _ = std::fs::remove_file(partial);
    anyhow::anyhow!("{mismatch}")
}

/// The ranges covering `from..size`, each at most `step` long.
fn ranges(from: u64, size: u64, step: u64) -> impl Iterator<Item = Range<u64>> {
    let step = step.max(1);
    (from..size)
        .step_by(usize::try_from(step).unwrap_or(usize::MAX))
        .map(move |start| start..size.min(start.saturating_add(step)))
}

async fn hash_prefix(
    file: &mut tokio::fs::File,
    len: u64,
    seen: &mut Verifier,
) -> anyhow::Result<()> {
    file.seek(std::io::SeekFrom::Start(0)).await?;
    let mut reader = (&mut *file).take(len);
    let mut buf = vec![0u8; HASH_BLOCK];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        seen.update(&buf[..n]);
    }
}

/// Whether `path` already holds exactly the wanted file.
async fn is_verified(path: &FsPath, want: &Wanted<'_>) -> anyhow::Result<bool> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    if file.metadata().await?.len() != want.size {
        return Ok(false);
    }
    let mut seen = Verifier::new();
    hash_prefix(&mut file, want.size, &mut seen).await?;
    Ok(seen.finish(want.size, want.sha256).is_ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn ranges_cover_the_rest_of_the_file_exactly() {
        let r: Vec<_> = ranges(0, 10, 4).collect();
        assert_eq!(r, [0..4, 4..8, 8..10]);
        let r: Vec<_> = ranges(5, 10, 4).collect();
        assert_eq!(r, [5..9, 9..10]);
        assert_eq!(ranges(10, 10, 4).count(), 0);
        assert_eq!(ranges(0, 0, 4).count(), 0);
    }

    /// `content` in an in-memory store under `k`, and the hash a manifest
    /// would give for it.
    struct Stored {
        store: object_store::memory::InMemory,
        sha256: String,
        size: u64,
    }

    impl Stored {
        async fn new(content: &[u8]) -> Self {
            let store = object_store::memory::InMemory::new();
            store
                .put(&Path::from("k"), content.to_vec().into())
                .await
                .unwrap();
            let sha256 = hex::encode(Sha256::digest(content));
            let size = content.len() as u64;
            Self {
                store,
                sha256,
                size,
            }
        }

        fn wanted(&self) -> Wanted<'_> {
            Wanted {
                key: "k",
                size: self.size,
                sha256: &self.sha256,
                label: "k",
                cipher: None,
            }
        }
    }

    #[tokio::test]
    async fn resumes_a_partial_file_and_fetches_only_the_rest() {
        let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let stored = Stored::new(&content).await;
        let (store, want) = (&stored.store, stored.wanted());
        let dir = tempfile::tempdir().unwrap();
        let (dest, partial) = (dir.path().join("f"), dir.path().join("p/f"));
        std::fs::create_dir_all(dir.path().join("p")).unwrap();
        std::fs::write(&partial, &content[..30_000]).unwrap();
        let fetcher = Fetcher {
            range_size: 7_000,
            parallel: 3,
            attempts: 2,
        };
        let got = fetcher.fetch(store, &want, &dest, &partial).await.unwrap();
        assert_eq!(
            got,
            Fetched {
                fetched: 70_000,
                resumed: 30_000
            }
        );
        assert_eq!(std::fs::read(&dest).unwrap(), content);
        assert!(!partial.exists());
        // A second run finds it complete and fetches nothing.
        let again = fetcher.fetch(store, &want, &dest, &partial).await.unwrap();
        assert_eq!(again.fetched, 0);
    }

    #[tokio::test]
    async fn a_damaged_partial_file_is_fetched_again_and_a_bad_object_refused() {
        let content = vec![7u8; 20_000];
        let stored = Stored::new(&content).await;
        let (store, want) = (&stored.store, stored.wanted());
        let dir = tempfile::tempdir().unwrap();
        let (dest, partial) = (dir.path().join("f"), dir.path().join("f.part"));
        std::fs::write(&partial, vec![0u8; 5_000]).unwrap();
        let fetcher = Fetcher {
            range_size: 4_096,
            parallel: 2,
            attempts: 1,
        };
        let got = fetcher.fetch(store, &want, &dest, &partial).await.unwrap();
        assert_eq!(got.fetched, 20_000);
        assert_eq!(std::fs::read(&dest).unwrap(), content);

        let other = dir.path().join("g");
        let wrong = "0".repeat(64);
        let bad = Wanted {
            sha256: &wrong,
            ..want
        };
        let err = fetcher
            .fetch(store, &bad, &other, &dir.path().join("g.part"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("the manifest says"), "{err}");
        assert!(!other.exists() && !dir.path().join("g.part").exists());
    }

    #[tokio::test]
    async fn encrypted_objects_open_by_whole_chunks_resume_at_a_chunk_edge_and_refuse_a_flip() {
        use xregion_crypt::{DataKey, FileCipher};
        let content: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let cipher = FileCipher::new(&DataKey::generate(), 2, "k", 4096, content.len() as u64);
        let stored = Stored::new(&cipher.seal_range(0, &content).unwrap()).await;
        let sha = hex::encode(Sha256::digest(&content));
        let want = Wanted {
            key: "k",
            size: content.len() as u64,
            sha256: &sha,
            label: "k",
            cipher: Some(&cipher),
        };
        let dir = tempfile::tempdir().unwrap();
        let (dest, partial) = (dir.path().join("f"), dir.path().join("f.part"));
        // Not on a chunk edge: cut back to 2 chunks and resumed from there.
        std::fs::write(&partial, &content[..10_000]).unwrap();
        let fetcher = Fetcher {
            range_size: 7_000,
            parallel: 3,
            attempts: 1,
        };
        let got = fetcher
            .fetch(&stored.store, &want, &dest, &partial)
            .await
            .unwrap();
        assert_eq!(
            got,
            Fetched {
                fetched: 50_000 - 8192,
                resumed: 8192
            }
        );
        assert!(std::fs::read(&dest).unwrap() == content);

        let mut bad = cipher.seal_range(0, &content).unwrap();
        bad[30_000] ^= 1;
        stored
            .store
            .put(&Path::from("k"), bad.into())
            .await
            .unwrap();
        let other = dir.path().join("g");
        let err = fetcher
            .fetch(&stored.store, &want, &other, &dir.path().join("g.part"))
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("failed authentication"),
            "{err:#}"
        );
        assert!(!other.exists());
    }
}
