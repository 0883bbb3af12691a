//! Reading a target region's self-describing layout: the manifests of a
//! service and the restore plan they allow. Needs nothing but the store, so
//! disaster-recovery tools work with the control plane down.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStore;
use xregion_domain::chain::{restore_plan, restore_window, Millis, RestorePlan, RestoreWindow};
use xregion_domain::manifest::{plan_files, Manifest, PlanFile, MAX_MANIFEST_BYTES};
use xregion_domain::{ids, layout};

use crate::error::{Error, Result};
use crate::objects::{id_folders, read_small_at, Small};

/// A manifest that cannot be trusted: not JSON, another format, or not
/// describing the place it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedManifest {
    pub key: String,
    pub reason: String,
}

/// The manifests of one service: those that passed validation, in key
/// order, and those that did not.
#[derive(Debug, Clone, Default)]
pub struct ManifestScan {
    pub manifests: Vec<Manifest>,
    pub rejected: Vec<RejectedManifest>,
}

/// Reads and validates every manifest under `<service_prefix>/manifests/`.
/// A bad manifest is reported in `rejected` and does not stop the others
/// (a restore still has every other restore point); failing to list or
/// read the store is an error.
pub async fn scan_manifests(store: &dyn ObjectStore, service_prefix: &str) -> Result<ManifestScan> {
    let prefix = Path::from(layout::manifests_prefix(service_prefix));
    let mut metas: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut scan = ManifestScan::default();
    for meta in metas {
        let key = meta.location.to_string();
        if !key.ends_with(".json") {
            continue;
        }
        // A manifest removed since the listing (retention at work) is no
        // restore point any more, not an error.
        let bytes = match read_small_at(store, &meta.location, MAX_MANIFEST_BYTES).await? {
            Small::Read(bytes) => bytes,
            Small::Absent => continue,
            Small::TooLarge(size) => {
                let reason = format!("{size} bytes, more than a manifest can be");
                scan.rejected.push(RejectedManifest { key, reason });
                continue;
            }
        };
        let checked = Manifest::from_json(&bytes).and_then(|m| {
            m.validate_for(service_prefix, &key)
                .map(|()| m)
                .map_err(|e| e.to_string())
        });
        match checked {
            Ok(m) => scan.manifests.push(m),
            Err(reason) => scan.rejected.push(RejectedManifest { key, reason }),
        }
    }
    Ok(scan)
}

/// Every manifest under `<service_prefix>/manifests/`, in key order, all
/// validated; the first bad one is an error. For callers that delete on
/// what they read: with a manifest they cannot trust they know too little.
pub async fn read_manifests(
    store: &dyn ObjectStore,
    service_prefix: &str,
) -> Result<Vec<Manifest>> {
    let scan = scan_manifests(store, service_prefix).await?;
    match scan.rejected.into_iter().next() {
        Some(RejectedManifest { key, reason }) => Err(Error::Manifest { key, reason }),
        None => Ok(scan.manifests),
    }
}

/// The restore window the manifests describe; `None` before any FULL.
pub fn window_of(manifests: &[Manifest]) -> Option<RestoreWindow> {
    let engine = manifests.first()?.engine;
    let chain: Vec<_> = manifests.iter().map(Manifest::chain_backup).collect();
    restore_window(engine, &chain)
}

/// The plan for `time` from manifests alone.
pub fn plan_of(manifests: &[Manifest], time: Millis) -> Result<(RestorePlan, Vec<PlanFile>)> {
    let engine = manifests
        .first()
        .map(|m| m.engine)
        .ok_or(xregion_domain::chain::PlanError::NothingSynced)?;
    let chain: Vec<_> = manifests.iter().map(Manifest::chain_backup).collect();
    let plan = restore_plan(engine, &chain, time)?;
    let files = plan_files(&plan, manifests).ok_or_else(|| Error::Manifest {
        key: plan.full_backup_id.clone(),
        reason: "a backup of the plan has no manifest".into(),
    })?;
    Ok((plan, files))
}

