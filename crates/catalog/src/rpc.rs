//! Dispatches catalog requests (`<ns>.catalog.v1.<Method>`) to the catalog.

use prost::Message;
use xregion_bus::{methods, RpcError, RpcHandler};
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::{CatalogCall, ErrorCode};

use crate::error::CatalogError;
use crate::service::{instance_to_proto, Catalog};

pub struct CatalogRpc {
    pub catalog: Catalog,
    pub price_plan: crate::config::PricePlan,
}

fn decode<M: Message + Default>(call: &CatalogCall) -> Result<M, RpcError> {
    M::decode(call.request.as_slice()).map_err(|e| {
        RpcError::new(
            ErrorCode::InvalidArgument,
            format!("undecodable request: {e}"),
        )
    })
}

fn ok<M: Message>(m: M) -> Result<Vec<u8>, RpcError> {
    Ok(m.encode_to_vec())
}

#[async_trait::async_trait]
impl RpcHandler for CatalogRpc {
    #[tracing::instrument(skip_all, fields(method, tenant = %call.tenant_id))]
    async fn call(&self, method: &str, call: CatalogCall) -> Result<Vec<u8>, RpcError> {
        let c = &self.catalog;
        let tenant = call.tenant_id.as_str();
        let result: Result<Vec<u8>, CatalogError> = match method {
            methods::PING => return ok(pb::Empty {}),
            methods::LIST_ELIGIBLE_INSTANCES => {
                let req: pb::ListEligibleInstancesRequest = decode(&call)?;
                c.eligible_instances(tenant, &req).await.map(|rows| {
                    pb::ListEligibleInstancesResponse {
                        instances: rows.iter().map(instance_to_proto).collect(),
                    }
                    .encode_to_vec()
                })
            }
            methods::CREATE_SYNC_SERVICE => {
                let req: pb::CreateSyncServiceRequest = decode(&call)?;
                c.create_service(tenant, &req)
                    .await
                    .map(|row| c.to_proto(&row).encode_to_vec())
            }
            methods::GET_SYNC_SERVICE => {
                let req: pb::GetSyncServiceRequest = decode(&call)?;
                c.get_service(tenant, &req.id)
                    .await
                    .map(|row| c.to_proto(&row).encode_to_vec())
            }
            methods::LIST_SYNC_SERVICES => {
                let req: pb::ListSyncServicesRequest = decode(&call)?;
                c.list_services(tenant, &req).await.map(|(rows, next)| {
                    pb::ListSyncServicesResponse {
                        services: rows.iter().map(|r| c.to_proto(r)).collect(),
                        next_page_token: next,
                    }
                    .encode_to_vec()
                })
            }
            methods::DELETE_SYNC_SERVICE => {
                let req: pb::DeleteSyncServiceRequest = decode(&call)?;
                c.delete_service(tenant, &req.id, pb::DeleteReason::UserRequest)
                    .await
                    .map(|row| c.to_proto(&row).encode_to_vec())
            }
            methods::LIST_SYNCED_BACKUPS => {
                let req: pb::ListSyncedBackupsRequest = decode(&call)?;
                c.list_synced(tenant, &req).await.map(|r| r.encode_to_vec())
            }
            methods::GET_RESTORE_WINDOW => {
                let req: pb::GetRestoreWindowRequest = decode(&call)?;
                c.window(tenant, &req.service_id)
                    .await
                    .map(|r| r.encode_to_vec())
            }
            methods::GET_USAGE => {
                let req: pb::GetUsageRequest = decode(&call)?;
                c.usage(tenant, &req, &self.price_plan)
                    .await
                    .map(|r| r.encode_to_vec())
            }
            methods::GET_RESTORE_PLAN => {
                let req: pb::GetRestorePlanRequest = decode(&call)?;
                c.plan(tenant, &req).await.map(|r| r.encode_to_vec())
            }
            // Internal methods: only services call them, never on a tenant's behalf.
            methods::PENDING_BACKUPS
            | methods::LIVE_SERVICES
            | methods::MARK_SEEDING
            | methods::SERVICE_STATES
            | methods::EXPIRE_BACKUP
                if !tenant.is_empty() =>
            {
                return Err(RpcError::new(
                    ErrorCode::PermissionDenied,
                    format!("{method} is internal"),
                ));
            }
            methods::PENDING_BACKUPS => {
                let req: pb::PendingBackupsRequest = decode(&call)?;
                c.pending_backups(&req).await.map(|r| r.encode_to_vec())
            }
            methods::LIVE_SERVICES => {
                let req: pb::LiveServicesRequest = decode(&call)?;
                c.live_services(&req)
                    .await
                    .map(|(services, next_page_token)| {
                        pb::LiveServicesResponse {
                            services,
                            next_page_token,
                        }
                        .encode_to_vec()
                    })
            }
            methods::MARK_SEEDING => {
                let req: pb::MarkSeedingRequest = decode(&call)?;
                c.mark_seeding(&req.service_id, &req.waiting_reason)
                    .await
                    .map(|()| pb::Empty {}.encode_to_vec())
            }
            methods::SERVICE_STATES => {
                let req: pb::ServiceStatesRequest = decode(&call)?;
                c.service_states(&req.service_ids)
                    .await
                    .map(|statuses| pb::ServiceStatesResponse { statuses }.encode_to_vec())
            }
            methods::EXPIRE_BACKUP => {
                let req: pb::ExpireBackupRequest = decode(&call)?;
                c.expire_backup(&req)
                    .await
                    .map(|()| pb::Empty {}.encode_to_vec())
            }
            other => {
                return Err(RpcError::new(
                    ErrorCode::Unspecified,
                    format!("method {other} is not implemented"),
                ))
            }
        };
        result.map_err(RpcError::from)
    }
}
