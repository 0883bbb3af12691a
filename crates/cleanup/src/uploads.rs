//! Stale multipart uploads: an upload recorded in the uploads bucket that
//! made no progress for the grace period belongs to a transfer that will not
//! resume it (its job was dropped or dead-lettered). It is aborted in its
//! target region, so the store frees its parts, and forgotten.

use async_nats::jetstream::kv::Store;
use futures::StreamExt;
use xregion_bus::{BusError, UploadsBucket};
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

/// Aborts every upload of a deleted service.
pub async fn abort_for_service(
    uploads: &Store,
    regions: &Regions,
    service_id: &str,
) -> Result<u64, String> {
    abort_where(uploads, regions, |key, _| {
        UploadsBucket::is_of_service(key, service_id)
    })
    .await
}

async fn abort_where(
    uploads: &Store,
    regions: &Regions,
    pred: impl Fn(&str, &UploadState) -> bool,
) -> Result<u64, String> {
    let bucket = UploadsBucket::new(uploads.clone());
    let mut keys = std::pin::pin!(bucket.keys().await.map_err(|e| e.to_string())?);
    let mut aborted = 0;
    while let Some(key) = keys.next().await {
        let state = match bucket.load(&key).await {
            Ok(Some(state)) => state,
            Err(BusError::Decode { reason, .. }) => {
                // Nothing it names is aborted: it may name anyone's upload.
                tracing::warn!(key, reason, "unreadable upload state removed");
                let _ = bucket.forget(&key).await;
                continue;
            }
            // Gone since it was listed, or not readable now: next sweep.
            Ok(None) | Err(_) => continue,
        };
        if !pred(&key, &state) {
            continue;
        }
        let target = regions.multipart(&state.target_region);
        bucket
            .abort(&key, &state, target.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(key, target = %state.target_key, "upload aborted");
        aborted += 1;
    }
    Ok(aborted)
}
