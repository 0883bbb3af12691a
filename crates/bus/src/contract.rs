//! The catalog's request/reply contract as types: each request names its
//! method, whether it is internal, and its response, so a caller cannot send
//! a request on another method's subject or expect another method's answer.
//! The same table declares the catalog's side ([`CatalogService`], one
//! handler per request type) and its [`dispatch`], so a handler that answers
//! with another type does not compile either. This compiles:
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
use xregion_proto::xregion::v1::{CatalogCall, ErrorCode};

use crate::error::Result;
use crate::names::methods;
use crate::rpc::{CatalogClient, RpcError};

/// A catalog request: its method's name, its kind and the type of its answer.
pub trait CatalogMethod: Message + Default + Send + 'static {
    const METHOD: &'static str;
    /// Only services call it, never on a tenant's behalf: it travels on its
    /// own subject (`<ns>.catalog.internal.v1.<Method>`), which the
    /// gateway's NATS identity may not publish to, and the catalog refuses
    /// it with a tenant.
    const INTERNAL: bool;
    type Response: Message + Default;
}

fn decode<M: Message + Default>(request: &[u8]) -> std::result::Result<M, RpcError> {
    M::decode(request).map_err(|e| {
        RpcError::new(
            ErrorCode::InvalidArgument,
            format!("undecodable request: {e}"),
        )
    })
}

macro_rules! catalog_methods {
    (
        tenant { $($t_fn:ident($t_req:ty) -> $t_resp:ty = $t_method:expr;)* }
        internal { $($i_fn:ident($i_req:ty) -> $i_resp:ty = $i_method:expr;)* }
    ) => {
        $(impl CatalogMethod for $t_req {
            const METHOD: &'static str = $t_method;
            const INTERNAL: bool = false;
            type Response = $t_resp;
        })*
        $(impl CatalogMethod for $i_req {
            const METHOD: &'static str = $i_method;
            const INTERNAL: bool = true;
            type Response = $i_resp;
        })*

        /// The catalog's side of the contract: one handler per request type,
        /// given the decoded request and answering that request's response.
        /// Internal handlers get no tenant: [`dispatch`] refuses a call
        /// that names one.
        #[async_trait::async_trait]
        pub trait CatalogService: Send + Sync + 'static {
            $(async fn $t_fn(
                &self,
                tenant: &str,
                request: $t_req,
            ) -> std::result::Result<<$t_req as CatalogMethod>::Response, RpcError>;)*
            $(async fn $i_fn(
                &self,
                request: $i_req,
            ) -> std::result::Result<<$i_req as CatalogMethod>::Response, RpcError>;)*
        }

        /// Decodes `call` as `method`'s request, runs its handler and
        /// encodes the answer: what the catalog does with every request,
        /// from NATS or in process.
        #[tracing::instrument(skip_all, fields(method = %method, tenant = %call.tenant_id))]
        pub async fn dispatch<S: CatalogService + ?Sized>(
            service: &S,
            method: &str,
            call: CatalogCall,
        ) -> std::result::Result<Vec<u8>, RpcError> {
            $(if method == <$t_req as CatalogMethod>::METHOD {
                let request: $t_req = decode(&call.request)?;
                return service
                    .$t_fn(&call.tenant_id, request)
                    .await
                    .map(|r| r.encode_to_vec());
            })*
            $(if method == <$i_req as CatalogMethod>::METHOD {
                if !call.tenant_id.is_empty() {
                    return Err(RpcError::new(
                        ErrorCode::PermissionDenied,
                        format!("{method} is internal"),
                    ));
                }
                let request: $i_req = decode(&call.request)?;
                return service.$i_fn(request).await.map(|r| r.encode_to_vec());
            })*
            Err(RpcError::new(
                ErrorCode::Unspecified,
                format!("method {method} is not implemented"),
            ))
        }

        /// Whether `method` is one of the internal methods (an unknown
        /// method is not).
        pub fn is_internal(method: &str) -> bool {
            [$(<$i_req as CatalogMethod>::METHOD),*].contains(&method)
        }

        /// Whether the catalog serves `method` at all.
        pub fn is_known(method: &str) -> bool {
            is_internal(method) || [$(<$t_req as CatalogMethod>::METHOD),*].contains(&method)
        }
    };
}

catalog_methods! {
    tenant {
        ping(pb::Empty) -> pb::Empty = methods::PING;
        list_eligible_instances(pb::ListEligibleInstancesRequest) -> pb::ListEligibleInstancesResponse
            = methods::LIST_ELIGIBLE_INSTANCES;
        create_sync_service(pb::CreateSyncServiceRequest) -> pb::SyncService
            = methods::CREATE_SYNC_SERVICE;
        get_sync_service(pb::GetSyncServiceRequest) -> pb::SyncService = methods::GET_SYNC_SERVICE;
        list_sync_services(pb::ListSyncServicesRequest) -> pb::ListSyncServicesResponse
            = methods::LIST_SYNC_SERVICES;
        delete_sync_service(pb::DeleteSyncServiceRequest) -> pb::SyncService
            = methods::DELETE_SYNC_SERVICE;
        update_sync_service(pb::UpdateSyncServiceRequest) -> pb::SyncService
            = methods::UPDATE_SYNC_SERVICE;
        list_synced_backups(pb::ListSyncedBackupsRequest) -> pb::ListSyncedBackupsResponse
            = methods::LIST_SYNCED_BACKUPS;
        get_restore_window(pb::GetRestoreWindowRequest) -> pb::RestoreWindow
            = methods::GET_RESTORE_WINDOW;
        get_restore_plan(pb::GetRestorePlanRequest) -> pb::RestorePlan = methods::GET_RESTORE_PLAN;
        get_usage(pb::GetUsageRequest) -> pb::GetUsageResponse = methods::GET_USAGE;
    }
    internal {
        pending_backups(pb::PendingBackupsRequest) -> pb::PendingBackupsResponse
            = methods::PENDING_BACKUPS;
        live_services(pb::LiveServicesRequest) -> pb::LiveServicesResponse = methods::LIVE_SERVICES;
        mark_seeding(pb::MarkSeedingRequest) -> pb::Empty = methods::MARK_SEEDING;
        service_states(pb::ServiceStatesRequest) -> pb::ServiceStatesResponse
            = methods::SERVICE_STATES;
        expire_backup(pb::ExpireBackupRequest) -> pb::Empty = methods::EXPIRE_BACKUP;
        record_drill(pb::RecordDrillRequest) -> pb::Empty = methods::RECORD_DRILL;
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_of_a_method_is_its_request_types() {
        const { assert!(pb::LiveServicesRequest::INTERNAL) };
        assert!(is_internal(methods::LIVE_SERVICES));
        assert!(is_internal(methods::EXPIRE_BACKUP));
        const { assert!(!pb::GetSyncServiceRequest::INTERNAL) };
        assert!(!is_internal(methods::GET_SYNC_SERVICE));
        assert!(!is_internal("NoSuchMethod"));
    }
}
