//! Orphan collection in one target region. Every service folder found is
//! judged by [`crate::verdict`] from the catalog's positive answer; a sweep
//! that would remove more than the configured share of the region's folders
//! deletes nothing and says so.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStore;
use xregion_common::objects::delete_if_present;
use xregion_domain::layout;
use xregion_proto::xregion::v1 as pb;

use crate::error::Result;
use crate::verdict::{verdict, within_share, FoundPrefix, Skip, Verdict};
use crate::walk::service_folders;

/// How many ids one ServiceStates request carries.
const STATES_BATCH: usize = 500;

/// The catalog's answer about service ids, as the sweep needs it.
#[async_trait::async_trait]
pub trait ServiceStates: Send + Sync {
    async fn states(&self, ids: &[String]) -> Result<Vec<pb::ServiceStatus>>;
}

#[async_trait::async_trait]
impl ServiceStates for xregion_bus::CatalogClient {
    async fn states(&self, ids: &[String]) -> Result<Vec<pb::ServiceStatus>> {
        Ok(self.service_states(ids).await?)
    }
}

pub struct OrphanPolicy<'a> {
    pub region: &'a str,
    /// This deployment's bus namespace.
    pub namespace: &'a str,
    /// Objects modified at or after this are left alone (the grace period).
    pub older_than_ms: i64,
    /// The circuit breaker's share of a region's service folders.
    pub max_share: f64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RegionReport {
    pub folders: usize,
    pub skipped: BTreeMap<Skip, usize>,
    /// Folders of DELETED services the sweep removed (or would have).
    pub deleted_folders: usize,
    pub objects_removed: u64,
    /// The breaker stopped the sweep: nothing was deleted.
    pub halted: bool,
}

/// Judges every service folder of `store`, then removes what positive
/// knowledge allows, unless the breaker trips.
pub async fn sweep_region(
    store: &dyn ObjectStore,
    catalog: &dyn ServiceStates,
    policy: &OrphanPolicy<'_>,
) -> Result<RegionReport> {
    let found = service_folders(store).await?;
    let mut report = RegionReport {
        folders: found.len(),
        ..Default::default()
    };
    let mut judged: Vec<(FoundPrefix, Verdict)> = Vec::with_capacity(found.len());
    for batch in found.chunks(STATES_BATCH) {
        let ids: Vec<String> = batch.iter().map(|f| f.service.clone()).collect();
        let statuses: HashMap<String, pb::ServiceStatus> = catalog
            .states(&ids)
            .await?
            .into_iter()
            .map(|s| (s.service_id.clone(), s))
            .collect();
        for f in batch {
            let status = statuses.get(&f.service);
            let mut v = verdict(f, policy.region, policy.namespace, None, status);
            if v != Verdict::Skip(Skip::Purging) {
                // The folder's own word on who owns it: before acting, and
                // to tell another deployment's folder from an unknown one.
                let descriptor =
                    xregion_common::descriptor::read_service_descriptor(store, &f.path())
                        .await
                        .ok()
                        .flatten();
                v = verdict(
                    f,
                    policy.region,
                    policy.namespace,
                    descriptor.as_ref(),
                    status,
                );
            }
            judged.push((f.clone(), v));
        }
    }
    for (f, v) in &judged {
        if let Verdict::Skip(why) = v {
            *report.skipped.entry(*why).or_default() += 1;
            if matches!(why, Skip::Unknown | Skip::Mismatch) {
                tracing::warn!(region = policy.region, prefix = %f.path(), reason = why.as_str(), "service folder left alone: the catalog does not vouch for it");
            }
        }
    }
    report.deleted_folders = judged
        .iter()
        .filter(|(_, v)| *v == Verdict::RemoveAll)
        .count();
    if !within_share(report.deleted_folders, report.folders, policy.max_share) {
        report.halted = true;
        return Ok(report);
    }
    for (f, v) in &judged {
        let prefix = f.path();
        report.objects_removed += match v {
            Verdict::RemoveAll => remove_deleted(store, &prefix, policy.older_than_ms).await?,
            Verdict::Live => remove_headless(store, &prefix, policy.older_than_ms).await?,
            Verdict::Skip(_) => 0,
        };
    }
    Ok(report)
}

