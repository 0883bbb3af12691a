//! Consumes xregion's own events that change the catalog: synced copies,
//! failed copies and purged services.

use xregion_bus::{Delivery, EventSubject, Handler, Namespace, Outcome};
use xregion_proto::xregion::v1 as pb;

use crate::service::Catalog;

pub struct EventsHandler {
    pub catalog: Catalog,
    pub ns: Namespace,
}

/// The events this handler consumes. `BackupExpired` is not among them: the
/// catalog announces it itself when cleanup asks it to forget a copy, so a
/// forged one changes nothing.
pub const CONSUMED: [EventSubject; 3] = [
    EventSubject::BackupSynced,
    EventSubject::BackupFailed,
    EventSubject::ServicePurged,
];

#[async_trait::async_trait]
impl Handler for EventsHandler {
    async fn handle(&self, d: &Delivery) -> Outcome {
        let result = match self.ns.event_of(&d.subject) {
            Some(EventSubject::BackupSynced) => match d.decode::<pb::BackupSynced>() {
                Ok(e) => self.catalog.backup_synced(&e).await,
                Err(o) => return o,
            },
            Some(EventSubject::BackupFailed) => match d.decode::<pb::BackupSyncFailed>() {
                Ok(e) => self.catalog.backup_failed(&e).await,
                Err(o) => return o,
            },
            Some(EventSubject::ServicePurged) => match d.decode::<pb::ServiceDataPurged>() {
                Ok(e) => self.catalog.service_purged(&e).await,
                Err(o) => return o,
            },
            _ => return Outcome::Reject(format!("unexpected subject {}", d.subject)),
        };
        match result {
            Ok(()) => Outcome::Ack,
            Err(crate::CatalogError::FailedPrecondition(reason)) => Outcome::Reject(reason),
            Err(error) if error.is_unavailable() => Outcome::Unavailable(error.to_string()),
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}
