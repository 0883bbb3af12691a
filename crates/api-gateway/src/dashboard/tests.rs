//! The dashboard's endpoints over a real catalog (SQLite, answered in
//! process): the gRPC handlers' authentication and tenant scoping hold.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use xregion_catalog::testing::{Source, TestCatalog};
use xregion_common::RegionConfig;

use crate::auth::{token_hash, Authenticator};
use crate::config::TokenConfig;
use crate::gateway::Gateway;

const TOKEN_A: &str = "token-a";
const TOKEN_B: &str = "token-b";

async fn dashboard(catalog: &TestCatalog) -> Router {
    let tokens = [(TOKEN_A, "t1"), (TOKEN_B, "t2")].map(|(t, tenant)| TokenConfig {
        sha256: token_hash(t),
        tenant: tenant.into(),
    });
    let regions = ["r1", "r2"].map(|id| RegionConfig {
        id: id.into(),
        display_name: String::new(),
        url: "memory://".into(),
        options: Default::default(),
        source_key_prefix: None,
        encryption: None,
    });
    // No server: these tests never watch, and the client only connects
    // in the background.
    let nats = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect("127.0.0.1:1")
        .await
        .unwrap();
    let gateway = Gateway {
        auth: Authenticator::with_tokens(&tokens).unwrap(),
        catalog: catalog.client(),
        regions: xregion_common::Regions::build(&regions).unwrap(),
        nats,
        ns: xregion_bus::Namespace::new("t", "rds").unwrap(),
        watches: crate::watch_slots::WatchSlots::new(1, 1),
    };
    super::router(Arc::new(gateway), CancellationToken::new())
}

async fn call(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn create_body(instance: &str) -> Value {
    serde_json::json!({
        "instance_id": instance, "engine": "MYSQL",
        "source_region": "r1", "target_region": "r2", "retention_days": 3,
    })
}

#[tokio::test]
async fn without_a_good_token_every_endpoint_is_401() {
    let catalog = TestCatalog::new(&["r1", "r2"]).await.unwrap();
    let app = dashboard(&catalog).await;
    let cases = [
        (Method::GET, "/api/me", None),
        (Method::GET, "/api/services", None),
        (Method::GET, "/api/regions", None),
        (Method::GET, "/api/services/svc-1/window", None),
        (Method::DELETE, "/api/services/svc-1", None),
        (Method::POST, "/api/services", Some(create_body("db-1"))),
        (Method::GET, "/api/events", None),
    ];
    for token in [None, Some("not-a-token")] {
        for (method, path, body) in cases.clone() {
            let (status, json) = call(&app, method.clone(), path, token, body).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}"
            );
            assert_eq!(json["code"], "UNAUTHENTICATED", "{method} {path}: {json}");
        }
    }
    // A refused create wrote nothing.
    let (_, listed) = call(&app, Method::GET, "/api/services", Some(TOKEN_A), None).await;
    assert_eq!(listed["services"], serde_json::json!([]));
}

#[tokio::test]
async fn a_tenant_sees_creates_and_deletes_only_its_own_services() {
    let catalog = TestCatalog::new(&["r1", "r2"]).await.unwrap();
    catalog
        .instance(&Source::new("t1", "db-1", "r1"))
        .await
        .unwrap();
    let app = dashboard(&catalog).await;

    let (status, me) = call(&app, Method::GET, "/api/me", Some(TOKEN_A), None).await;
    assert_eq!((status, &me["tenant"]), (StatusCode::OK, &"t1".into()));

    // The dialog's choices.
    let (_, regions) = call(&app, Method::GET, "/api/regions", Some(TOKEN_A), None).await;
    assert_eq!(regions["regions"][1]["id"], "r2");
    let path = "/api/instances/MYSQL/r1";
    let (_, instances) = call(&app, Method::GET, path, Some(TOKEN_A), None).await;
    assert_eq!(instances["instances"], serde_json::json!(["db-1"]));
    let (_, none) = call(&app, Method::GET, path, Some(TOKEN_B), None).await;
    assert_eq!(none["instances"], serde_json::json!([]));

    // Validation is the API's: a bad engine or body is a 400.
    let mut bad = create_body("db-1");
    bad["engine"] = "ORACLE".into();
    let (status, json) = call(
        &app,
        Method::POST,
        "/api/services",
        Some(TOKEN_A),
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    let extra = serde_json::json!({"instance_id": "db-1", "tenant": "t2"});
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/services",
        Some(TOKEN_A),
        Some(extra),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Tenant B cannot enrol A's instance.
    let body = Some(create_body("db-1"));
    let (status, _) = call(&app, Method::POST, "/api/services", Some(TOKEN_B), body).await;
    assert!(status.is_client_error(), "{status}");

    let body = Some(create_body("db-1"));
    let (status, created) = call(&app, Method::POST, "/api/services", Some(TOKEN_A), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "CREATING");
    assert_eq!(created["retention_days"], 3);
    assert_eq!(created["lag_promise_seconds"], 12 * 3600);
    // Not drilled yet: no verified point, no RTO.
    assert_eq!(
        created["verified_restorable_time_ms"],
        serde_json::Value::Null
    );
    assert_eq!(created["last_drill_rto_ms"], serde_json::Value::Null);
    assert_eq!(created["last_drill_error"], "");
    let id = created["id"].as_str().unwrap().to_string();

    let (_, listed) = call(&app, Method::GET, "/api/services", Some(TOKEN_A), None).await;
    assert_eq!(listed["services"][0]["id"], id.as_str());
    assert_eq!(listed["services"][0]["source_instance_id"], "db-1");
    let window = format!("/api/services/{id}/window");
    let (status, w) = call(&app, Method::GET, &window, Some(TOKEN_A), None).await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["gaps"], serde_json::json!([]));

    // Tenant B: its list is empty and A's service does not exist for it
    // (404 like an unknown id, so B cannot even learn that it exists).
    let (_, listed_b) = call(&app, Method::GET, "/api/services", Some(TOKEN_B), None).await;
    assert_eq!(listed_b["services"], serde_json::json!([]));
    let one = format!("/api/services/{id}");
    for (method, path) in [
        (Method::GET, &one),
        (Method::GET, &window),
        (Method::DELETE, &one),
    ] {
        let (status, json) = call(&app, method.clone(), path, Some(TOKEN_B), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {json}");
    }
    let (status, _) = call(
        &app,
        Method::GET,
        "/api/services/..%2F",
        Some(TOKEN_A),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, deleted) = call(&app, Method::DELETE, &one, Some(TOKEN_A), None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["state"], "DELETING");
}

#[tokio::test]
async fn the_page_is_served_offline_and_cannot_be_framed() {
    let catalog = TestCatalog::new(&["r1"]).await.unwrap();
    let app = dashboard(&catalog).await;
    for (path, kind, needle) in [
        ("/", "text/html", "/app.js"),
        ("/app.js", "text/javascript", "Authorization"),
        ("/app.css", "text/css", ".transfer"),
    ] {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains(needle), "{path}");
        // No CDN, nothing fetched from elsewhere.
        assert!(!text.contains("https://"), "{path} loads something remote");
    }
}
