//! The `CrossRegionBackupService` implementation.

use std::collections::HashMap;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use prost::Message;
use tonic::{Request, Response, Status};
use xregion_bus::{CatalogClient, CatalogMethod, EventSubject, Namespace};
use xregion_common::Regions;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::cross_region_backup_service_server::CrossRegionBackupService;

use crate::auth::Authenticator;
use crate::error::{invalid, status, unavailable};

pub struct Gateway {
    pub auth: Authenticator,
    pub catalog: CatalogClient,
    pub regions: Regions,
    pub nats: async_nats::Client,
    pub ns: Namespace,
}

impl Gateway {
    async fn forward<Req: CatalogMethod>(
        &self,
        request: Request<Req>,
    ) -> Result<Response<Req::Response>, Status> {
        self.forward_checked(request, |_| Ok(())).await
    }

    /// Authenticates, then validates with `check`, then forwards: an
    /// unauthenticated caller learns nothing about what a valid request is.
    async fn forward_checked<Req: CatalogMethod>(
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
}

fn check_id(field: &'static str, value: &str) -> Result<(), Status> {
    xregion_domain::ids::validate_id(field, value).map_err(invalid)
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEvent, Status>> + Send>>;

#[tonic::async_trait]
impl CrossRegionBackupService for Gateway {
    #[tracing::instrument(skip_all)]
    async fn list_regions(
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

    #[tracing::instrument(skip_all)]
    async fn list_eligible_instances(
        &self,
        request: Request<pb::ListEligibleInstancesRequest>,
    ) -> Result<Response<pb::ListEligibleInstancesResponse>, Status> {
        self.forward(request).await
    }

    #[tracing::instrument(skip_all, fields(instance = %request.get_ref().source_instance_id))]
    async fn create_sync_service(
        &self,
        request: Request<pb::CreateSyncServiceRequest>,
    ) -> Result<Response<pb::SyncService>, Status> {
        self.forward(request).await
    }

    #[tracing::instrument(skip_all, fields(id = %request.get_ref().id))]
    async fn get_sync_service(
        &self,
        request: Request<pb::GetSyncServiceRequest>,
    ) -> Result<Response<pb::SyncService>, Status> {
        self.forward_checked(request, |r| check_id("id", &r.id))
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn list_sync_services(
        &self,
        request: Request<pb::ListSyncServicesRequest>,
    ) -> Result<Response<pb::ListSyncServicesResponse>, Status> {
        self.forward(request).await
    }

    #[tracing::instrument(skip_all, fields(id = %request.get_ref().id))]
    async fn delete_sync_service(
        &self,
        request: Request<pb::DeleteSyncServiceRequest>,
    ) -> Result<Response<pb::SyncService>, Status> {
        let tenant = self.auth.tenant(request.metadata())?;
        check_id("id", &request.get_ref().id)?;
        let resp = self
            .catalog
            .request(&tenant, request.get_ref())
            .await
            .map_err(status)?;
        Ok(Response::new(resp))
    }

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service_id))]
    async fn list_synced_backups(
        &self,
        request: Request<pb::ListSyncedBackupsRequest>,
    ) -> Result<Response<pb::ListSyncedBackupsResponse>, Status> {
        self.forward_checked(request, |r| check_id("service_id", &r.service_id))
            .await
    }

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service_id))]
    async fn get_restore_window(
        &self,
        request: Request<pb::GetRestoreWindowRequest>,
    ) -> Result<Response<pb::RestoreWindow>, Status> {
        self.forward_checked(request, |r| check_id("service_id", &r.service_id))
            .await
    }

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service_id))]
    async fn get_restore_plan(
        &self,
        request: Request<pb::GetRestorePlanRequest>,
    ) -> Result<Response<pb::RestorePlan>, Status> {
        self.forward_checked(request, |r| {
            check_id("service_id", &r.service_id)?;
            if r.restore_time.is_none() {
                return Err(Status::invalid_argument(
                    "invalid restore_time: must be set",
                ));
            }
            Ok(())
        })
        .await
    }

    type WatchSyncServiceStream = WatchStream;

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service_id))]
    async fn watch_sync_service(
        &self,
        request: Request<pb::WatchSyncServiceRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let tenant = self.auth.tenant(request.metadata())?;
        let only = request.into_inner().service_id;
        if !only.is_empty() {
            check_id("service_id", &only)?;
            self.catalog
                .request(&tenant, &pb::GetSyncServiceRequest { id: only.clone() })
                .await
                .map_err(status)?;
        }
        let only = (!only.is_empty()).then_some(only);
        let subscribe = |subject: String| {
            let nats = self.nats.clone();
            async move {
                nats.subscribe(subject)
                    .await
                    .map_err(|e| unavailable("cannot subscribe", e))
            }
        };
        let progress = subscribe(self.ns.progress_filter(only.as_deref())).await?;
        let events = subscribe(self.ns.events_filter()).await?;
        let mut filter = WatchFilter {
            tenant,
            only,
            known: HashMap::new(),
            catalog: self.catalog.clone(),
        };
        let ns = self.ns.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            let mut merged = futures::stream::select(progress, events);
            loop {
                let msg = tokio::select! {
                    _ = tx.closed() => break,
                    msg = merged.next() => match msg { Some(m) => m, None => break },
                };
                let Some((service_id, tenant_hint, event)) =
                    decode_watch_event(&ns, &msg.subject, &msg.payload)
                else {
                    continue;
                };
                if filter.allows(&service_id, tenant_hint.as_deref()).await
                    && tx.send(Ok(event)).await.is_err()
                {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service_id))]
    async fn get_usage(
        &self,
        request: Request<pb::GetUsageRequest>,
    ) -> Result<Response<pb::GetUsageResponse>, Status> {
        self.forward_checked(request, |r| check_id("service_id", &r.service_id))
            .await
    }
}

