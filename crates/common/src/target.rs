//! Reading a target region's self-describing layout: the manifests of a
//! service and the restore plan they allow. Needs nothing but the store, so
//! disaster-recovery tools work with the control plane down.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStore;
use xregion_domain::chain::{restore_plan, restore_window, Millis, RestorePlan, RestoreWindow};
use xregion_domain::layout;
use xregion_domain::manifest::{plan_files, Manifest, PlanFile};

use crate::error::{Error, Result};

/// Every manifest under `<service_prefix>/manifests/`, in key order.
pub async fn read_manifests(
    store: &dyn ObjectStore,
    service_prefix: &str,
) -> Result<Vec<Manifest>> {
    let prefix = Path::from(layout::manifests_prefix(service_prefix));
    let mut metas: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::with_capacity(metas.len());
    for meta in metas {
        if !meta.location.as_ref().ends_with(".json") {
            continue;
        }
        let bytes = store.get(&meta.location).await?.bytes().await?;
        let manifest = Manifest::from_json(&bytes).map_err(|reason| Error::Manifest {
            key: meta.location.to_string(),
            reason,
        })?;
        out.push(manifest);
    }
    Ok(out)
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
/// `instance_id` stored in this target region.
pub async fn service_prefixes(store: &dyn ObjectStore, instance_id: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let all: Vec<_> = store.list(None).try_collect().await?;
    for meta in all {
        let parts: Vec<&str> = meta.location.as_ref().split('/').collect();
        if let [tenant, instance, service, "service.json"] = parts.as_slice() {
            if *instance == instance_id {
                out.push(layout::service_prefix(tenant, instance, service));
            }
        }
    }
    out.sort();
    Ok(out)
}
