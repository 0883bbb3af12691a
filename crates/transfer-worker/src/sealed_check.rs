//! Does an encrypted file in the target open with the key its manifest
//! names? The size check alone cannot tell: two deliveries of one job, or a
//! damaged copy made again under a new key while the old manifest stays,
//! leave objects of the right size sealed under another key. Opening the
//! file's last chunk (one ranged GET) proves the key, the file's place (its
//! target key and index are in the chunk's AAD and nonce) and its end.

use object_store::path::Path;
use object_store::ObjectStore;
use xregion_crypt::{FileCipher, Keyring, WrappedKey};
use xregion_domain::encryption::{key_context, FileEncryption};
use xregion_domain::layout::service_prefix;
use xregion_domain::manifest::{Manifest, ManifestFile};

/// `Ok(Err(reason))` when file `index` of `manifest`, sealed as `record`
/// says, does not open; `Err` only when the store could not be asked.
pub async fn last_chunk_opens(
    store: &dyn ObjectStore,
    manifest: &Manifest,
    index: usize,
    file: &ManifestFile,
    record: &FileEncryption,
    keyring: Option<&Keyring>,
) -> Result<Result<(), String>, object_store::Error> {
    // A record read back from the store is untrusted: bounds first.
    if let Err(reason) = record.validate(file.size) {
        return Ok(Err(reason));
    }
    let Some(ring) = keyring else {
        return Ok(Err(format!(
            "sealed under {:?} but the target region has no keys",
            record.key_id
        )));
    };
    let Ok(index) = u32::try_from(index) else {
        return Ok(Err(format!("file index {index} is out of range")));
    };
    let prefix = service_prefix(
        &manifest.tenant_id,
        &manifest.instance_id,
        &manifest.service_id,
    );
    let context = key_context(&prefix, &manifest.backup_id);
    let key = match WrappedKey::from_base64(&record.key_id, &record.wrapped_key)
        .and_then(|w| ring.unwrap_key(&w, &context))
    {
        Ok(k) => k,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let cipher = FileCipher::new(&key, index, &file.key, record.chunk_size, file.size);
    let last = cipher.chunks().saturating_sub(1);
    let (start, end) = (cipher.stored_offset(last), record.stored_size);
    let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
        return Ok(Err("stored size out of range".into()));
    };
    if start >= end {
        return Ok(Err("stored size out of range".into()));
    }
    let sealed = store
        .get_range(&Path::from(file.key.as_str()), start..end)
        .await?;
    let tail = file
        .size
        .saturating_sub(last.saturating_mul(record.chunk_size));
    Ok(match cipher.open_range(last, &sealed, tail) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "its last chunk does not open with the key {:?} the manifest names: {e}",
            record.key_id
        )),
    })
}
