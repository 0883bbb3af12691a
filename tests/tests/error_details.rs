//! google.rpc error details on real responses: every refusal names a stable
//! reason (ErrorInfo, domain xregion.dev), every invalid field a field
//! violation (BadRequest); page tokens are opaque and bound to their
//! request, so an edited, made-up or replayed one is an invalid
//! `page_token`. The CLI prints the reason and the violation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;

use tonic::{Code, Status};
use tonic_types::StatusExt;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::api::{as_a, create_request, Api};
use xregion_tests::stack::{authed, bin_dir, TOKEN_B};
use xregion_tests::sync::SyncEnv;
use xregion_tests::{Stack, StackOptions};

/// The status of a call that must fail.
fn refusal<T: std::fmt::Debug>(r: Result<tonic::Response<T>, Status>) -> Status {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(s) => s,
    }
}

/// Asserts the code, the reason and the field violation (`""`: none).
fn assert_details(s: &Status, code: Code, reason: &str, field: &str) {
    assert_eq!(s.code(), code, "{s:?}");
    let info = s
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {s:?}"));
    assert_eq!(info.reason, reason, "{s:?}");
    assert_eq!(info.domain, "xregion.dev");
    let fields: Vec<String> = s
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    if field.is_empty() {
        assert!(fields.is_empty(), "{fields:?} in {s:?}");
    } else {
        assert_eq!(fields, vec![field.to_string()], "{s:?}");
    }
}

fn list(region: &str, token: &str) -> pb::ListSyncServicesRequest {
    pb::ListSyncServicesRequest {
        source_region: region.into(),
        page_size: 1,
        page_token: token.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn refusals_carry_a_reason_and_their_field() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::api_only()).await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    env.instance("det-1", Engine::Mysql, "r1").await?;
    env.instance("det-2", Engine::Mysql, "r1").await?;
    let mut api: Api = env.api.clone();
    let svc = api
        .create_sync_service(as_a(create_request("det-1")))
        .await?
        .into_inner();
    api.create_sync_service(as_a(create_request("det-2")))
        .await?;

    // Bad retention: on create (checked by the catalog) and on update.
    let mut bad = create_request("det-2");
    bad.retention_days = Some(0);
    let s = refusal(api.create_sync_service(as_a(bad)).await);
    assert_details(
        &s,
        Code::InvalidArgument,
        "INVALID_RETENTION",
        "retention_days",
    );
    let update = pb::UpdateSyncServiceRequest {
        id: svc.id.clone(),
        retention_days: Some(1826),
        update_mask: None,
    };
    let s = refusal(api.update_sync_service(as_a(update)).await);
    assert_details(
        &s,
        Code::InvalidArgument,
        "INVALID_RETENTION",
        "retention_days",
    );
    let desc = &s.get_details_bad_request().unwrap().field_violations[0].description;
    assert!(desc.contains("1826"), "{desc}");

    // Unknown service, and another tenant's: the same answer.
    let get = |id: &str| pb::GetSyncServiceRequest { id: id.into() };
    let s = refusal(api.get_sync_service(as_a(get("svc-nope"))).await);
    assert_details(&s, Code::NotFound, "SERVICE_NOT_FOUND", "");
    let s = refusal(api.get_sync_service(authed(TOKEN_B, get(&svc.id))).await);
    assert_details(&s, Code::NotFound, "SERVICE_NOT_FOUND", "");
    // Checked by the gateway itself, and already there.
    let s = refusal(api.get_sync_service(as_a(get("../x"))).await);
    assert_details(&s, Code::InvalidArgument, "INVALID_ID", "id");
    let plan = pb::GetRestorePlanRequest {
        service_id: svc.id.clone(),
        restore_time: None,
    };
    let s = refusal(api.get_restore_plan(as_a(plan)).await);
    assert_details(&s, Code::InvalidArgument, "INVALID_TIME", "restore_time");
    let s = refusal(api.create_sync_service(as_a(create_request("det-1"))).await);
    assert_details(&s, Code::AlreadyExists, "SERVICE_EXISTS", "");
    let s = refusal(
        api.get_sync_service(tonic::Request::new(get(&svc.id)))
            .await,
    );
    assert_details(&s, Code::Unauthenticated, "UNAUTHENTICATED", "");

    // Page tokens: the real one leads on, hostile ones are refused.
    let first = api
        .list_sync_services(as_a(list("r1", "")))
        .await?
        .into_inner();
    let token = first.next_page_token;
    assert!(!token.is_empty() && !token.contains('.'), "{token}");
    let second = api
        .list_sync_services(as_a(list("r1", &token)))
        .await?
        .into_inner();
    assert_eq!(second.services.len(), 1);
    assert_ne!(second.services[0].id, first.services[0].id);
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered)?;
    for (what, req, who) in [
        ("garbage", list("r1", "garbage"), None),
        ("a readable offset", list("r1", "p1.1"), None),
        ("tampered", list("r1", &tampered), None),
        ("another filter", list("r3", &token), None),
        ("another tenant", list("r1", &token), Some(TOKEN_B)),
    ] {
        let req = match who {
            Some(t) => authed(t, req),
            None => as_a(req),
        };
        let s = refusal(api.list_sync_services(req).await);
        assert_eq!(s.code(), Code::InvalidArgument, "{what}: {s:?}");
        assert_details(
            &s,
            Code::InvalidArgument,
            "INVALID_PAGE_TOKEN",
            "page_token",
        );
    }
    let synced = pb::ListSyncedBackupsRequest {
        service_id: svc.id.clone(),
        page_token: token.clone(),
        ..Default::default()
    };
    let s = refusal(api.list_synced_backups(as_a(synced)).await);
    assert_details(
        &s,
        Code::InvalidArgument,
        "INVALID_PAGE_TOKEN",
        "page_token",
    );

    // The CLI prints the reason and the field; the exit status is the class.
    let out = Command::new(bin_dir()?.join("xregion"))
        .args(["update", &svc.id, "--retention-days", "0"])
        .env("XREGION_ENDPOINT", format!("http://{}", stack.grpc_addr))
        .env("XREGION_TOKEN", xregion_tests::stack::TOKEN_A)
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("[INVALID_RETENTION]"), "{err}");
    assert!(err.contains("field retention_days: "), "{err}");
    Ok(())
}
