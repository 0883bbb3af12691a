use std::sync::Mutex;

use object_store::memory::InMemory;
use xregion_domain::ServiceState;
use xregion_proto::convert::state_to_api;

use super::*;

/// A catalog that knows some services, in some states.
struct Known {
    states: Vec<(&'static str, &'static str, &'static str, ServiceState)>,
    asked: Mutex<usize>,
}

#[async_trait::async_trait]
impl ServiceStates for Known {
    async fn states(&self, ids: &[String]) -> Result<Vec<pb::ServiceStatus>> {
        *self.asked.lock().unwrap() += ids.len();
        Ok(ids
            .iter()
            .map(|id| match self.states.iter().find(|(_, _, s, _)| s == id) {
                Some((tenant, instance, service, state)) => pb::ServiceStatus {
                    service_id: id.clone(),
                    known: true,
                    state: state_to_api(*state) as i32,
                    service: Some(pb::ServiceRef {
                        service_id: service.to_string(),
                        tenant_id: tenant.to_string(),
                        instance_id: instance.to_string(),
                        target_region: "r2".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                None => pb::ServiceStatus {
                    service_id: id.clone(),
                    ..Default::default()
                },
            })
            .collect())
    }
}

async fn store_with(keys: &[&str]) -> InMemory {
    let store = InMemory::new();
    for key in keys {
        store
            .put(&Path::from(*key), b"x".to_vec().into())
            .await
            .unwrap();
    }
    store
}

async fn keys(store: &InMemory) -> BTreeSet<String> {
    store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap()
}

fn policy(older_than_ms: i64) -> OrphanPolicy<'static> {
    OrphanPolicy {
        region: "r2",
        namespace: "ns",
        older_than_ms,
        max_share: 1.0,
    }
}

fn later() -> i64 {
    use xregion_common::clock::Clock;
    xregion_common::SystemClock::default().now_ms() + 60_000
}

#[tokio::test]
async fn an_empty_catalog_deletes_nothing() {
    let all = [
        "t/i/svc-a/service.json",
        "t/i/svc-a/manifests/b.json",
        "t/i/svc-a/backups/b/f",
        "t/j/svc-b/backups/c/f",
    ];
    let store = store_with(&all).await;
    let empty = Known {
        states: vec![],
        asked: Mutex::new(0),
    };
    let report = sweep_region(&store, &empty, &policy(later()))
        .await
        .unwrap();
    assert_eq!(report.objects_removed, 0);
    assert_eq!(report.skipped.get(&Skip::Unknown), Some(&2));
    assert_eq!(keys(&store).await.len(), all.len());
}

#[tokio::test]
async fn deleted_services_go_live_ones_lose_only_uncommitted_files() {
    let store = store_with(&[
        "t/i/svc-live/service.json",
        "t/i/svc-live/manifests/kept.json",
        "t/i/svc-live/backups/kept/f",
        "t/i/svc-live/backups/expired-half-way/f",
        "t/i/svc-live/backups/copying/f",
        "t/i/svc-live/inprogress/copying.json",
        "t/i/svc-gone/service.json",
        "t/i/svc-gone/manifests/b.json",
        "t/i/svc-gone/backups/b/f",
        "t/i/svc-ghost/backups/b/f",
        "unrelated/file",
    ])
    .await;
    let catalog = Known {
        states: vec![
            ("t", "i", "svc-live", ServiceState::Running),
            ("t", "i", "svc-gone", ServiceState::Deleted),
        ],
        asked: Mutex::new(0),
    };
    // Everything is younger than the grace period: nothing goes.
    let report = sweep_region(&store, &catalog, &policy(0)).await.unwrap();
    assert_eq!(report.objects_removed, 0);

    // The marker is fresh (modified after the cutoff) while the files are old.
    let cutoff = later();
    store
        .put(
            &Path::from("t/i/svc-live/inprogress/copying.json"),
            b"x".to_vec().into(),
        )
        .await
        .unwrap();
    let report = sweep_region(
        &store,
        &catalog,
        &OrphanPolicy {
            older_than_ms: cutoff - 60_000 - 1,
            ..policy(0)
        },
    )
    .await
    .unwrap();
    assert_eq!(report.objects_removed, 0, "{report:?}");

    let report = sweep_region(&store, &catalog, &policy(cutoff))
        .await
        .unwrap();
    assert_eq!(report.deleted_folders, 1);
    assert_eq!(report.skipped.get(&Skip::Unknown), Some(&1));
    let want: BTreeSet<String> = [
        "t/i/svc-live/service.json",
        "t/i/svc-live/manifests/kept.json",
        "t/i/svc-live/backups/kept/f",
        "t/i/svc-ghost/backups/b/f",
        "unrelated/file",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys(&store).await, want);
}

#[tokio::test]
async fn the_breaker_stops_a_sweep_that_would_remove_too_much() {
    let mut all = Vec::new();
    let mut states = Vec::new();
    const IDS: [&str; 4] = ["svc-1", "svc-2", "svc-3", "svc-4"];
    for id in IDS {
        all.push(format!("t/i/{id}/backups/b/f"));
        states.push(("t", "i", id, ServiceState::Deleted));
    }
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let store = store_with(&refs).await;
    let catalog = Known {
        states,
        asked: Mutex::new(0),
    };
    let report = sweep_region(
        &store,
        &catalog,
        &OrphanPolicy {
            max_share: 0.1,
            ..policy(later())
        },
    )
    .await
    .unwrap();
    assert!(report.halted);
    assert_eq!(report.deleted_folders, 4);
    assert_eq!(report.objects_removed, 0);
    assert_eq!(keys(&store).await.len(), 4);
}

#[tokio::test]
async fn another_deployments_folder_is_left_alone() {
    let store = InMemory::new();
    let descriptor = br#"{"format":1,"service_id":"svc-1","tenant_id":"t","engine":"mysql","source_region":"r1","instance_id":"i","target_region":"r2","retention_days":7,"namespace":"other"}"#;
    store
        .put(
            &Path::from("t/i/svc-1/service.json"),
            descriptor.to_vec().into(),
        )
        .await
        .unwrap();
    store
        .put(&Path::from("t/i/svc-1/backups/b/f"), b"x".to_vec().into())
        .await
        .unwrap();
    let catalog = Known {
        states: vec![("t", "i", "svc-1", ServiceState::Deleted)],
        asked: Mutex::new(0),
    };
    let report = sweep_region(&store, &catalog, &policy(later()))
        .await
        .unwrap();
    assert_eq!(report.skipped.get(&Skip::OtherDeployment), Some(&1));
    assert_eq!(keys(&store).await.len(), 2);
}
