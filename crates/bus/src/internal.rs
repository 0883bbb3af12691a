//! The catalog's internal answers every service reads the same way: live
//! services page by page, and what the catalog knows of given service ids.

use xregion_proto::xregion::v1 as pb;

use crate::error::{BusError, Result};
use crate::rpc::CatalogClient;

impl CatalogClient {
    /// Every live service (of `instance`, or all when empty), page by page:
    /// each answer stays under NATS' max_payload however many there are.
    pub async fn live_services(&self, instance: &str) -> Result<Vec<pb::ServiceRef>> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let req = pb::LiveServicesRequest {
                instance_id: instance.to_string(),
                page_size: 0,
                page_token: page_token.clone(),
            };
            let page = self.request("", &req).await?;
            out.extend(page.services);
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            if page.next_page_token == page_token {
                return Err(BusError::Decode {
                    what: "LiveServicesResponse",
                    reason: "the same page token twice".into(),
                });
            }
            page_token = page.next_page_token;
        }
    }

    /// The catalog's record of each id, in request order (at most 1000).
    pub async fn service_states(&self, ids: &[String]) -> Result<Vec<pb::ServiceStatus>> {
        let req = pb::ServiceStatesRequest {
            service_ids: ids.to_vec(),
        };
        let resp = self.request("", &req).await?;
        Ok(resp.statuses)
    }
}