/// Reads the manifests and computes the plan for `time`.
pub async fn plan_from_store(
    store: &dyn ObjectStore,
    service_prefix: &str,
    time: Millis,
) -> Result<(RestorePlan, Vec<PlanFile>)> {
    let manifests = read_manifests(store, service_prefix).await?;
    plan_of(&manifests, time)
}

/// The prefixes (`<tenant>/<instance>/<service>`) of every service of
/// `instance_id` stored in this target region: one listing of tenants, one
/// of the instance's services per tenant, one lookup of `service.json` per
/// service, never a listing of the whole bucket. Folders whose names are
/// not ids are ignored.
pub async fn service_prefixes(store: &dyn ObjectStore, instance_id: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if !ids::is_valid_id(instance_id) {
        return Ok(out);
    }
    for tenant in id_folders(store, None).await? {
        let instance = Path::from(format!("{tenant}/{instance_id}"));
        for service in id_folders(store, Some(&instance)).await? {
            let prefix = layout::service_prefix(&tenant, instance_id, &service);
            let descriptor = Path::from(layout::service_descriptor_key(&prefix));
            match store.head(&descriptor).await {
                Ok(_) => out.push(prefix),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use object_store::memory::InMemory;
    use xregion_domain::chain::ChainPosition;
    use xregion_domain::manifest::{ManifestFile, FORMAT};
    use xregion_domain::{BackupKind, Engine};

    use super::*;

    const PREFIX: &str = "t/i/s";

    fn manifest(backup_id: &str) -> Manifest {
        Manifest {
            format: FORMAT,
            service_id: "s".into(),
            tenant_id: "t".into(),
            instance_id: "i".into(),
            engine: Engine::Mysql,
            backup_id: backup_id.into(),
            kind: BackupKind::Full,
            data_start: 1,
            data_end: 1,
            position: ChainPosition::Mysql {
                file_number: 1,
                offset: 4,
            },
            files: vec![ManifestFile {
                key: format!("{PREFIX}/backups/{backup_id}/f"),
                source_key: "src/f".into(),
                size: 1,
                sha256: "ab".repeat(32),
                encryption: None,
            }],
            synced_at: 2,
            backup_format: None,
        }
    }

    async fn put(store: &InMemory, key: &str, bytes: Vec<u8>) {
        store.put(&Path::from(key), bytes.into()).await.unwrap();
    }

    #[tokio::test]
    async fn bad_manifests_are_reported_and_skipped_not_fatal() {
        let store = InMemory::new();
        put(
            &store,
            "t/i/s/manifests/good.json",
            manifest("good").to_json(),
        )
        .await;
        put(
            &store,
            "t/i/s/manifests/broken.json",
            b"{ not json".to_vec(),
        )
        .await;
        let mut evil = manifest("evil");
        evil.backup_id = "../../../../tmp/x".into();
        put(&store, "t/i/s/manifests/evil.json", evil.to_json()).await;
        let scan = scan_manifests(&store, PREFIX).await.unwrap();
        let ids: Vec<_> = scan
            .manifests
            .iter()
            .map(|m| m.backup_id.as_str())
            .collect();
        assert_eq!(ids, ["good"]);
        let rejected: Vec<_> = scan.rejected.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            rejected,
            ["t/i/s/manifests/broken.json", "t/i/s/manifests/evil.json"]
        );
        // Callers that delete on what they read get an error instead.
        let err = read_manifests(&store, PREFIX).await.unwrap_err();
        assert!(err.to_string().contains("broken.json"), "{err}");
    }

    #[tokio::test]
    async fn service_prefixes_walk_folders_of_the_instance_only() {
        let store = InMemory::new();
        for key in [
            "t1/db-1/svc-a/service.json",
            "t2/db-1/svc-b/service.json",
            "t2/db-1/svc-half/manifests/x.json",
            "t1/db-2/svc-c/service.json",
            "t1/db-1/svc-a/backups/b/f",
        ] {
            put(&store, key, b"{}".to_vec()).await;
        }
        assert_eq!(
            service_prefixes(&store, "db-1").await.unwrap(),
            ["t1/db-1/svc-a", "t2/db-1/svc-b"]
        );
        assert!(service_prefixes(&store, "../db-1")
            .await
            .unwrap()
            .is_empty());
    }
}
