//! The edges of a copy in the target store (the in-progress marker is
//! `crate::marker`): the check that every file
//! landed before the manifest (the commit marker) is written, the check of
//! an already committed copy before it is announced again, and removing a
//! copy whose service was deleted meanwhile.

use std::collections::BTreeMap;

use object_store::path::Path;
use object_store::ObjectStore;
use sha2::{Digest, Sha256};
use xregion_common::objects::{delete_if_present, read_small, Small};
use xregion_crypt::Keyring;
use xregion_domain::layout;
use xregion_domain::manifest::{Manifest, MAX_MANIFEST_BYTES};

use crate::sealed_check::last_chunk_opens;

/// Files up to this size are hashed again when a committed copy is checked;
/// larger ones are checked by size.
const REHASH_LIMIT: u64 = 16 * 1024 * 1024;

/// Takes back a manifest this attempt wrote whose files did not check out,
/// if it is still this attempt's (another delivery's, written since, is
/// left to its own check).
pub async fn withdraw_manifest(
    store: &dyn ObjectStore,
    key: &str,
    written: &[u8],
) -> Result<(), object_store::Error> {
    // Only bytes equal to `written` are taken back: anything larger is not.
    let limit = written.len() as u64;
    let stored = match read_small(store, key, limit).await? {
        Small::Read(bytes) => bytes,
        Small::Absent | Small::TooLarge(_) => return Ok(()),
    };
    if stored.as_ref() == written {
        delete_if_present(store, key).await?;
    }
    Ok(())
}

/// Why files in the target do not match what a manifest says.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct Mismatch {
    pub key: String,
    pub reason: String,
    /// The file's ETag is no longer the one this attempt's own write got:
    /// another writer (a second delivery of the job) wrote it since.
    pub replaced: bool,
}

/// The ETags this attempt's own writes got back, by target key.
pub type Written = BTreeMap<String, String>;

/// Every file of `manifest` is in the target with its size; small files also
/// with their sha256 when `rehash` is set; an encrypted file's last chunk
/// opens with the key the manifest names (`keyring`: the target region's).
pub async fn files_landed(
    store: &dyn ObjectStore,
    manifest: &Manifest,
    rehash: bool,
    keyring: Option<&Keyring>,
) -> Result<Result<(), Mismatch>, object_store::Error> {
    landed(store, manifest, rehash, keyring, &Written::new()).await
}

/// As `files_landed` (without rehash) for the files this attempt just
/// wrote: an encrypted file whose ETag is still the one its own PUT got is
/// the ciphertext this attempt sealed, so its last chunk is not read back
/// (another delivery's ciphertext, under another key, has another ETag).
pub async fn own_files_landed(
    store: &dyn ObjectStore,
    manifest: &Manifest,
    keyring: Option<&Keyring>,
    written: &Written,
) -> Result<Result<(), Mismatch>, object_store::Error> {
    landed(store, manifest, false, keyring, written).await
}

