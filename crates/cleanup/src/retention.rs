//! Retention: each service keeps `retention_days` of restorable history.
//! What the pure rule (`xregion_domain::chain::expirable`) allows is removed,
//! manifest first (so a half-removed backup never looks restorable), then
//! its files, and announced with BackupExpired.

use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;
use xregion_bus::{EventSubject, Publisher};
use xregion_domain::chain::expirable;
use xregion_domain::layout;
use xregion_domain::manifest::Manifest;
use xregion_proto::convert::timestamp;
use xregion_proto::xregion::v1 as pb;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Expires what retention allows for one service; returns the expired ids.
pub async fn expire_service(
    store: &Arc<dyn ObjectStore>,
    publisher: &Publisher,
    service: &pb::ServiceRef,
    now_ms: i64,
) -> Result<Vec<String>, String> {
    let manifests = xregion_common::target::read_manifests(store.as_ref(), &service.target_prefix)
        .await
        .map_err(|e| e.to_string())?;
    let Some(engine) = manifests.first().map(|m| m.engine) else {
        return Ok(Vec::new());
    };
    let cutoff = now_ms - i64::from(service.retention_days) * DAY_MS;
    let chain: Vec<_> = manifests.iter().map(Manifest::chain_backup).collect();
    let ids = expirable(engine, &chain, cutoff);
    for id in &ids {
        let Some(m) = manifests.iter().find(|m| &m.backup_id == id) else {
            continue;
        };
        remove_backup(store, &service.target_prefix, m)
            .await
            .map_err(|e| e.to_string())?;
        let event = pb::BackupExpired {
            service_id: service.service_id.clone(),
            tenant_id: service.tenant_id.clone(),
            backup_id: id.clone(),
            expired_at: Some(timestamp(now_ms)),
        };
        let subject = publisher
            .namespace()
            .event_subject(EventSubject::BackupExpired);
        publisher
            .publish(
                subject,
                &format!("expired:{}:{id}", service.service_id),
                &event,
            )
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(service_id = %service.service_id, backup_id = %id, "backup expired");
    }
    Ok(ids)
}

async fn remove_backup(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    m: &Manifest,
) -> Result<(), object_store::Error> {
    let targets = std::iter::once(layout::manifest_key(prefix, &m.backup_id))
        .chain(m.files.iter().map(|f| f.key.clone()));
    for key in targets {
        match store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
