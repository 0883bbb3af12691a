//! Cleanup's decisions on the word of a real catalog answering in process
//! (no NATS): what a purge may delete comes from the catalog's record only,
//! and the orphan sweep judges each folder by the catalog's ServiceStates.

#![allow(clippy::unwrap_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::ObjectStore;
use xregion_catalog::testing::{Source, TestCatalog};
use xregion_proto::xregion::v1 as pb;

use crate::orphans::{sweep_region, OrphanPolicy};
use crate::purge::{purge_prefix, purge_target};
use crate::verdict::Skip;

async fn store_with(keys: &[String]) -> Arc<dyn ObjectStore> {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    for key in keys {
        store
            .put(&Path::from(key.as_str()), b"x".to_vec().into())
            .await
            .unwrap();
    }
    store
}

async fn keys(store: &Arc<dyn ObjectStore>) -> BTreeSet<String> {
    store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap()
}

/// A service's committed copy: its description, a manifest and its file.
fn copy_of(prefix: &str) -> Vec<String> {
    vec![
        format!("{prefix}/service.json"),
        format!("{prefix}/manifests/b1.json"),
        format!("{prefix}/backups/b1/data"),
    ]
}

/// What `Purger` does before deleting: ask the catalog, keep its record.
async fn purge_target_of(t: &TestCatalog, service_id: &str) -> Result<pb::ServiceRef, String> {
    let statuses = t
        .client()
        .service_states(&[service_id.to_string()])
        .await
        .unwrap();
    purge_target(service_id, statuses.first())
}

#[tokio::test]
async fn a_purge_deletes_under_the_catalogs_record_only() {
    let t = TestCatalog::new(&["r1", "r2"]).await.unwrap();
    let gone = t
        .service(&Source::new("t1", "db-1", "r1"), "r2")
        .await
        .unwrap();
    let live = t
        .service(&Source::new("t1", "db-2", "r1"), "r2")
        .await
        .unwrap();
    t.delete(&gone).await.unwrap();

    // The event may name any folder; the record's is the one purged.
    let target = purge_target_of(&t, &gone.service_id).await.unwrap();
    assert_eq!(target.target_prefix, gone.target_prefix);
    assert_eq!(target.target_region, "r2");
    let mut all = copy_of(&gone.target_prefix);
    all.extend(copy_of(&live.target_prefix));
    all.extend(copy_of(&format!("t2/db-1/{}", gone.service_id)));
    let store = store_with(&all).await;
    let purged = purge_prefix(&store, &target.target_prefix, || {})
        .await
        .unwrap();
    assert_eq!(purged.objects, 3);
    let mut left: BTreeSet<String> = copy_of(&live.target_prefix).into_iter().collect();
    left.extend(copy_of(&format!("t2/db-1/{}", gone.service_id)));
    assert_eq!(keys(&store).await, left);

    // A live service and one the catalog never had: nothing to purge.
    let refused = purge_target_of(&t, &live.service_id).await.unwrap_err();
    assert!(refused.contains("not being deleted"), "{refused}");
    let refused = purge_target_of(&t, "svc-never-created").await.unwrap_err();
    assert!(refused.contains("does not know"), "{refused}");
}

#[tokio::test]
async fn the_sweep_removes_only_folders_the_catalog_knows_as_deleted() {
    let t = TestCatalog::new(&["r1", "r2"]).await.unwrap();
    let live = t
        .service(&Source::new("t1", "db-1", "r1"), "r2")
        .await
        .unwrap();
    let deleting = t
        .service(&Source::new("t1", "db-2", "r1"), "r2")
        .await
        .unwrap();
    let deleted = t
        .service(&Source::new("t1", "db-3", "r1"), "r2")
        .await
        .unwrap();
    t.delete(&deleting).await.unwrap();
    t.delete_and_purge(&deleted).await.unwrap();

    let ghost = "t1/db-4/svc-never-created".to_string();
    // The deleted service's id under another tenant's folder.
    let elsewhere = format!("t2/db-3/{}", deleted.service_id);
    let mut all = Vec::new();
    for prefix in [
        &live.target_prefix,
        &deleting.target_prefix,
        &deleted.target_prefix,
        &ghost,
        &elsewhere,
    ] {
        all.extend(copy_of(prefix));
    }
    let store = store_with(&all).await;
    let policy = OrphanPolicy {
        region: "r2",
        namespace: "ns",
        // Everything is past the grace period.
        older_than_ms: t.catalog.now() + 60_000,
        max_share: 1.0,
    };
    let report = sweep_region(store.as_ref(), &t.client(), &policy)
        .await
        .unwrap();
    assert_eq!(report.folders, 5);
    assert_eq!(report.deleted_folders, 1);
    assert!(!report.halted);
    assert_eq!(report.skipped.get(&Skip::Purging), Some(&1));
    assert_eq!(report.skipped.get(&Skip::Unknown), Some(&1));
    assert_eq!(report.skipped.get(&Skip::Mismatch), Some(&1));
    let gone: BTreeSet<String> = copy_of(&deleted.target_prefix).into_iter().collect();
    let want: BTreeSet<String> = all.into_iter().filter(|k| !gone.contains(k)).collect();
    assert_eq!(keys(&store).await, want);

    // The same folders judged in a region the services do not copy into:
    // every record names another region, so nothing goes.
    let store = store_with(&copy_of(&live.target_prefix)).await;
    let report = sweep_region(
        store.as_ref(),
        &t.client(),
        &OrphanPolicy {
            region: "r1",
            ..policy
        },
    )
    .await
    .unwrap();
    assert_eq!(report.objects_removed, 0);
    assert_eq!(report.skipped.get(&Skip::Mismatch), Some(&1));
}