/// Decides which events a watcher may see: only its tenant's services.
struct WatchFilter {
    tenant: String,
    only: Option<String>,
    known: HashMap<String, bool>,
    catalog: CatalogClient,
}

impl WatchFilter {
    async fn allows(&mut self, service_id: &str, tenant_hint: Option<&str>) -> bool {
        if let Some(only) = &self.only {
            return only == service_id;
        }
        if let Some(t) = tenant_hint {
            return t == self.tenant;
        }
        if let Some(known) = self.known.get(service_id) {
            return *known;
        }
        let req = pb::GetSyncServiceRequest {
            id: service_id.to_string(),
        };
        let owned = self.catalog.request(&self.tenant, &req).await.is_ok();
        self.known.insert(service_id.to_string(), owned);
        owned
    }
}

/// The service id, the tenant when the event names it, and the event.
fn decode_watch_event(
    ns: &Namespace,
    subject: &str,
    payload: &[u8],
) -> Option<(String, Option<String>, pb::WatchEvent)> {
    use pb::watch_event::Event;
    let wrap = |e: Event| pb::WatchEvent { event: Some(e) };
    match ns.event_of(subject) {
        Some(EventSubject::ServiceStateChanged) => {
            let e = pb::ServiceStateChanged::decode(payload).ok()?;
            Some((
                e.service_id.clone(),
                Some(e.tenant_id.clone()),
                wrap(Event::StateChanged(e)),
            ))
        }
        Some(EventSubject::BackupSynced) => {
            let e = pb::BackupSynced::decode(payload).ok()?;
            let svc = e.service.clone()?;
            Some((svc.service_id, Some(svc.tenant_id), wrap(Event::Synced(e))))
        }
        Some(EventSubject::BackupFailed) => {
            let e = pb::BackupSyncFailed::decode(payload).ok()?;
            let svc = e.service.clone()?;
            Some((svc.service_id, Some(svc.tenant_id), wrap(Event::Failed(e))))
        }
        Some(_) => None,
        None => {
            let e = pb::TransferProgress::decode(payload).ok()?;
            Some((e.service_id.clone(), None, wrap(Event::Progress(e))))
        }
    }
}
