//! The `CrossRegionBackupService` implementation.

use tonic::{Request, Response, Status};
use xregion_bus::{CatalogClient, CatalogMethod, Namespace};
use xregion_common::Regions;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::cross_region_backup_service_server::CrossRegionBackupService;

use crate::auth::Authenticator;
use crate::error::{invalid, status};
use crate::watch::WatchStream;

pub struct Gateway {
    pub auth: Authenticator,
    pub catalog: CatalogClient,
    pub regions: Regions,
    pub nats: async_nats::Client,
    pub ns: Namespace,
    pub watches: std::sync::Arc<crate::watch_slots::WatchSlots>,
}

impl Gateway {
    /// Authenticates, then validates with `check`, then forwards: an
    /// unauthenticated caller learns nothing about what a valid request is.
    async fn forward<Req: CatalogMethod>(
        &self,
        request: Request<Req>,
        check: impl FnOnce(&Req) -> Result<(), Status>,
    ) -> Result<Response<Req::Response>, Status> {
        let tenant = self.auth.tenant(request.metadata())?;
        check(request.get_ref())?;
        let resp = self
            .catalog
            .request(&tenant, request.get_ref())
            .await
            .map_err(status)?;
        Ok(Response::new(resp))
    }

    async fn regions(
        &self,
        request: Request<pb::ListRegionsRequest>,
    ) -> Result<Response<pb::ListRegionsResponse>, Status> {
        self.auth.tenant(request.metadata())?;
        let regions = self
            .regions
            .configs()
            .iter()
            .map(|r| pb::Region {
                id: r.id.clone(),
                display_name: if r.display_name.is_empty() {
                    r.id.clone()
                } else {
                    r.display_name.clone()
                },
            })
            .collect();
        Ok(Response::new(pb::ListRegionsResponse { regions }))
    }
}

/// For the requests whose every field the catalog checks itself.
fn unchecked<Req>(_: &Req) -> Result<(), Status> {
    Ok(())
}

pub(crate) fn check_id(field: &'static str, value: &str) -> Result<(), Status> {
    xregion_domain::ids::validate_id(field, value).map_err(invalid)
}

fn check_plan_request(r: &pb::GetRestorePlanRequest) -> Result<(), Status> {
    check_id("service_id", &r.service_id)?;
    if r.restore_time.is_none() {
        return Err(invalid(xregion_domain::DomainError::invalid(
            "restore_time",
            "must be set",
        )));
    }
    Ok(())
}

/// The handlers of the service differ only in their types, their tracing
/// fields and the inherent method that does the work (most forward to the
/// catalog with a check of their own). `#[tonic::async_trait]` must see the
/// whole impl, so one macro writes it from a line a handler.
macro_rules! service_impl {
    (
        type $stream:ident = $stream_ty:ty;
        $(
            $(#[$attr:meta])*
            fn $name:ident($request:ident: $req:ty) -> $resp:ty => $method:ident$(($($arg:expr),*))?;
        )*
    ) => {
        #[tonic::async_trait]
        impl CrossRegionBackupService for Gateway {
            type $stream = $stream_ty;
            $(
                $(#[$attr])*
                async fn $name(&self, $request: Request<$req>) -> Result<Response<$resp>, Status> {
                    self.$method($request $($(, $arg)*)?).await
                }
            )*
        }
    };
}

service_impl! {
    type WatchSyncServiceStream = WatchStream;

    #[tracing::instrument(skip_all)]
    fn list_regions(request: pb::ListRegionsRequest) -> pb::ListRegionsResponse => regions;

    #[tracing::instrument(skip_all)]
    fn list_eligible_instances(request: pb::ListEligibleInstancesRequest)
        -> pb::ListEligibleInstancesResponse => forward(unchecked);

    #[tracing::instrument(skip_all, fields(instance = %request.get_ref().source_instance_id))]
    fn create_sync_service(request: pb::CreateSyncServiceRequest)
        -> pb::SyncService => forward(unchecked);

    #[tracing::instrument(skip_all, fields(id = %request.get_ref().id))]
    fn get_sync_service(request: pb::GetSyncServiceRequest)
        -> pb::SyncService => forward(|r| check_id("id", &r.id));

    #[tracing::instrument(skip_all)]
    fn list_sync_services(request: pb::ListSyncServicesRequest)
        -> pb::ListSyncServicesResponse => forward(unchecked);

    #[tracing::instrument(skip_all, fields(id = %request.get_ref().id))]
    fn delete_sync_service(request: pb::DeleteSyncServiceRequest)
        -> pb::SyncService => forward(|r| check_id("id", &r.id));

    // The mask and the retention are the catalog's to check, with the
    // service's state, in the transaction that writes.
    #[tracing::instrument(skip_all, fields(id = %request.get_ref().id))]
    fn update_sync_service(request: pb::UpdateSyncServiceRequest)
        -> pb::SyncService => forward(|r| check_id("id", &r.id));

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service_id))]
    fn list_synced_backups(request: pb::ListSyncedBackupsRequest)
        -> pb::ListSyncedBackupsResponse => forward(|r| check_id("service_id", &r.service_id));

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service_id))]
    fn get_restore_window(request: pb::GetRestoreWindowRequest)
        -> pb::RestoreWindow => forward(|r| check_id("service_id", &r.service_id));

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service_id))]
    fn get_restore_plan(request: pb::GetRestorePlanRequest)
        -> pb::RestorePlan => forward(check_plan_request);

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service_id))]
    fn watch_sync_service(request: pb::WatchSyncServiceRequest) -> WatchStream => watch;

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service_id))]
    fn get_usage(request: pb::GetUsageRequest)
        -> pb::GetUsageResponse => forward(|r| check_id("service_id", &r.service_id));
}