async fn landed(
    store: &dyn ObjectStore,
    manifest: &Manifest,
    rehash: bool,
    keyring: Option<&Keyring>,
    written: &Written,
) -> Result<Result<(), Mismatch>, object_store::Error> {
    for (index, f) in manifest.files.iter().enumerate() {
        let location = Path::from(f.key.as_str());
        let meta = match store.head(&location).await {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => {
                return Ok(Err(Mismatch {
                    key: f.key.clone(),
                    reason: "missing in the target".into(),
                    replaced: false,
                }))
            }
            Err(e) => return Err(e),
        };
        // An encrypted file is its ciphertext in the target; its chunks'
        // tags, not a rehash, vouch for its bytes (all checked on restore,
        // the last one here: it proves the key the manifest names).
        let (ours, replaced) = match (written.get(&f.key), &meta.e_tag) {
            (Some(put), Some(now)) => (put == now, put != now),
            _ => (false, false),
        };
        let mismatch = |reason: String| Mismatch {
            key: f.key.clone(),
            reason,
            replaced,
        };
        if meta.size as u64 != f.stored_size() {
            return Ok(Err(mismatch(format!(
                "{} bytes in the target, {} expected",
                meta.size,
                f.stored_size()
            ))));
        }
        if let (Some(record), false) = (&f.encryption, ours) {
            let opened = last_chunk_opens(store, manifest, index, f, record, keyring).await?;
            if let Err(reason) = opened {
                return Ok(Err(mismatch(reason)));
            }
        }
        if rehash && f.encryption.is_none() && f.size <= REHASH_LIMIT {
            let bytes = store.get(&location).await?.bytes().await?;
            let got = hex::encode(Sha256::digest(&bytes));
            if got != f.sha256 {
                return Ok(Err(mismatch(format!(
                    "sha256 {got} in the target, {} expected",
                    f.sha256
                ))));
            }
        }
    }
    Ok(Ok(()))
}

/// What an earlier delivery left at a backup's manifest key.
#[derive(Debug)]
pub enum Committed {
    Absent,
    /// The manifest lists the job's files and each is in the target.
    Sound(Manifest),
    /// Unreadable, or a file is missing or differs: copy again over it.
    Damaged(String),
    /// A manifest of other files than the job's backup: left alone.
    Differs(String),
}

/// The files of a manifest by what they are a copy of, not where they lie,
/// so a copy made under an older layout still counts.
fn sources(m: &Manifest) -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = m
        .files
        .iter()
        .map(|f| (f.source_key.clone(), f.size, f.sha256.clone()))
        .collect();
    v.sort();
    v
}

/// Is the committed manifest at `key` the copy this job asks for, with its
/// files in place?
#[cfg(test)]
pub async fn committed_copy(
    store: &dyn ObjectStore,
    key: &str,
    wanted: &Manifest,
    keyring: Option<&Keyring>,
) -> Result<Committed, object_store::Error> {
    let found = read_committed(store, key).await?;
    judge_committed(store, key, found, wanted, keyring).await
}

