//! The catalog's request/reply contract as types: each request names its
//! method and its response, so a caller cannot send a request on another
//! method's subject or expect another method's answer. This compiles:
//!
//! ```no_run
//! # async fn f(c: xregion_bus::CatalogClient) -> xregion_bus::Result<()> {
//! use xregion_proto::xregion::v1 as pb;
//! let _: pb::SyncService = c.request("t", &pb::GetSyncServiceRequest::default()).await?;
//! # Ok(()) }
//! ```
//!
//! and this does not:
//!
//! ```compile_fail
//! # async fn f(c: xregion_bus::CatalogClient) -> xregion_bus::Result<()> {
//! use xregion_proto::xregion::v1 as pb;
//! // GetSyncService answers a SyncService, not a list.
//! let _: pb::ListSyncServicesResponse = c.request("t", &pb::GetSyncServiceRequest::default()).await?;
//! # Ok(()) }
//! ```

use prost::Message;
use xregion_proto::xregion::v1 as pb;

use crate::error::Result;
use crate::names::methods;
use crate::rpc::CatalogClient;

/// A catalog request: its method's name and the type of its answer.
pub trait CatalogMethod: Message + Default {
    const METHOD: &'static str;
    type Response: Message + Default;
}

macro_rules! catalog_methods {
    ($($request:ty => $response:ty, $method:expr;)*) => {
        $(impl CatalogMethod for $request {
            const METHOD: &'static str = $method;
            type Response = $response;
        })*
    };
}

catalog_methods! {
    pb::Empty => pb::Empty, methods::PING;
    pb::ListEligibleInstancesRequest => pb::ListEligibleInstancesResponse, methods::LIST_ELIGIBLE_INSTANCES;
    pb::CreateSyncServiceRequest => pb::SyncService, methods::CREATE_SYNC_SERVICE;
    pb::GetSyncServiceRequest => pb::SyncService, methods::GET_SYNC_SERVICE;
    pb::ListSyncServicesRequest => pb::ListSyncServicesResponse, methods::LIST_SYNC_SERVICES;
    pb::DeleteSyncServiceRequest => pb::SyncService, methods::DELETE_SYNC_SERVICE;
    pb::ListSyncedBackupsRequest => pb::ListSyncedBackupsResponse, methods::LIST_SYNCED_BACKUPS;
    pb::GetRestoreWindowRequest => pb::RestoreWindow, methods::GET_RESTORE_WINDOW;
    pb::GetRestorePlanRequest => pb::RestorePlan, methods::GET_RESTORE_PLAN;
    pb::GetUsageRequest => pb::GetUsageResponse, methods::GET_USAGE;
    pb::PendingBackupsRequest => pb::PendingBackupsResponse, methods::PENDING_BACKUPS;
    pb::LiveServicesRequest => pb::LiveServicesResponse, methods::LIVE_SERVICES;
    pb::MarkSeedingRequest => pb::Empty, methods::MARK_SEEDING;
    pb::ServiceStatesRequest => pb::ServiceStatesResponse, methods::SERVICE_STATES;
    pb::ExpireBackupRequest => pb::Empty, methods::EXPIRE_BACKUP;
}

impl CatalogClient {
    /// Sends `request` on its own method as `tenant` (empty for services)
    /// and decodes its own answer type.
    pub async fn request<R: CatalogMethod>(
        &self,
        tenant: &str,
        request: &R,
    ) -> Result<R::Response> {
        self.call(R::METHOD, tenant, request).await
    }
}
