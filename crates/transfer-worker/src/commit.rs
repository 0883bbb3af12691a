//! The edges of a copy in the target store: the in-progress marker that keeps
//! the orphan sweep off a copy still running, the check that every file
//! landed before the manifest (the commit marker) is written, the check of
//! an already committed copy before it is announced again, and removing a
//! copy whose service was deleted meanwhile.

use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use xregion_domain::layout;
use xregion_domain::manifest::Manifest;

/// Files up to this size are hashed again when a committed copy is checked;
/// larger ones are checked by size.
const REHASH_LIMIT: u64 = 16 * 1024 * 1024;

async fn delete(store: &dyn ObjectStore, key: &str) -> Result<(), object_store::Error> {
    match store.delete(&Path::from(key)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Written when a copy starts and on every heartbeat.
pub async fn mark_in_progress(
    store: &dyn ObjectStore,
    prefix: &str,
    backup_id: &str,
    now_ms: i64,
) -> Result<(), object_store::Error> {
    let body = format!("{{\"backup_id\":\"{backup_id}\",\"at\":{now_ms}}}");
    store
        .put(
            &Path::from(layout::in_progress_key(prefix, backup_id)),
            PutPayload::from(body.into_bytes()),
        )
        .await
        .map(|_| ())
}

pub async fn clear_in_progress(
    store: &dyn ObjectStore,
    prefix: &str,
    backup_id: &str,
) -> Result<(), object_store::Error> {
    delete(store, &layout::in_progress_key(prefix, backup_id)).await
}

/// Why files in the target do not match what a manifest says.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct Mismatch {
    pub key: String,
    pub reason: String,
}

/// Every file of `manifest` is in the target with its size; small files also
/// with their sha256 when `rehash` is set.
pub async fn files_landed(
    store: &dyn ObjectStore,
    manifest: &Manifest,
    rehash: bool,
) -> Result<Result<(), Mismatch>, object_store::Error> {
    for f in &manifest.files {
        let location = Path::from(f.key.as_str());
        let meta = match store.head(&location).await {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => {
                return Ok(Err(Mismatch {
                    key: f.key.clone(),
                    reason: "missing in the target".into(),
                }))
            }
            Err(e) => return Err(e),
        };
        if meta.size as u64 != f.size {
            return Ok(Err(Mismatch {
                key: f.key.clone(),
                reason: format!("{} bytes in the target, {} expected", meta.size, f.size),
            }));
        }
        if rehash && f.size <= REHASH_LIMIT {
            let bytes = store.get(&location).await?.bytes().await?;
            let got = hex::encode(Sha256::digest(&bytes));
            if got != f.sha256 {
                return Ok(Err(Mismatch {
                    key: f.key.clone(),
                    reason: format!("sha256 {got} in the target, {} expected", f.sha256),
                }));
            }
        }
    }
    Ok(Ok(()))
}

/// Is the committed manifest the copy this job asks for, with its files in
/// place? Compares the file list with the job's and checks the target.
pub async fn committed_copy_is_sound(
    store: &dyn ObjectStore,
    committed: &Manifest,
    wanted: &Manifest,
) -> Result<Result<(), Mismatch>, object_store::Error> {
    let same = |m: &Manifest| -> Vec<(String, u64, String)> {
        m.files
            .iter()
            .map(|f| (f.key.clone(), f.size, f.sha256.clone()))
            .collect()
    };
    if committed.backup_id != wanted.backup_id
        || committed.service_id != wanted.service_id
        || same(committed) != same(wanted)
    {
        return Ok(Err(Mismatch {
            key: layout::manifest_key(
                &layout::service_prefix(&wanted.tenant_id, &wanted.instance_id, &wanted.service_id),
                &wanted.backup_id,
            ),
            reason: "the committed manifest lists other files than the backup has".into(),
        }));
    }
    files_landed(store, committed, true).await
}

/// Removes the copy of a service the catalog no longer has live: its
/// manifest first, then its files and marker, and `service.json` (a purge
/// may have run while the copy did).
pub async fn remove_copy(
    store: &dyn ObjectStore,
    prefix: &str,
    manifest: &Manifest,
) -> Result<(), object_store::Error> {
    delete(store, &layout::manifest_key(prefix, &manifest.backup_id)).await?;
    for f in &manifest.files {
        delete(store, &f.key).await?;
    }
    clear_in_progress(store, prefix, &manifest.backup_id).await?;
    delete(store, &layout::service_descriptor_key(prefix)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
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
        store
            .put(
                &Path::from("t/i/svc-1/backups/b/f1"),
                b"one".to_vec().into(),
            )
            .await
            .unwrap();
        // f2 missing.
        let e = committed_copy_is_sound(&store, &m, &m)
            .await
            .unwrap()
            .unwrap_err();
        assert!(e.key.ends_with("f2"), "{e}");
        // f2 with other bytes of the same size.
        store
            .put(
                &Path::from("t/i/svc-1/backups/b/f2"),
                b"TWO".to_vec().into(),
            )
            .await
            .unwrap();
        let e = committed_copy_is_sound(&store, &m, &m)
            .await
            .unwrap()
            .unwrap_err();
        assert!(e.reason.contains("sha256"), "{e}");
        store
            .put(
                &Path::from("t/i/svc-1/backups/b/f2"),
                b"two".to_vec().into(),
            )
            .await
            .unwrap();
        assert!(committed_copy_is_sound(&store, &m, &m)
            .await
            .unwrap()
            .is_ok());
        // The job's backup has other files than the committed manifest.
        let other = manifest(&[("t/i/svc-1/backups/b/f1", b"one")]);
        assert!(committed_copy_is_sound(&store, &m, &other)
            .await
            .unwrap()
            .is_err());
        // Removing leaves nothing of the copy.
        remove_copy(&store, "t/i/svc-1", &m).await.unwrap();
        assert!(files_landed(&store, &m, false).await.unwrap().is_err());
    }
}
