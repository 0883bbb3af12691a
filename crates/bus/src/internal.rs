//! The catalog's internal answers every service reads the same way: live
//! services page by page, and what the catalog knows of given service ids.

use futures::{Stream, TryStreamExt};
use xregion_proto::xregion::v1 as pb;

use crate::error::{BusError, Result};
use crate::rpc::CatalogClient;

impl CatalogClient {
    /// Every live service (of `instance`, or all when empty), page by page:
    /// each answer stays under NATS' max_payload however many there are.
    pub async fn live_services(&self, instance: &str) -> Result<Vec<pb::ServiceRef>> {
        self.live_service_stream(instance).try_collect().await
    }

    /// [`Self::live_services`] as a stream, one page requested at a time as
    /// it is consumed: a pass over 10,000 services holds one page (500).
    pub fn live_service_stream<'a>(
        &'a self,
        instance: &'a str,
    ) -> impl Stream<Item = Result<pb::ServiceRef>> + 'a {
        // `None` once the last page was read.
        futures::stream::try_unfold(Some(String::new()), move |token| async move {
            let Some(page_token) = token else {
                return Ok(None);
            };
            let req = pb::LiveServicesRequest {
                instance_id: instance.to_string(),
                page_size: 0,
                page_token: page_token.clone(),
            };
            let page: pb::LiveServicesResponse = self.request("", &req).await?;
            let next = match page.next_page_token {
                t if t.is_empty() => None,
                t if t == page_token => {
                    return Err(BusError::Decode {
                        what: "LiveServicesResponse",
                        reason: "the same page token twice".into(),
                    })
                }
                t => Some(t),
            };
            let services = futures::stream::iter(page.services.into_iter().map(Ok));
            Ok(Some((services, next)))
        })
        .try_flatten()
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
