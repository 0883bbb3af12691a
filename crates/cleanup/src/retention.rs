//! Retention: each service keeps `retention_days` of restorable history.
//! For each copy the pure rule (`xregion_domain::chain::expirable`) allows,
//! the catalog forgets it first (and announces BackupExpired), then the
//! manifest goes, then the files. A crash at any step leaves either a copy
//! the catalog still lists with every file in place, or files the catalog
//! no longer lists, which the next sweep removes: the catalog never lists a
//! copy whose files are gone.

use std::sync::Arc;

use object_store::ObjectStore;
use xregion_bus::CatalogClient;
use xregion_common::objects::delete_if_present;
use xregion_domain::chain::expirable;
use xregion_domain::layout;
use xregion_domain::manifest::Manifest;
use xregion_proto::xregion::v1 as pb;

use crate::config::FailPoint;
use crate::error::Result;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Expires what retention allows for one service; returns the expired ids.
pub async fn expire_service(
    store: &Arc<dyn ObjectStore>,
    catalog: &CatalogClient,
    service: &pb::ServiceRef,
    now_ms: i64,
    fail_point: FailPoint,
) -> Result<Vec<String>> {
    let manifests =
        xregion_common::target::read_manifests(store.as_ref(), &service.target_prefix).await?;
    let Some(engine) = manifests.first().map(|m| m.engine) else {
        return Ok(Vec::new());
    };
    let cutoff = now_ms.saturating_sub(i64::from(service.retention_days).saturating_mul(DAY_MS));
    let chain: Vec<_> = manifests.iter().map(Manifest::chain_backup).collect();
    let ids = expirable(engine, &chain, cutoff);
    for id in &ids {
        let Some(m) = manifests.iter().find(|m| &m.backup_id == id) else {
            continue;
        };
        let req = pb::ExpireBackupRequest {
            service_id: service.service_id.clone(),
            backup_id: id.clone(),
        };
        catalog.request("", &req).await?;
        fail_point.reached(FailPoint::AfterExpireRecorded);
        remove_backup(store, &service.target_prefix, m, fail_point).await?;
        tracing::info!(service_id = %service.service_id, backup_id = %id, "backup expired");
    }
    Ok(ids)
}

/// The manifest first, so a half-removed backup never looks restorable.
async fn remove_backup(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    m: &Manifest,
    fail_point: FailPoint,
) -> std::result::Result<(), object_store::Error> {
    delete_if_present(store.as_ref(), &layout::manifest_key(prefix, &m.backup_id)).await?;
    fail_point.reached(FailPoint::AfterManifestRemoved);
    for f in &m.files {
        // Only keys of this service's own backup folder: a manifest is read
        // back from the store and is not trusted to name anything else.
        let own = format!("{}/", layout::backups_prefix(prefix));
        if f.key.starts_with(&own) {
            delete_if_present(store.as_ref(), &f.key).await?;
        } else {
            tracing::warn!(key = %f.key, backup_id = %m.backup_id, "manifest names a file outside its service; not deleted");
        }
    }
    Ok(())
}
