//! The catalog's paged internal answers, read whole or as a stream of
//! pages: every message stays under NATS' max_payload however many
//! services or backups there are.

use futures::{Stream, TryStreamExt};
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;

use crate::jobs::{Error, Result, Watcher};

/// Discovered descriptors sent per PendingBackups request (a descriptor is
/// a few hundred bytes; the catalog takes at most 1000).
pub const DISCOVERED_BATCH: usize = 250;

impl Watcher {
    /// Every live service (of `instance`, or all when empty), page by page.
    pub async fn live_services(&self, instance: &str) -> Result<Vec<pb::ServiceRef>> {
        Ok(self.catalog.live_services(instance).await?)
    }

    /// Every live service, one page read at a time as the stream is
    /// consumed: a pass over 10,000 services holds one page (500), not all.
    pub fn live_service_stream(&self) -> impl Stream<Item = Result<pb::ServiceRef>> + '_ {
        self.catalog.live_service_stream("").map_err(Error::from)
    }

    /// What the service still needs copied, after adding `discovered` to
    /// the inventory in batches; the answer's pages joined.
    pub async fn pending(
        &self,
        service_id: &str,
        discovered: Vec<BackupDescriptor>,
    ) -> Result<pb::PendingBackupsResponse> {
        for batch in discovered.chunks(DISCOVERED_BATCH) {
            // Recording is what counts here; the one-backup page is dropped
            // and the whole answer read below.
            let req = pb::PendingBackupsRequest {
                service_id: service_id.to_string(),
                discovered: batch.to_vec(),
                page_size: 1,
                page_token: String::new(),
            };
            let _ = self.catalog.request("", &req).await?;
        }
        let mut all = pb::PendingBackupsResponse::default();
        let mut page_token = String::new();
        loop {
            let req = pb::PendingBackupsRequest {
                service_id: service_id.to_string(),
                discovered: Vec::new(),
                page_size: 0,
                page_token,
            };
            let page = self.catalog.request("", &req).await?;
            all.service = page.service.or(all.service);
            all.has_full = page.has_full;
            all.backups.extend(page.backups);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = page.next_page_token;
        }
    }
}
