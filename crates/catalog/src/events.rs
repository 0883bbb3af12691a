//! Consumes xregion's own events that change the catalog: synced copies,
//! failed copies and purged services.

use crate::service::Catalog;
use xregion_bus::{Delivery, EventSubject, Namespace, Outcome, TryHandler};

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
impl TryHandler for EventsHandler {
    async fn try_handle(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        let result = match self.ns.event_of(&d.subject) {
            Some(EventSubject::BackupSynced) => self.catalog.backup_synced(&d.decode()?).await,
            Some(EventSubject::BackupFailed) => self.catalog.backup_failed(&d.decode()?).await,
            Some(EventSubject::ServicePurged) => self.catalog.service_purged(&d.decode()?).await,
            _ => return Err(Outcome::Reject(format!("unexpected subject {}", d.subject))),
        };
        Ok(match result {
            Ok(()) => Outcome::Ack,
            Err(crate::CatalogError::FailedPrecondition(_, reason)) => Outcome::Reject(reason),
            Err(error) if error.is_unavailable() => Outcome::Unavailable(error.to_string()),
            Err(error) => Outcome::Retry(error.to_string()),
        })
    }
}
