//! The catalog's handlers, one per request type of the contract
//! (`xregion_bus::contract`): each gets its decoded request and answers its
//! method's response. Which methods are internal, and the refusal of a
//! tenant on them, is the contract's dispatch, not this file's.

use std::sync::Arc;

use xregion_bus::{CatalogClient, CatalogService, RpcError};
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

#[async_trait::async_trait]
impl CatalogService for CatalogRpc {
    async fn ping(&self, _tenant: &str, _request: pb::Empty) -> Answer<pb::Empty> {
        Ok(pb::Empty {})
    }

    async fn list_eligible_instances(
        &self,
        tenant: &str,
        request: pb::ListEligibleInstancesRequest,
    ) -> Answer<pb::ListEligibleInstancesResponse> {
        let rows = self.catalog.eligible_instances(tenant, &request).await?;
        Ok(pb::ListEligibleInstancesResponse {
            instances: rows.iter().map(instance_to_proto).collect(),
        })
    }

    async fn create_sync_service(
        &self,
        tenant: &str,
        request: pb::CreateSyncServiceRequest,
    ) -> Answer<pb::SyncService> {
        let row = self.catalog.create_service(tenant, &request).await?;
        Ok(self.catalog.to_proto(&row))
    }

    async fn get_sync_service(
        &self,
        tenant: &str,
        request: pb::GetSyncServiceRequest,
    ) -> Answer<pb::SyncService> {
        let row = self.catalog.get_service(tenant, &request.id).await?;
        Ok(self.catalog.to_proto(&row))
    }

    async fn list_sync_services(
        &self,
        tenant: &str,
        request: pb::ListSyncServicesRequest,
    ) -> Answer<pb::ListSyncServicesResponse> {
        let (rows, next_page_token) = self.catalog.list_services(tenant, &request).await?;
        Ok(pb::ListSyncServicesResponse {
            services: rows.iter().map(|r| self.catalog.to_proto(r)).collect(),
            next_page_token,
        })
    }

    async fn delete_sync_service(
        &self,
        tenant: &str,
        request: pb::DeleteSyncServiceRequest,
    ) -> Answer<pb::SyncService> {
        let row = self
            .catalog
            .delete_service(tenant, &request.id, pb::DeleteReason::UserRequest)
            .await?;
        Ok(self.catalog.to_proto(&row))
    }

    async fn list_synced_backups(
        &self,
        tenant: &str,
        request: pb::ListSyncedBackupsRequest,
    ) -> Answer<pb::ListSyncedBackupsResponse> {
        Ok(self.catalog.list_synced(tenant, &request).await?)
    }

    async fn get_restore_window(
        &self,
        tenant: &str,
        request: pb::GetRestoreWindowRequest,
    ) -> Answer<pb::RestoreWindow> {
        Ok(self.catalog.window(tenant, &request.service_id).await?)
    }

    async fn get_restore_plan(
        &self,
        tenant: &str,
        request: pb::GetRestorePlanRequest,
    ) -> Answer<pb::RestorePlan> {
        Ok(self.catalog.plan(tenant, &request).await?)
    }

    async fn get_usage(
        &self,
        tenant: &str,
        request: pb::GetUsageRequest,
    ) -> Answer<pb::GetUsageResponse> {
        Ok(self
            .catalog
            .usage(tenant, &request, &self.price_plan)
            .await?)
    }

    async fn pending_backups(
        &self,
        request: pb::PendingBackupsRequest,
    ) -> Answer<pb::PendingBackupsResponse> {
        Ok(self.catalog.pending_backups(&request).await?)
    }

    async fn live_services(
        &self,
        request: pb::LiveServicesRequest,
    ) -> Answer<pb::LiveServicesResponse> {
        let (services, next_page_token) = self.catalog.live_services(&request).await?;
        Ok(pb::LiveServicesResponse {
            services,
            next_page_token,
        })
    }

    async fn mark_seeding(&self, request: pb::MarkSeedingRequest) -> Answer<pb::Empty> {
        self.catalog
            .mark_seeding(&request.service_id, &request.waiting_reason)
            .await?;
        Ok(pb::Empty {})
    }

    async fn service_states(
        &self,
        request: pb::ServiceStatesRequest,
    ) -> Answer<pb::ServiceStatesResponse> {
        let statuses = self.catalog.service_states(&request.service_ids).await?;
        Ok(pb::ServiceStatesResponse { statuses })
    }

    async fn expire_backup(&self, request: pb::ExpireBackupRequest) -> Answer<pb::Empty> {
        self.catalog.expire_backup(&request).await?;
        Ok(pb::Empty {})
    }
}
