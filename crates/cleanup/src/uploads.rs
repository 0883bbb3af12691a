//! Stale multipart uploads: an upload recorded in the uploads bucket that
//! made no progress for the grace period belongs to a transfer that will not
//! resume it (its job was dropped or dead-lettered). It is aborted in its
//! target region, so the store frees its parts, and forgotten.

use async_nats::jetstream::kv::Store;
use futures::StreamExt;
use xregion_common::Regions;
use xregion_domain::parts::UploadState;

/// Aborts uploads idle since before `idle_before_ms`; returns how many.
pub async fn abort_stale(
    uploads: &Store,
    regions: &Regions,
    idle_before_ms: i64,
) -> Result<u64, String> {
    abort_where(uploads, regions, |_, state| {
        state.updated_at_ms <= idle_before_ms
    })
    .await
}

/// Aborts every upload of a deleted service (keys `<service>.<backup>.<file>`).
pub async fn abort_for_service(
    uploads: &Store,
    regions: &Regions,
    service_id: &str,
) -> Result<u64, String> {
    let prefix = format!("{service_id}.");
    abort_where(uploads, regions, |key, _| key.starts_with(&prefix)).await
}

async fn abort_where(
    uploads: &Store,
    regions: &Regions,
    pred: impl Fn(&str, &UploadState) -> bool,
) -> Result<u64, String> {
    let mut keys = uploads.keys().await.map_err(|e| e.to_string())?;
    let mut aborted = 0;
    while let Some(key) = keys.next().await {
        let Ok(key) = key else { continue };
        let Ok(Some(bytes)) = uploads.get(&key).await else {
            continue;
        };
        let Ok(state) = serde_json::from_slice::<UploadState>(&bytes) else {
            tracing::warn!(key, "unreadable upload state removed");
            let _ = uploads.delete(&key).await;
            continue;
        };
        if !pred(&key, &state) {
            continue;
        }
        if let Some(mp) = regions.multipart(&state.target_region) {
            match mp
                .store()
                .abort_multipart(&mp.path(&state.target_key), &state.upload_id)
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        uploads.delete(&key).await.map_err(|e| e.to_string())?;
        tracing::info!(key, target = %state.target_key, "upload aborted");
        aborted += 1;
    }
    Ok(aborted)
}