/// What lies at a backup's manifest key, read (bounded) but not judged:
/// the first step of `committed_copy`, which a transfer takes while it
/// asks the catalog about the job.
pub async fn read_committed(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Small, object_store::Error> {
    read_small(store, key, MAX_MANIFEST_BYTES).await
}

/// The rest of `committed_copy`: `found` (what `read_committed` read at
/// `key`) against the copy the job asks for, its files checked in `store`.
pub async fn judge_committed(
    store: &dyn ObjectStore,
    key: &str,
    found: Small,
    wanted: &Manifest,
    keyring: Option<&Keyring>,
) -> Result<Committed, object_store::Error> {
    let bytes = match found {
        Small::Read(bytes) => bytes,
        Small::Absent => return Ok(Committed::Absent),
        Small::TooLarge(size) => {
            return Ok(Committed::Damaged(format!(
                "{key}: {size} bytes, more than a manifest can be"
            )))
        }
    };
    let committed = match Manifest::from_json(&bytes) {
        Ok(m) => m,
        Err(e) => {
            return Ok(Committed::Damaged(format!(
                "{key}: unreadable manifest: {e}"
            )))
        }
    };
    if committed.backup_id != wanted.backup_id
        || committed.service_id != wanted.service_id
        || sources(&committed) != sources(wanted)
    {
        return Ok(Committed::Differs(format!(
            "{key} lists other files than backup {} has now; the committed copy is left as it is",
            wanted.backup_id
        )));
    }
    Ok(
        match files_landed(store, &committed, true, keyring).await? {
            Ok(()) => Committed::Sound(committed),
            Err(mismatch) => Committed::Damaged(mismatch.to_string()),
        },
    )
}

/// Removes the copy of a service the catalog no longer has live: its
/// manifest first, then its files and marker, and `service.json` (a purge
/// may have run while the copy did).
pub async fn remove_copy(
    store: &dyn ObjectStore,
    prefix: &str,
    manifest: &Manifest,
) -> Result<(), object_store::Error> {
    delete_if_present(store, &layout::manifest_key(prefix, &manifest.backup_id)).await?;
    for f in &manifest.files {
        delete_if_present(store, &f.key).await?;
    }
    crate::marker::clear(store, prefix, &manifest.backup_id).await?;
    delete_if_present(store, &layout::service_descriptor_key(prefix)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use xregion_domain::encryption::FileEncryption;
    use xregion_domain::manifest::ManifestFile;

    fn manifest(files: &[(&str, &[u8])]) -> Manifest {
        let json = serde_json::json!({
            "format": 1, "service_id": "svc-1", "tenant_id": "t", "instance_id": "i",
            "engine": "mysql", "backup_id": "b", "kind": "full", "data_start": 0,
            "data_end": 1, "position": {"engine": "mysql", "file_number": 1, "offset": 4},
            "files": [], "synced_at": 0
        });
        let mut m: Manifest = serde_json::from_value(json).unwrap();
        m.files = files
            .iter()
            .map(|(key, body)| ManifestFile {
                key: key.to_string(),
                source_key: key.to_string(),
                size: body.len() as u64,
                sha256: hex::encode(Sha256::digest(body)),
                encryption: None,
            })
            .collect();
        m
    }

    #[tokio::test]
    async fn a_committed_copy_is_checked_against_the_target() {
        let store = InMemory::new();
        let m = manifest(&[
            ("t/i/svc-1/backups/b/f1", b"one"),
            ("t/i/svc-1/backups/b/f2", b"two"),
        ]);
        let key = "t/i/svc-1/manifests/b.json";
        let check = |wanted: Manifest| {
            let store = &store;
            async move { committed_copy(store, key, &wanted, None).await.unwrap() }
        };
        assert!(matches!(check(m.clone()).await, Committed::Absent));
        store
            .put(&Path::from(key), m.to_json().into())
            .await
            .unwrap();
        put(&store, "t/i/svc-1/backups/b/f1", b"one").await;
        // f2 missing, then with other bytes of the same size, then right.
        let Committed::Damaged(e) = check(m.clone()).await else {
            panic!("missing file not seen")
        };
        assert!(e.contains("f2"), "{e}");
        put(&store, "t/i/svc-1/backups/b/f2", b"TWO").await;
        let Committed::Damaged(e) = check(m.clone()).await else {
            panic!("changed file not seen")
        };
        assert!(e.contains("sha256"), "{e}");
        put(&store, "t/i/svc-1/backups/b/f2", b"two").await;
        assert!(matches!(check(m.clone()).await, Committed::Sound(_)));
        // The backup now lists other files: the committed copy stays.
        let other = manifest(&[("t/i/svc-1/backups/b/f1", b"one")]);
        assert!(matches!(check(other).await, Committed::Differs(_)));
        // Removing leaves nothing of the copy.
        remove_copy(&store, "t/i/svc-1", &m).await.unwrap();
        assert!(files_landed(&store, &m, false, None)
            .await
            .unwrap()
            .is_err());
        assert!(matches!(check(m).await, Committed::Absent));
    }

    /// A keyring whose current key is k1.
    fn ring_k1() -> Keyring {
        let kek = xregion_crypt::LocalKey::new("k1", [3; 32]).unwrap();
        Keyring::new(Some(std::sync::Arc::new(kek)), vec![]).unwrap()
    }

    /// `data` sealed as file 0 of `m` under a fresh data key of `ring`,
    /// stored at its key; the manifest with the record.
    async fn seal_into(store: &InMemory, ring: &Keyring, m: &Manifest, data: &[u8]) -> Manifest {
        let sealing = crate::seal::Sealing::fresh(Some(ring), "t/i/svc-1", "b")
            .unwrap()
            .unwrap();
        let file = crate::strategy::FileCopy::of(&m.files[0])
            .encrypted(Some(&sealing), 0)
            .unwrap();
        let seal = file
            .encrypt
            .as_ref()
            .unwrap()
            .fresh(data.len() as u64)
            .unwrap();
        put(
            store,
            &file.target_key,
            &seal.cipher.seal_range(0, data).unwrap(),
        )
        .await;
        sealing.apply(m).unwrap()
    }

    #[tokio::test]
    async fn an_encrypted_file_must_open_with_the_key_its_manifest_names() {
        let ring = ring_k1();
        let store = InMemory::new();
        let data = vec![7u8; 3 * 1024 * 1024 + 5];
        let m = manifest(&[("t/i/svc-1/backups/b/f1", &data)]);
        let first = seal_into(&store, &ring, &m, &data).await;
        let landed = |m: Manifest| {
            let (store, ring) = (&store, &ring);
            async move { files_landed(store, &m, true, Some(ring)).await.unwrap() }
        };
        landed(first.clone()).await.unwrap();
        // Another delivery sealed the same bytes under its own key: same
        // size, but the first manifest's key no longer opens the object.
        let second = seal_into(&store, &ring, &m, &data).await;
        assert_eq!(first.files[0].stored_size(), second.files[0].stored_size());
        let e = landed(first.clone()).await.unwrap_err();
        assert!(e.reason.contains("does not open"), "{e}");
        landed(second.clone()).await.unwrap();
        // Without the region's keys an encrypted copy cannot be vouched for.
        assert!(files_landed(&store, &second, true, None)
            .await
            .unwrap()
            .is_err());
        // A committed manifest naming a stale key is Damaged, not Sound.
        let key = "t/i/svc-1/manifests/b.json";
        put(&store, key, &first.to_json()).await;
        let got = committed_copy(&store, key, &m, Some(&ring)).await.unwrap();
        assert!(matches!(got, Committed::Damaged(_)), "{got:?}");
        put(&store, key, &second.to_json()).await;
        let got = committed_copy(&store, key, &m, Some(&ring)).await.unwrap();
        assert!(matches!(got, Committed::Sound(_)), "{got:?}");
    }

    /// A manifest read back from the store is untrusted: each way its
    /// encryption record can be wrong is refused with a reason, never a
    /// panic, and never vouched for.
    #[tokio::test]
    async fn a_malformed_encryption_record_is_refused_with_a_reason() {
        let ring = ring_k1();
        let store = InMemory::new();
        let data = vec![9u8; 2 * 1024 * 1024 + 3];
        let m = manifest(&[("t/i/svc-1/backups/b/f1", &data)]);
        let good = seal_into(&store, &ring, &m, &data).await;
        let elsewhere = seal_into(&InMemory::new(), &ring, &m, &data).await;
        let other_key = elsewhere.files[0].encryption.clone().unwrap().wrapped_key;
        type Spoil = Box<dyn Fn(&mut FileEncryption)>;
        let spoilers: Vec<(&str, Spoil)> = vec![
            ("algorithm", Box::new(|e| e.algorithm = "rot13".into())),
            ("key id", Box::new(|e| e.key_id = "../k1".into())),
            ("k2", Box::new(|e| e.key_id = "k2".into())),
            ("wrapped key", Box::new(|e| e.wrapped_key = "AAAA".into())),
            (
                "does not open",
                Box::new(move |e| e.wrapped_key = other_key.clone()),
            ),
            ("chunk size", Box::new(|e| e.chunk_size = 0)),
            ("chunk size", Box::new(|e| e.chunk_size = u64::MAX)),
            ("stored size", Box::new(|e| e.stored_size += 1)),
            ("stored size", Box::new(|e| e.stored_size = u64::MAX)),
        ];
        for (why, spoil) in spoilers {
            let mut bad = good.clone();
            spoil(bad.files[0].encryption.as_mut().unwrap());
            let landed = files_landed(&store, &bad, true, Some(&ring)).await.unwrap();
            let record = bad.files[0].encryption.as_ref().unwrap();
            let opened = last_chunk_opens(&store, &bad, 0, &bad.files[0], record, Some(&ring));
            let opened = opened.await.unwrap().expect_err(why);
            let landed = landed.expect_err(why).reason;
            assert!(
                opened.contains(why),
                "{why}: {opened} (files_landed: {landed})"
            );
        }
        let record = good.files[0].encryption.clone().unwrap();
        let far = last_chunk_opens(
            &store,
            &good,
            usize::MAX,
            &good.files[0],
            &record,
            Some(&ring),
        );
        assert!(far.await.unwrap().unwrap_err().contains("out of range"));
        files_landed(&store, &good, true, Some(&ring))
            .await
            .unwrap()
            .unwrap();
    }

    /// A file whose ETag is still the one this attempt's PUT got is its own
    /// ciphertext: its last chunk is not read back. Once another write
    /// replaced it, the chunk is opened again and the stale key is caught.
    #[tokio::test]
    async fn an_own_encrypted_write_is_known_by_its_etag() {
        let ring = ring_k1();
        let store = InMemory::new();
        let data = vec![5u8; 1024 * 1024 + 9];
        let m = manifest(&[("t/i/svc-1/backups/b/f1", &data)]);
        let first = seal_into(&store, &ring, &m, &data).await;
        let key = first.files[0].key.clone();
        let put = store.head(&Path::from(key.as_str())).await.unwrap();
        let ours = Written::from([(key.clone(), put.e_tag.unwrap())]);
        own_files_landed(&store, &first, Some(&ring), &ours)
            .await
            .unwrap()
            .unwrap();
        // Trusted without opening: even with no keys at hand.
        own_files_landed(&store, &first, None, &ours)
            .await
            .unwrap()
            .unwrap();
        // Another delivery sealed it again under its own key.
        seal_into(&store, &ring, &m, &data).await;
        let e = own_files_landed(&store, &first, Some(&ring), &ours)
            .await
            .unwrap()
            .unwrap_err();
        assert!(e.reason.contains("does not open"), "{e}");
        assert!(e.replaced, "another writer's ETag: a rewrite, not a loss");
        let nothing = Written::new();
        let none = own_files_landed(&store, &first, Some(&ring), &nothing);
        let e = none.await.unwrap().unwrap_err();
        assert!(!e.replaced, "nothing written: opened, and no writer known");
        // Gone since this attempt wrote it: a loss, not a rewrite.
        store.delete(&Path::from(key.as_str())).await.unwrap();
        let e = own_files_landed(&store, &first, Some(&ring), &ours)
            .await
            .unwrap()
            .unwrap_err();
        assert!(!e.replaced && e.reason.contains("missing"), "{e}");
    }

    /// A manifest whose files did not check out is taken back only while
    /// it is the one this attempt wrote.
    #[tokio::test]
    async fn only_the_attempts_own_manifest_is_withdrawn() {
        let store = InMemory::new();
        let key = "t/i/svc-1/manifests/b.json";
        withdraw_manifest(&store, key, b"ours").await.unwrap();
        put(&store, key, b"theirs").await;
        withdraw_manifest(&store, key, b"ours").await.unwrap();
        assert!(store.head(&Path::from(key)).await.is_ok(), "another's kept");
        put(&store, key, b"ours").await;
        withdraw_manifest(&store, key, b"ours").await.unwrap();
        assert!(
            store.head(&Path::from(key)).await.is_err(),
            "ours taken back"
        );
    }

    async fn put(store: &InMemory, key: &str, body: &[u8]) {
        store
            .put(&Path::from(key), body.to_vec().into())
            .await
            .unwrap();
    }
}
