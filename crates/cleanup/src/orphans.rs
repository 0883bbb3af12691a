//! Orphans: objects under `<tenant>/<instance>/<service>/` that no live or
//! deleting service owns (leftovers of crashes, or a copy that finished after
//! its service was deleted), older than a grace period.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::ObjectStore;

/// Deletes orphans older than `older_than_ms`; returns how many.
pub async fn collect_orphans(
    store: &Arc<dyn ObjectStore>,
    owned: &BTreeSet<String>,
    older_than_ms: i64,
) -> Result<u64, object_store::Error> {
    let all: Vec<_> = store.list(None).try_collect().await?;
    let mut removed = 0;
    for meta in all {
        let key = meta.location.as_ref();
        let Some(service) = key.split('/').nth(2) else {
            continue;
        };
        if !service.starts_with("svc-") || owned.contains(service) {
            continue;
        }
        if meta.last_modified.timestamp_millis() > older_than_ms {
            continue;
        }
        match store.delete(&meta.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => removed += 1,
            Err(e) => return Err(e),
        }
        tracing::info!(key, "orphan removed");
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::path::Path;

    #[tokio::test]
    async fn removes_only_unowned_old_objects() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for key in [
            "t/i/svc-live/service.json",
            "t/i/svc-gone/backups/b/f",
            "t/i/svc-gone/service.json",
            "unrelated/file",
        ] {
            store
                .put(&Path::from(key), b"x".to_vec().into())
                .await
                .unwrap();
        }
        let owned: BTreeSet<String> = ["svc-live".to_string()].into();
        // Too young: kept.
        assert_eq!(collect_orphans(&store, &owned, 0).await.unwrap(), 0);
        let later = chrono_now() + 1000;
        assert_eq!(collect_orphans(&store, &owned, later).await.unwrap(), 2);
        let left: Vec<_> = store.list(None).try_collect().await.unwrap();
        let keys: BTreeSet<_> = left.iter().map(|m| m.location.to_string()).collect();
        assert_eq!(
            keys,
            [
                "t/i/svc-live/service.json".to_string(),
                "unrelated/file".to_string()
            ]
            .into()
        );
    }

    fn chrono_now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }
}
