//! The JSON endpoints: each is one (or, for the list, a few) calls of the
//! gRPC handlers, so the caller's tenant and the API's checks apply.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tonic::Status;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::cross_region_backup_service_server::CrossRegionBackupService;

use super::{grpc, json, json_body, ApiError, Dashboard};

/// A page of the list; the dashboard reads at most `MAX_PAGES` of them.
const PAGE_SIZE: u32 = 200;
const MAX_PAGES: usize = 25;

type Result<T> = std::result::Result<T, ApiError>;

/// Who the token is: the page shows the tenant it is signed in as.
pub async fn me(State(d): State<Dashboard>, headers: HeaderMap) -> Result<Response> {
    let request = grpc(&headers, ());
    let tenant = d.gateway.auth.tenant(request.metadata())?;
    Ok(json_body(&json!({ "tenant": tenant })))
}

pub async fn regions(State(d): State<Dashboard>, headers: HeaderMap) -> Result<Response> {
    let r = d
        .gateway
        .list_regions(grpc(&headers, pb::ListRegionsRequest {}))
        .await?;
    Ok(json_body(&json::regions(r.get_ref())))
}

pub async fn instances(
    State(d): State<Dashboard>,
    headers: HeaderMap,
    Path((engine, region)): Path<(String, String)>,
) -> Result<Response> {
    let engine = json::engine_from_name(&engine).unwrap_or(pb::Engine::Unspecified);
    let request = pb::ListEligibleInstancesRequest {
        engine: engine as i32,
        source_region: region,
    };
    let r = d
        .gateway
        .list_eligible_instances(grpc(&headers, request))
        .await?;
    let ids: Vec<&str> = r
        .get_ref()
        .instances
        .iter()
        .map(|i| i.id.as_str())
        .collect();
    Ok(json_body(&json!({ "instances": ids })))
}

/// Every service of the tenant (deleted ones left out), page after page.
pub async fn list(State(d): State<Dashboard>, headers: HeaderMap) -> Result<Response> {
    let mut services = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MAX_PAGES {
        let request = pb::ListSyncServicesRequest {
            page_size: PAGE_SIZE,
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page = d
            .gateway
            .list_sync_services(grpc(&headers, request))
            .await?
            .into_inner();
        services.extend(page.services.iter().map(json::service));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(json_body(&json!({ "services": services })))
}

pub async fn get(
    State(d): State<Dashboard>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let request = pb::GetSyncServiceRequest { id };
    let s = d.gateway.get_sync_service(grpc(&headers, request)).await?;
    Ok(json_body(&json::service(s.get_ref())))
}

pub async fn window(
    State(d): State<Dashboard>,
    headers: HeaderMap,
    Path(service_id): Path<String>,
) -> Result<Response> {
    let request = pb::GetRestoreWindowRequest { service_id };
    let w = d
        .gateway
        .get_restore_window(grpc(&headers, request))
        .await?;
    Ok(json_body(&json::window(w.get_ref())))
}

/// The create dialog's fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateForm {
    instance_id: String,
    engine: String,
    source_region: String,
    target_region: String,
    #[serde(default)]
    retention_days: Option<u32>,
    /// Makes a retried create (a double click, a lost reply) one service.
    #[serde(default)]
    request_id: String,
}

pub async fn create(
    State(d): State<Dashboard>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    // Who calls comes before what they send, as on the gRPC side.
    d.gateway.auth.tenant(grpc(&headers, ()).metadata())?;
    let form: CreateForm = serde_json::from_slice(&body)
        .map_err(|e| Status::invalid_argument(format!("invalid body: {e}")))?;
    let engine = json::engine_from_name(&form.engine)
        .ok_or_else(|| Status::invalid_argument("invalid engine: must be MYSQL or SQLSERVER"))?;
    let request = pb::CreateSyncServiceRequest {
        engine: engine as i32,
        source_region: form.source_region,
        source_instance_id: form.instance_id,
        target_region: form.target_region,
        retention_days: form.retention_days,
        request_id: form.request_id,
    };
    let s = d
        .gateway
        .create_sync_service(grpc(&headers, request))
        .await?;
    Ok((StatusCode::CREATED, json_body(&json::service(s.get_ref()))).into_response())
}

pub async fn delete(
    State(d): State<Dashboard>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let request = pb::DeleteSyncServiceRequest { id };
    let s = d
        .gateway
        .delete_sync_service(grpc(&headers, request))
        .await?;
    Ok(json_body(&json::service(s.get_ref())))
}