/// Everything of a DELETED service older than the cutoff: manifests first,
/// so a half-removed folder never looks restorable.
async fn remove_deleted(
    store: &dyn ObjectStore,
    prefix: &str,
    older_than_ms: i64,
) -> std::result::Result<u64, object_store::Error> {
    let mut removed = 0;
    for scope in [layout::manifests_prefix(prefix), prefix.to_string()] {
        let mut listing = store.list(Some(&Path::from(scope)));
        while let Some(meta) = listing.try_next().await? {
            if meta.last_modified.timestamp_millis() >= older_than_ms {
                continue;
            }
            delete_if_present(store, meta.location.as_ref()).await?;
            removed += 1;
            tracing::info!(key = %meta.location, "orphan of a deleted service removed");
        }
    }
    Ok(removed)
}

/// Files of a live service's backups that have no manifest (a retention
/// pass cut short, a copy abandoned), older than the cutoff, and not being
/// copied: a copy in progress keeps its marker fresh.
async fn remove_headless(
    store: &dyn ObjectStore,
    prefix: &str,
    older_than_ms: i64,
) -> std::result::Result<u64, object_store::Error> {
    // Markers before manifests: a copy commits its manifest before it
    // clears its marker, so a copy that ends between the two listings is
    // seen by the second.
    let markers: BTreeMap<String, i64> = names_in(store, &layout::in_progress_prefix(prefix))
        .await?
        .into_iter()
        .filter_map(|(name, at)| name.strip_suffix(".json").map(|b| (b.to_string(), at)))
        .collect();
    let mut committed: BTreeSet<String> = names_in(store, &layout::manifests_prefix(prefix))
        .await?
        .into_iter()
        .filter_map(|(name, _)| name.strip_suffix(".json").map(String::from))
        .collect();
    let in_progress = |backup: &str| markers.get(backup).is_some_and(|at| *at >= older_than_ms);
    let backups = format!("{}/", layout::backups_prefix(prefix));
    // Backups whose manifest was looked for again just before deleting.
    let mut rechecked: BTreeSet<String> = BTreeSet::new();
    let mut removed = 0;
    let mut listing = store.list(Some(&Path::from(layout::backups_prefix(prefix))));
    while let Some(meta) = listing.try_next().await? {
        let key = meta.location.as_ref();
        let Some(backup) = key
            .strip_prefix(&backups)
            .and_then(|rest| rest.split('/').next())
        else {
            continue;
        };
        if committed.contains(backup)
            || in_progress(backup)
            || meta.last_modified.timestamp_millis() >= older_than_ms
        {
            continue;
        }
        if rechecked.insert(backup.to_string()) {
            let manifest = Path::from(layout::manifest_key(prefix, backup));
            match store.head(&manifest).await {
                Ok(_) => {
                    committed.insert(backup.to_string());
                    continue;
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        delete_if_present(store, meta.location.as_ref()).await?;
        removed += 1;
        tracing::info!(key, "file of an uncommitted backup removed");
    }
    // Markers nobody refreshed: their copy is gone.
    for (backup, at) in &markers {
        if *at < older_than_ms {
            delete_if_present(store, &layout::in_progress_key(prefix, backup)).await?;
        }
    }
    Ok(removed)
}

/// Object names directly below `prefix`, with their modification times.
async fn names_in(
    store: &dyn ObjectStore,
    prefix: &str,
) -> std::result::Result<Vec<(String, i64)>, object_store::Error> {
    let listed = store.list_with_delimiter(Some(&Path::from(prefix))).await?;
    Ok(listed
        .objects
        .into_iter()
        .filter_map(|m| {
            let at = m.last_modified.timestamp_millis();
            m.location.filename().map(|n| (n.to_string(), at))
        })
        .collect())
}

#[cfg(test)]
mod tests;
