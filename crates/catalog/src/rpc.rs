//! The catalog's handlers, one per request type of the contract
//! (`xregion_bus::contract`): each gets its decoded request and answers its
//! method's response. Which methods are internal, and the refusal of a
//! tenant on them, is the contract's dispatch, not this file's.

use std::sync::Arc;

use xregion_bus::{CatalogClient, CatalogMethod, CatalogService, RpcError};
use xregion_proto::xregion::v1 as pb;

use crate::config::PricePlan;
use crate::service::{instance_to_proto, Catalog};

type Answer<T> = Result<T, RpcError>;

pub struct CatalogRpc {
    pub catalog: Catalog,
    pub price_plan: PricePlan,
}

/// A client whose requests `catalog` answers in this process, through the
/// same handlers NATS requests reach: for unit tests of the services.
pub fn local_client(catalog: Catalog) -> CatalogClient {
    CatalogClient::in_process(Arc::new(CatalogRpc {
        catalog,
        price_plan: PricePlan::default(),
    }))
}

/// The catalog's side of the contract, one line a handler:
/// `method(request) = |rpc, tenant, request| answer` (internal methods get
/// no tenant). The answer may use `?` on the catalog's errors; the response
/// type is the one the contract gives the request.
macro_rules! handlers {
    (
        tenant { $($t_fn:ident($t_req:ident) = |$t_rpc:ident, $tenant:ident, $t_r:ident| $t_answer:expr;)* }
        internal { $($i_fn:ident($i_req:ident) = |$i_rpc:ident, $i_r:ident| $i_answer:expr;)* }
    ) => {
        #[async_trait::async_trait]
        impl CatalogService for CatalogRpc {
            $(async fn $t_fn(
                &self,
                $tenant: &str,
                $t_r: pb::$t_req,
            ) -> Answer<<pb::$t_req as CatalogMethod>::Response> {
                let $t_rpc = self;
                Ok($t_answer)
            })*
            $(async fn $i_fn(&self, $i_r: pb::$i_req) -> Answer<<pb::$i_req as CatalogMethod>::Response> {
                let $i_rpc = self;
                Ok($i_answer)
            })*
        }
    };
}

handlers! {
    tenant {
        ping(Empty) = |_rpc, _tenant, _r| pb::Empty {};
        list_eligible_instances(ListEligibleInstancesRequest) = |rpc, tenant, r| {
            let rows = rpc.catalog.eligible_instances(tenant, &r).await?;
            pb::ListEligibleInstancesResponse {
                instances: rows.iter().map(instance_to_proto).collect(),
            }
        };
        create_sync_service(CreateSyncServiceRequest) = |rpc, tenant, r| {
            rpc.catalog.to_proto(&rpc.catalog.create_service(tenant, &r).await?)
        };
        get_sync_service(GetSyncServiceRequest) = |rpc, tenant, r| {
            rpc.catalog.to_proto(&rpc.catalog.get_service(tenant, &r.id).await?)
        };
        list_sync_services(ListSyncServicesRequest) = |rpc, tenant, r| {
            let (rows, next_page_token) = rpc.catalog.list_services(tenant, &r).await?;
            pb::ListSyncServicesResponse {
                services: rows.iter().map(|row| rpc.catalog.to_proto(row)).collect(),
                next_page_token,
            }
        };
        delete_sync_service(DeleteSyncServiceRequest) = |rpc, tenant, r| {
            let reason = pb::DeleteReason::UserRequest;
            rpc.catalog.to_proto(&rpc.catalog.delete_service(tenant, &r.id, reason).await?)
        };
        update_sync_service(UpdateSyncServiceRequest) = |rpc, tenant, r| {
            rpc.catalog.to_proto(&rpc.catalog.update_service(tenant, &r).await?)
        };
        list_synced_backups(ListSyncedBackupsRequest) = |rpc, tenant, r| {
            rpc.catalog.list_synced(tenant, &r).await?
        };
        get_restore_window(GetRestoreWindowRequest) = |rpc, tenant, r| {
            rpc.catalog.window(tenant, &r.service_id).await?
        };
        get_restore_plan(GetRestorePlanRequest) = |rpc, tenant, r| {
            rpc.catalog.plan(tenant, &r).await?
        };
        get_usage(GetUsageRequest) = |rpc, tenant, r| {
            rpc.catalog.usage(tenant, &r, &rpc.price_plan).await?
        };
    }
    internal {
        pending_backups(PendingBackupsRequest) = |rpc, r| rpc.catalog.pending_backups(&r).await?;
        live_services(LiveServicesRequest) = |rpc, r| {
            let (services, next_page_token) = rpc.catalog.live_services(&r).await?;
            pb::LiveServicesResponse {
                services,
                next_page_token,
            }
        };
        mark_seeding(MarkSeedingRequest) = |rpc, r| {
            rpc.catalog.mark_seeding(&r.service_id, &r.waiting_reason).await?;
            pb::Empty {}
        };
        service_states(ServiceStatesRequest) = |rpc, r| pb::ServiceStatesResponse {
            statuses: rpc.catalog.service_states(&r.service_ids).await?,
        };
        expire_backup(ExpireBackupRequest) = |rpc, r| {
            rpc.catalog.expire_backup(&r).await?;
            pb::Empty {}
        };
        record_drill(RecordDrillRequest) = |rpc, r| {
            rpc.catalog.record_drill(&r).await?;
            pb::Empty {}
        };
    }
}
