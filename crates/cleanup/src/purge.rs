//! Purging one service's data from its target region. Idempotent: a purge
//! interrupted half-way simply lists what is left and goes on.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStore;
use xregion_bus::{CatalogClient, Delivery, Outcome, Publisher, TryHandler};
use xregion_common::{Regions, SharedClock};
use xregion_domain::layout;
use xregion_proto::convert::timestamp;
use xregion_proto::xregion::v1 as pb;

pub struct Purger {
    pub regions: Regions,
    pub publisher: Publisher,
    /// Asked for the service's record before anything is deleted.
    pub catalog: CatalogClient,
    pub clock: SharedClock,
    /// Test-only fault injection: abort after this many deletions (0: never).
    pub fail_after_deletes: u64,
    pub deletes: std::sync::atomic::AtomicU64,
}

impl Purger {
    /// Counts a deletion; aborts the process at the configured fault point,
    /// which is how tests kill cleanup half-way through a purge.
    fn count_delete(&self) {
        let n = self
            .deletes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if self.fail_after_deletes > 0 && n >= self.fail_after_deletes {
            tracing::error!(deletes = n, "fail point reached: aborting mid-purge");
            std::process::abort();
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub objects: u64,
    pub bytes: u64,
}

/// Deletes every object under `prefix`: manifests, then backup files, then
/// the rest (`service.json`). Each pass streams its listing.
pub async fn purge_prefix(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    on_delete: impl Fn(),
) -> Result<Purged, object_store::Error> {
    let mut purged = Purged::default();
    for scope in [
        layout::manifests_prefix(prefix),
        layout::backups_prefix(prefix),
        prefix.to_string(),
    ] {
        let mut listing = store.list(Some(&Path::from(scope)));
        while let Some(meta) = listing.try_next().await? {
            match store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            purged.objects += 1;
            purged.bytes += meta.size as u64;
            on_delete();
        }
    }
    Ok(purged)
}

/// What a ServiceDeleted event may purge: the catalog's own record of the
/// service, never the prefix the event carries. Only a service the catalog
/// knows as DELETING or DELETED is purged, under the prefix built from its
/// record's validated ids, in its recorded target region.
pub fn purge_target(
    event_service_id: &str,
    status: Option<&pb::ServiceStatus>,
) -> Result<pb::ServiceRef, String> {
    use xregion_domain::ids::is_valid_id;
    use xregion_domain::ServiceState;
    if !is_valid_id(event_service_id) {
        return Err(format!("invalid service id {event_service_id:?}"));
    }
    let Some(status) = status.filter(|s| s.known && s.service_id == event_service_id) else {
        return Err(format!(
            "the catalog does not know service {event_service_id}; nothing purged"
        ));
    };
    let record = status
        .service
        .clone()
        .filter(|r| r.service_id == event_service_id)
        .ok_or_else(|| format!("the catalog has no record of {event_service_id}"))?;
    match xregion_proto::convert::state_from_api(status.state) {
        Some(ServiceState::Deleting | ServiceState::Deleted) => {}
        other => {
            return Err(format!(
            "service {event_service_id} is {} in the catalog, not being deleted; nothing purged",
            other.map(|s| s.as_str()).unwrap_or("in an unknown state")
        ))
        }
    }
    for (field, id) in [
        ("tenant", &record.tenant_id),
        ("instance", &record.instance_id),
        ("target region", &record.target_region),
    ] {
        if !is_valid_id(id) {
            return Err(format!("the catalog's {field} id {id:?} is not valid"));
        }
    }
    Ok(pb::ServiceRef {
        target_prefix: layout::service_prefix(
            &record.tenant_id,
            &record.instance_id,
            &record.service_id,
        ),
        ..record
    })
}

#[async_trait::async_trait]
impl TryHandler for Purger {
    async fn try_handle(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        let announced = d.decode_part(|e: pb::ServiceDeleted| e.service, "service")?;
        let req = pb::ServiceStatesRequest {
            service_ids: vec![announced.service_id.clone()],
        };
        let states = match self.catalog.request("", &req).await {
            Ok(s) => s,
            Err(e) if e.is_unavailable() => {
                return Err(Outcome::Unavailable(format!("catalog: {e}")))
            }
            Err(e) => return Err(Outcome::Retry(format!("catalog: {e}"))),
        };
        let service = match purge_target(&announced.service_id, states.statuses.first()) {
            Ok(s) => s,
            Err(reason) => {
                tracing::warn!(service_id = %announced.service_id, prefix = %announced.target_prefix, %reason, "purge refused");
                // "Unknown" may be a stray catalog's answer: asked again on
                // the next delivery (counted, then dead-lettered and
                // replayable); a live service is refused at once.
                let known = states.statuses.first().is_some_and(|s| s.known);
                return Err(if known {
                    Outcome::Reject(reason)
                } else {
                    Outcome::Retry(reason)
                });
            }
        };
        if service.target_prefix != announced.target_prefix
            || service.target_region != announced.target_region
        {
            tracing::warn!(service_id = %service.service_id, announced = %announced.target_prefix, recorded = %service.target_prefix, "the event's prefix differs from the catalog's record; purging the record's");
        }
        let Some(store) = self.regions.store(&service.target_region) else {
            return Err(Outcome::Retry(format!(
                "target region {} is not configured here",
                service.target_region
            )));
        };
        let purged =
            match purge_prefix(&store, &service.target_prefix, || self.count_delete()).await {
                Ok(p) => p,
                Err(e) if xregion_common::unavailable::store_unavailable(&e) => {
                    return Err(Outcome::Unavailable(e.to_string()))
                }
                Err(e) => return Err(Outcome::Retry(e.to_string())),
            };
        // Uploads of the service still open (a copy cut short by the delete).
        let bucket = self.publisher.namespace().uploads_bucket();
        let uploads = match self.publisher.jetstream() {
            Ok(js) => js.get_key_value(bucket).await.ok(),
            // A recording publisher (unit tests) has no buckets.
            Err(_) => None,
        };
        if let Some(uploads) = uploads {
            if let Err(e) =
                crate::uploads::abort_for_service(&uploads, &self.regions, &service.service_id)
                    .await
            {
                return Err(Outcome::Retry(e));
            }
        }
        tracing::info!(service_id = %service.service_id, objects = purged.objects, bytes = purged.bytes, "service data purged");
        let done = pb::ServiceDataPurged {
            service_id: service.service_id.clone(),
            tenant_id: service.tenant_id.clone(),
            objects_deleted: purged.objects,
            bytes_deleted: purged.bytes,
            purged_at: Some(timestamp(self.clock.now_ms())),
        };
        Ok(match self.publisher.emit(&done).await {
            Ok(_) => Outcome::Ack,
            Err(e) if e.is_unavailable() => Outcome::Unavailable(e.to_string()),
            Err(e) => Outcome::Retry(e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn status(id: &str, state: xregion_domain::ServiceState) -> pb::ServiceStatus {
        pb::ServiceStatus {
            service_id: id.into(),
            known: true,
            state: xregion_proto::convert::state_to_api(state) as i32,
            service: Some(pb::ServiceRef {
                service_id: id.into(),
                tenant_id: "t".into(),
                instance_id: "i".into(),
                target_region: "r2".into(),
                target_prefix: "//".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_prefix_comes_from_the_catalogs_record_only() {
        use xregion_domain::ServiceState::*;
        let ok = purge_target("svc-1", Some(&status("svc-1", Deleting))).unwrap();
        assert_eq!(ok.target_prefix, "t/i/svc-1");
        assert_eq!(ok.target_region, "r2");
        assert!(purge_target("svc-1", Some(&status("svc-1", Deleted))).is_ok());
        // A live service, an unknown one, an answer about another id, a bad id.
        for state in [Creating, Seeding, Running, Degraded] {
            let e = purge_target("svc-1", Some(&status("svc-1", state))).unwrap_err();
            assert!(e.contains("not being deleted"), "{e}");
        }
        assert!(purge_target("svc-1", None).is_err());
        let unknown = pb::ServiceStatus {
            service_id: "svc-1".into(),
            ..Default::default()
        };
        assert!(purge_target("svc-1", Some(&unknown)).is_err());
        assert!(purge_target("svc-1", Some(&status("svc-2", Deleting))).is_err());
        for bad in ["", "/", "..", "t/i"] {
            assert!(purge_target(bad, Some(&status(bad, Deleting))).is_err());
        }
        // A record with an id that could not have been issued.
        let mut odd = status("svc-1", Deleting);
        if let Some(r) = odd.service.as_mut() {
            r.tenant_id = String::new();
        }
        assert!(purge_target("svc-1", Some(&odd)).is_err());
    }

    #[tokio::test]
    async fn purges_only_the_prefix() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for key in [
            "t/i/s/service.json",
            "t/i/s/manifests/b.json",
            "t/i/s/backups/b/f",
            "t/i/s2/service.json",
        ] {
            store
                .put(&Path::from(key), b"x".to_vec().into())
                .await
                .unwrap();
        }
        let purged = purge_prefix(&store, "t/i/s", || {}).await.unwrap();
        assert_eq!(
            purged,
            Purged {
                objects: 3,
                bytes: 3
            }
        );
        let left: Vec<_> = store.list(None).try_collect().await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].location.as_ref(), "t/i/s2/service.json");
        // Again: nothing left, nothing fails.
        assert_eq!(
            purge_prefix(&store, "t/i/s", || {}).await.unwrap(),
            Purged::default()
        );
    }
}
