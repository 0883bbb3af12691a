//! The catalog records a synced copy only when the target store shows it:
//! the manifest (the commit marker) at the service's own key, listing the
//! files the backup has. An event alone, forged or not, marks nothing synced.

use xregion_common::objects::{read_small, Small};
use xregion_common::Regions;
use xregion_domain::layout;
use xregion_domain::manifest::{Manifest, MAX_MANIFEST_BYTES};

use crate::error::{CatalogError, Result};
use crate::store::services::ServiceRow;

/// `expected` (built from the catalog's record and the backup) against the
/// manifest in the service's target region.
pub async fn manifest_in_target(
    regions: &Regions,
    svc: &ServiceRow,
    announced_key: &str,
    expected: &Manifest,
) -> Result<()> {
    let refuse = |reason: String| Err(CatalogError::precondition(reason));
    let prefix = layout::service_prefix(&svc.tenant_id, &svc.instance_id, &svc.service_id);
    let key = layout::manifest_key(&prefix, &expected.backup_id);
    if announced_key != key {
        return refuse(format!(
            "copy of {} announced at {announced_key:?}, not at the service's {key}",
            expected.backup_id
        ));
    }
    let Some(store) = regions.store(&svc.target_region) else {
        return refuse(format!(
            "target region {} is not configured in the catalog",
            svc.target_region
        ));
    };
    let bytes = match read_small(store.as_ref(), &key, MAX_MANIFEST_BYTES).await? {
        Small::Read(bytes) => bytes,
        Small::Absent => return refuse(format!("no manifest at {key} in the target")),
        Small::TooLarge(size) => {
            return refuse(format!(
                "{key} is {size} bytes, more than a manifest can be"
            ))
        }
    };
    let stored = Manifest::from_json(&bytes)
        .map_err(|e| CatalogError::precondition(format!("manifest {key}: {e}")))?;
    let files = |m: &Manifest| -> Vec<(String, u64, String)> {
        m.files
            .iter()
            .map(|f| (f.key.clone(), f.size, f.sha256.clone()))
            .collect()
    };
    if stored.backup_id != expected.backup_id
        || stored.service_id != expected.service_id
        || files(&stored) != files(expected)
    {
        return refuse(format!(
            "the manifest at {key} does not describe the announced copy"
        ));
    }
    Ok(())
}
