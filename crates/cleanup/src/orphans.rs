//! Orphans: objects under `<tenant>/<instance>/<service>/` that no live or
//! deleting service owns (leftovers of crashes, or a copy that finished after
//! its service was deleted), older than a grace period.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::ObjectStore;

/// Deletes orphans older than `older_than_ms`; returns how many. Also
/// removes, inside live services, files of backups without a manifest (a
/// retention pass cut short after the manifest went); copies in progress are
/// younger than the grace period and have no object yet anyway.
pub async fn collect_orphans(
    store: &Arc<dyn ObjectStore>,
    owned: &BTreeSet<String>,
    older_than_ms: i64,
) -> Result<u64, object_store::Error> {
    let all: Vec<_> = store.list(None).try_collect().await?;
    let committed: BTreeSet<String> = all
        .iter()
        .filter_map(|m| {
            let parts: Vec<&str> = m.location.as_ref().split('/').collect();
            match parts.as_slice() {
                [_, _, service, "manifests", file] => {
                    Some(format!("{service}/{}", file.trim_end_matches(".json")))
                }
                _ => None,
            }
        })
        .collect();
    let mut removed = 0;
    for meta in all {
        let key = meta.location.as_ref();
        let parts: Vec<&str> = key.split('/').collect();
        let Some(service) = parts.get(2).copied() else {
            continue;
        };
        if !service.starts_with("svc-") {
            continue;
        }
        let orphan = if owned.contains(service) {
            matches!(parts.as_slice(), [_, _, _, "backups", backup, ..] if !committed.contains(&format!("{service}/{backup}")))
        } else {
            true
        };
        if !orphan || meta.last_modified.timestamp_millis() > older_than_ms {
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
            "t/i/svc-live/manifests/kept.json",
            "t/i/svc-live/backups/kept/f",
            "t/i/svc-live/backups/expired-half-way/f",
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
        assert_eq!(collect_orphans(&store, &owned, later).await.unwrap(), 3);
        let left: Vec<_> = store.list(None).try_collect().await.unwrap();
        let keys: BTreeSet<_> = left.iter().map(|m| m.location.to_string()).collect();
        let want: BTreeSet<String> = [
            "t/i/svc-live/service.json",
            "t/i/svc-live/manifests/kept.json",
            "t/i/svc-live/backups/kept/f",
            "unrelated/file",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(keys, want);
    }

    fn chrono_now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }
}
