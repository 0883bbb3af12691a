//! Foundation smoke test: all five services start against real NATS,
//! PostgreSQL and Garage; gRPC health answers SERVING; one call travels
//! gateway → catalog over NATS and back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::stack::{authed, http_get, TOKEN_A};
use xregion_tests::{Stack, StackOptions};

#[tokio::test]
async fn all_services_start_and_a_call_reaches_the_catalog() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;

    for (name, port) in &stack.http_ports {
        let (code, body) = http_get(*port, "/healthz").await?;
        assert_eq!(code, 200, "{name} /healthz: {body}");
        let (code, _) = http_get(*port, "/metrics").await?;
        assert_eq!(code, 200, "{name} /metrics");
    }
    assert_eq!(stack.http_ports.len(), 5);

    let mut health = HealthClient::new(stack.channel().await?);
    let status = health
        .check(HealthCheckRequest {
            service: "xregion.v1.CrossRegionBackupService".into(),
        })
        .await?
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    let mut api = stack.grpc().await?;
    let regions = api
        .list_regions(authed(TOKEN_A, pb::ListRegionsRequest {}))
        .await?
        .into_inner();
    let ids: Vec<_> = regions.regions.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2", "r3"]);

    // Travels gateway -> NATS -> catalog -> PostgreSQL and back.
    let listed = api
        .list_sync_services(authed(TOKEN_A, pb::ListSyncServicesRequest::default()))
        .await?
        .into_inner();
    assert!(listed.services.is_empty());
    assert!(listed.next_page_token.is_empty());

    let metrics = stack.metrics("catalog").await?;
    assert!(
        metrics.contains("service=\"xregion-catalog\"")
            || metrics.is_empty()
            || metrics.contains("xregion_"),
        "{metrics}"
    );
    Ok(())
}

#[tokio::test]
async fn services_stop_in_order_on_sigterm() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions::default()).await?;
    for name in [
        "api-gateway",
        "backup-watcher",
        "transfer-worker",
        "cleanup",
        "catalog",
    ] {
        let status = stack
            .service(name)?
            .terminate(std::time::Duration::from_secs(20))?;
        assert!(status.success(), "{name} exited with {status}");
        let log = stack.service(name)?.log_text();
        assert!(
            log.contains("stopped"),
            "{name} did not report an orderly stop:\n{log}"
        );
        assert!(
            !log.contains('\u{1b}'),
            "{name} wrote colour codes into a log that is not a terminal:\n{log}"
        );
    }
    Ok(())
}
