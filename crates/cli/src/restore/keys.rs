//! Keys for restoring encrypted copies (`--key-file ID=PATH`, `--key-env
//! ID=VAR`, repeatable): each encrypted file's data key is unwrapped before
//! anything is downloaded, so a missing or wrong key stops the restore at
//! once, naming its key id, with nothing written.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use xregion_crypt::{env_key, file_key, DataKey, FileCipher, KeyProvider, Keyring, WrappedKey};
use xregion_domain::encryption::key_context;
use xregion_domain::layout::service_prefix;
use xregion_domain::manifest::{Manifest, PlanFile};

/// The keys given on the command line; none is "current": a restore only
/// unwraps.
pub fn keyring(files: &[(String, String)], envs: &[(String, String)]) -> anyhow::Result<Keyring> {
    let mut keys: Vec<Arc<dyn KeyProvider>> = Vec::new();
    for (id, path) in files {
        keys.push(Arc::new(file_key(id, Path::new(path))?));
    }
    for (id, var) in envs {
        keys.push(Arc::new(env_key(id, var)?));
    }
    Ok(Keyring::new(None, keys)?)
}

/// One cipher per file of the plan (`None` for a file stored in the
/// clear), its nonce's file index being the file's place in its manifest,
/// its key bound to the backup's service prefix and id. When keys were
/// given, a file without an encryption record is refused: a restore that
/// asked for decryption is never quietly downgraded to plaintext.
pub fn ciphers(
    ring: &Keyring,
    manifests: &[Manifest],
    files: &[PlanFile],
) -> anyhow::Result<Vec<Option<FileCipher>>> {
    // One unwrap per backup and wrapped key, not per file.
    let mut unwrapped: BTreeMap<(String, String), DataKey> = BTreeMap::new();
    files
        .iter()
        .map(|pf| {
            let Some(e) = &pf.file.encryption else {
                if !ring.is_empty() {
                    anyhow::bail!(
                        "backup {} file {} is stored unencrypted but keys were given; \
                         restore it without --key-file/--key-env if that is expected",
                        pf.backup_id,
                        pf.file.key
                    );
                }
                return Ok(None);
            };
            let (m, index) = manifests
                .iter()
                .find(|m| m.backup_id == pf.backup_id)
                .and_then(|m| {
                    let i = m.files.iter().position(|f| f.key == pf.file.key)?;
                    Some((m, u32::try_from(i).ok()?))
                })
                .ok_or_else(|| anyhow::anyhow!("{} is in no manifest", pf.file.key))?;
            let prefix = service_prefix(&m.tenant_id, &m.instance_id, &m.service_id);
            let context = key_context(&prefix, &m.backup_id);
            let cached = (context.clone(), e.wrapped_key.clone());
            let key = match unwrapped.get(&cached) {
                Some(k) => k.clone(),
                None => {
                    let wrapped = WrappedKey::from_base64(&e.key_id, &e.wrapped_key)?;
                    let k = ring.unwrap_key(&wrapped, &context).map_err(|err| {
                        anyhow::Error::new(err).context(format!(
                            "backup {} file {} is encrypted",
                            pf.backup_id, pf.file.key
                        ))
                    })?;
                    unwrapped.insert(cached, k.clone());
                    k
                }
            };
            Ok(Some(FileCipher::new(
                &key,
                index,
                &pf.file.key,
                e.chunk_size,
                pf.file.size,
            )))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use xregion_crypt::LocalKey;
    use xregion_domain::manifest::ManifestFile;

    fn manifest() -> Manifest {
        serde_json::from_value(serde_json::json!({
            "format": 1, "service_id": "svc-1", "tenant_id": "t", "instance_id": "i",
            "engine": "mysql", "backup_id": "b", "kind": "full", "data_start": 0,
            "data_end": 1, "position": {"engine": "mysql", "file_number": 1, "offset": 4},
            "files": [{"key": "t/i/svc-1/backups/b/f", "source_key": "f", "size": 3,
                       "sha256": "00"}],
            "synced_at": 0
        }))
        .unwrap()
    }

    #[test]
    fn keys_given_refuse_a_file_stored_in_the_clear() {
        let m = manifest();
        let file: ManifestFile = m.files[0].clone();
        let plan = [PlanFile {
            backup_id: "b".into(),
            kind: m.kind,
            file,
        }];
        let none = Keyring::default();
        assert!(ciphers(&none, std::slice::from_ref(&m), &plan).unwrap()[0].is_none());
        let k1: Arc<dyn KeyProvider> = Arc::new(LocalKey::new("k1", [1; 32]).unwrap());
        let ring = Keyring::new(None, vec![k1]).unwrap();
        let err = ciphers(&ring, &[m], &plan).unwrap_err().to_string();
        assert!(err.contains("unencrypted"), "{err}");
    }
}
