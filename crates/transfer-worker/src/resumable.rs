//! Large files into S3: parts read from the source with ranged reads, in
//! parallel but hashed in order, uploaded as multipart parts in parallel, and
//! the upload id with the completed parts kept in the uploads bucket after
//! each part, so a redelivered job resumes after the last completed part
//! instead of starting again. Memory: at most `parts_in_flight` parts being
//! uploaded plus half as many being read ahead.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_nats::jetstream::kv::Store;
use futures::StreamExt;
use object_store::multipart::PartId;
use object_store::path::Path;
use object_store::ObjectStore;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use xregion_common::regions::Multipart;
use xregion_domain::parts::{part_count, part_range, UploadState};

use crate::copy::{check_copied, CopyError};
use crate::throttle::Bucket;

pub struct ResumableSpec<'a> {
    pub source: &'a Arc<dyn ObjectStore>,
    pub source_key: &'a str,
    pub target: &'a Multipart,
    pub target_region: &'a str,
    pub target_key: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    pub part_size: u64,
    pub parts_in_flight: usize,
    pub throttle: Arc<Bucket>,
    pub uploads: &'a Store,
    pub state_key: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resumed {
    pub parts_uploaded: u64,
    pub parts_reused: u64,
}

async fn load(uploads: &Store, key: &str) -> Option<UploadState> {
    let bytes = uploads.get(key).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

async fn save(uploads: &Store, key: &str, state: &UploadState) -> Result<(), CopyError> {
    let body = serde_json::to_vec(state).unwrap_or_default();
    uploads
        .put(key, body.into())
        .await
        .map_err(|e| CopyError::State(e.to_string()))?;
    Ok(())
}

pub async fn copy_resumable(
    spec: ResumableSpec<'_>,
    on_bytes: impl Fn(u64),
) -> Result<Resumed, CopyError> {
    let target_path = spec.target.path(spec.target_key);
    let mp = spec.target.store().clone();
    let n = part_count(spec.size, spec.part_size);
    let mut state = match load(spec.uploads, &spec.state_key).await {
        Some(s)
            if s.size == spec.size
                && s.part_size == spec.part_size
                && s.target_key == spec.target_key =>
        {
            s
        }
        other => {
            if let Some(stale) = other {
                let _ = mp
                    .abort_multipart(&spec.target.path(&stale.target_key), &stale.upload_id)
                    .await;
            }
            let upload_id = mp.create_multipart(&target_path).await?;
            let s = UploadState {
                upload_id,
                target_region: spec.target_region.to_string(),
                target_key: spec.target_key.to_string(),
                size: spec.size,
                part_size: spec.part_size,
                parts: Vec::new(),
                started_at_ms: now_ms(),
                updated_at_ms: now_ms(),
            };
            save(spec.uploads, &spec.state_key, &s).await?;
            s
        }
    };
    let source_path = Path::from(spec.source_key);
    let fetch = |i: u64| {
        let source = spec.source.clone();
        let path = source_path.clone();
        let range = part_range(spec.size, spec.part_size, i);
        async move {
            match source
                .get_range(&path, range.start as usize..range.end as usize)
                .await
            {
                Ok(b) => Ok((i, b)),
                Err(object_store::Error::NotFound { .. }) => {
                    Err(CopyError::Missing(path.to_string()))
                }
                Err(e) => Err(e.into()),
            }
        }
    };
    let mut hasher = Sha256::new();
    let mut seen: u64 = 0;
    let reused = state.parts.len() as u64;
    // Completed parts are read again (same region, cheap) only to hash them.
    let mut done_parts = futures::stream::iter(0..reused)
        .map(fetch)
        .buffered(spec.parts_in_flight.max(1));
    while let Some(part) = done_parts.next().await {
        let (_, data) = part?;
        hasher.update(&data);
        seen += data.len() as u64;
        on_bytes(data.len() as u64);
    }
    let mut completed: BTreeMap<u64, PartId> = BTreeMap::new();
    let mut uploads = JoinSet::new();
    let mut uploaded = 0;
    // A part read must wait for an upload slot anyway; reading further
    // ahead than half the slots only holds memory.
    let read_ahead = (spec.parts_in_flight / 2).max(1);
    let mut reads = futures::stream::iter(reused..n)
        .map(fetch)
        .buffered(read_ahead);
    while let Some(part) = reads.next().await {
        let (i, data) = part?;
        hasher.update(&data);
        seen += data.len() as u64;
        // Progress counts what passed the bandwidth limit.
        spec.throttle.acquire(data.len() as u64).await;
        on_bytes(data.len() as u64);
        // A sliding window over the recorded prefix, not just a count in
        // flight: at most `parts_in_flight` parts are ever unrecorded, so a
        // crash sends at most that many again.
        let window = spec.parts_in_flight.max(1) as u64;
        while !uploads.is_empty()
            && (uploads.len() as u64 >= window || i >= state.parts.len() as u64 + window)
        {
            settle_one(
                &mut uploads,
                &mut completed,
                &mut state,
                spec.uploads,
                &spec.state_key,
            )
            .await?;
        }
        let (mp, path, id, len) = (
            mp.clone(),
            target_path.clone(),
            state.upload_id.clone(),
            data.len() as u64,
        );
        uploads.spawn(async move {
            mp.put_part(&path, &id, i as usize, data.into())
                .await
                .map(|p| (i, p, len))
        });
        uploaded += 1;
        metrics::counter!("xregion_transfer_parts_uploaded_total").increment(1);
    }
    while !uploads.is_empty() {
        settle_one(
            &mut uploads,
            &mut completed,
            &mut state,
            spec.uploads,
            &spec.state_key,
        )
        .await?;
    }
    let actual = hex::encode(hasher.finalize());
    if let Err(mismatch) = check_copied(spec.source_key, (spec.size, spec.sha256), seen, actual) {
        let _ = mp.abort_multipart(&target_path, &state.upload_id).await;
        let _ = spec.uploads.delete(&spec.state_key).await;
        return Err(mismatch);
    }
    let parts = state
        .parts
        .iter()
        .map(|c| PartId {
            content_id: c.clone(),
        })
        .collect();
    mp.complete_multipart(&target_path, &state.upload_id, parts)
        .await?;
    let _ = spec.uploads.delete(&spec.state_key).await;
    metrics::counter!("xregion_transfer_parts_reused_total").increment(reused);
    Ok(Resumed {
        parts_uploaded: uploaded,
        parts_reused: reused,
    })
}

/// Waits for one upload; records the contiguous prefix of completed parts.
async fn settle_one(
    uploads: &mut JoinSet<object_store::Result<(u64, PartId, u64)>>,
    completed: &mut BTreeMap<u64, PartId>,
    state: &mut UploadState,
    store: &Store,
    key: &str,
) -> Result<(), CopyError> {
    let Some(joined) = uploads.join_next().await else {
        return Ok(());
    };
    let (i, part, _len) = joined.map_err(|e| CopyError::State(e.to_string()))??;
    completed.insert(i, part);
    let before = state.parts.len();
    while let Some(p) = completed.remove(&(state.parts.len() as u64)) {
        state.parts.push(p.content_id);
    }
    if state.parts.len() > before {
        state.updated_at_ms = now_ms();
        save(store, key, state).await?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Aborts a recorded upload and forgets it (a copy that will not resume).
pub async fn discard(uploads: &Store, target: Option<&Multipart>, key: &str) {
    if let Some(state) = load(uploads, key).await {
        if let Some(mp) = target {
            let _ = mp
                .store()
                .abort_multipart(&mp.path(&state.target_key), &state.upload_id)
                .await;
        }
    }
    let _ = uploads.delete(key).await;
}
