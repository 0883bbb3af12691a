//! UpdateSyncService over the real stack: retention changed through gRPC
//! and the CLI, refusals that change nothing, one event per real change,
//! and a lowered retention that deletes nothing by itself (cleanup's next
//! retention pass decides, with the new window).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::{Command, Output};

use tonic::Code;
use xregion_bus::EventSubject;
use xregion_domain::{layout, Engine};
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::api::{as_a, create_request, refused, Api};
use xregion_tests::probe::BusProbe;
use xregion_tests::stack::{authed, bin_dir, TENANT_A, TOKEN_A, TOKEN_B};
use xregion_tests::sync::{eager_cleanup, fast_sync_without_cleanup, SyncEnv};
use xregion_tests::{now_ms, Stack, StackOptions};

const DAY: i64 = 24 * 3600 * 1000;

fn update(id: &str, days: Option<u32>, paths: &[&str]) -> pb::UpdateSyncServiceRequest {
    let mut req = pb::UpdateSyncServiceRequest {
        id: id.into(),
        retention_days: days,
        update_mask: None,
    };
    if !paths.is_empty() {
        let mask = req.update_mask.get_or_insert_with(Default::default);
        mask.paths = paths.iter().map(|p| p.to_string()).collect();
    }
    req
}

/// The retention updates of `id` on the bus.
async fn updates(probe: &BusProbe, id: &str) -> anyhow::Result<Vec<pb::ServiceStateChanged>> {
    Ok(probe
        .events::<pb::ServiceStateChanged>(EventSubject::ServiceStateChanged)
        .await?
        .into_iter()
        .filter(|e| e.service_id == id && !e.updated_fields.is_empty())
        .collect())
}

async fn wait_updates(
    probe: &BusProbe,
    id: &str,
    n: usize,
) -> anyhow::Result<Vec<pb::ServiceStateChanged>> {
    let what = format!("{n} retention updates of {id}");
    let done = |all: &[pb::ServiceStateChanged]| {
        all.iter()
            .filter(|e| e.service_id == id && !e.updated_fields.is_empty())
            .count()
            == n
    };
    probe
        .wait_events(&what, EventSubject::ServiceStateChanged, done)
        .await?;
    updates(probe, id).await
}

fn cli(stack: &Stack, token: &str, args: &[&str]) -> Output {
    Command::new(bin_dir().unwrap().join("xregion"))
        .args(args)
        .env("XREGION_ENDPOINT", format!("http://{}", stack.grpc_addr))
        .env("XREGION_TOKEN", token)
        .output()
        .unwrap()
}

fn cli_status(stack: &Stack, token: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = cli(stack, token, args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn get(api: &Api, id: &str) -> anyhow::Result<pb::SyncService> {
    let req = pb::GetSyncServiceRequest { id: id.into() };
    Ok(api.clone().get_sync_service(as_a(req)).await?.into_inner())
}

/// Refusals through gRPC and the CLI (wrong tenant, 0, above the maximum,
/// an unknown or immutable mask path, a deleted service) leave the service
/// as it was and announce nothing; the CLI's update prints the service.
#[tokio::test]
async fn refusals_change_nothing_and_the_cli_updates() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::api_only()).await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    env.instance("upd-1", Engine::Mysql, "r1").await?;
    env.instance("upd-2", Engine::Mysql, "r1").await?;
    let mut api = env.api.clone();
    let svc = api
        .create_sync_service(as_a(create_request("upd-1")))
        .await?
        .into_inner();
    let before = get(&api, &svc.id).await?;
    assert_eq!(before.retention_days, 7);

    let cases: Vec<(&str, pb::UpdateSyncServiceRequest, Code, &str)> = vec![
        (TOKEN_B, update(&svc.id, Some(3), &[]), Code::NotFound, ""),
        (
            TOKEN_A,
            update(&svc.id, Some(0), &[]),
            Code::InvalidArgument,
            "retention_days",
        ),
        (
            TOKEN_A,
            update(&svc.id, Some(1826), &["retention_days"]),
            Code::InvalidArgument,
            "retention_days",
        ),
        (
            TOKEN_A,
            update(&svc.id, Some(3), &["retention_days", "colour"]),
            Code::InvalidArgument,
            "colour",
        ),
        (
            TOKEN_A,
            update(&svc.id, Some(3), &["target_region"]),
            Code::InvalidArgument,
            "target_region",
        ),
        (
            TOKEN_A,
            update("../x", Some(3), &[]),
            Code::InvalidArgument,
            "id",
        ),
    ];
    for (token, req, code, named) in cases {
        let (got, message) = refused(api.update_sync_service(authed(token, req.clone())).await)?;
        assert_eq!(got, code, "{req:?}: {message}");
        assert!(message.contains(named), "{message} should name {named}");
    }
    assert_eq!(
        get(&api, &svc.id).await?,
        before,
        "a refused update changed it"
    );

    // The CLI: exit status by class, then a real change printed as JSON.
    let id = svc.id.as_str();
    let days = ["update", id, "--retention-days"];
    let (status, err) = cli_status(&stack, TOKEN_A, &[&days[..], &["0"]].concat());
    assert_eq!(status, Some(4), "{err}");
    assert!(err.contains("retention_days"), "{err}");
    let (status, err) = cli_status(&stack, TOKEN_A, &[&days[..], &["1826"]].concat());
    assert_eq!(status, Some(4), "{err}");
    let (status, err) = cli_status(&stack, TOKEN_B, &[&days[..], &["3"]].concat());
    assert_eq!(status, Some(3), "{err}");
    let (status, err) = cli_status(&stack, TOKEN_A, &[&days[..], &["many"]].concat());
    assert_eq!(status, Some(2), "{err}");
    assert_eq!(
        get(&api, &svc.id).await?,
        before,
        "a refused update changed it"
    );
    assert!(updates(&env.probe, id).await?.is_empty());

    let out = cli(&stack, TOKEN_A, &[&days[..], &["3", "-o", "json"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(shown["id"], id);
    assert_eq!(shown["retention_days"], 3);
    assert_eq!(get(&api, id).await?.retention_days, 3);
    let events = wait_updates(&env.probe, id, 1).await?;
    assert_eq!(
        (events[0].previous_retention_days, events[0].retention_days),
        (7, 3)
    );
    assert_eq!(events[0].tenant_id, TENANT_A);

    // A service being deleted keeps its retention.
    let other = api
        .create_sync_service(as_a(create_request("upd-2")))
        .await?
        .into_inner();
    let req = pb::DeleteSyncServiceRequest {
        id: other.id.clone(),
    };
    api.delete_sync_service(as_a(req)).await?;
    let deleting = get(&api, &other.id).await?;
    let (code, message) = refused(
        api.update_sync_service(as_a(update(&other.id, Some(3), &[])))
            .await,
    )?;
    assert_eq!(code, Code::FailedPrecondition, "{message}");
    let (status, err) = cli_status(
        &stack,
        TOKEN_A,
        &["update", &other.id, "--retention-days", "3"],
    );
    assert_eq!(status, Some(4), "{err}");
    assert_eq!(get(&api, &other.id).await?, deleting);
    assert!(updates(&env.probe, &other.id).await?.is_empty());
    Ok(())
}

/// Six synced copies over six days, retention lowered from 7 to 3 days
/// with cleanup stopped: every copy is still listed and in the target
/// right after; a repeat announces nothing; cleanup's next pass then
/// expires the first chain (older than the new window) and keeps the rest.
#[tokio::test]
async fn lowering_retention_purges_nothing_by_itself() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(fast_sync_without_cleanup()).await?;
    let svc = env.seeding("low-1").await?;
    let mut chain = ChainGen::new("low-1", TENANT_A, "r1", Engine::Mysql, now_ms() - 6 * DAY);
    let mut all = vec![env.upstream.emit(&env.source, &chain.full(2000)).await?];
    for _ in 0..2 {
        all.push(env.upstream.emit(&env.source, &chain.log(DAY, 200)).await?);
    }
    all.push(env.upstream.emit(&env.source, &chain.full(2000)).await?);
    for _ in 0..2 {
        all.push(env.upstream.emit(&env.source, &chain.log(DAY, 200)).await?);
    }
    env.wait_running(&svc.id, all.len() as u64).await?;
    let prefix = layout::service_prefix(TENANT_A, "low-1", &svc.id);
    let keys = env.keys_under(&prefix).await?;
    assert_eq!(keys.len(), 1 + 2 * all.len());
    let window = env.window(&svc.id).await?;

    let mut api = env.api.clone();
    let lowered = api
        .update_sync_service(as_a(update(&svc.id, Some(3), &["retention_days"])))
        .await?
        .into_inner();
    assert_eq!(lowered.retention_days, 3);
    // The same request again: the same service, no second event.
    let again = api
        .update_sync_service(as_a(update(&svc.id, Some(3), &[])))
        .await?
        .into_inner();
    assert_eq!(again.retention_days, 3);
    assert_eq!(again.synced_backups, all.len() as u64);

    // Nothing purged by the update: every copy listed, every key there,
    // the same restore window.
    let events = wait_updates(&env.probe, &svc.id, 1).await?;
    assert_eq!(events[0].retention_days, 3);
    assert_eq!(get(&api, &svc.id).await?.synced_backups, all.len() as u64);
    assert_eq!(env.keys_under(&prefix).await?, keys);
    assert_eq!(env.window(&svc.id).await?, window);
    assert!(env
        .probe
        .events::<pb::BackupExpired>(EventSubject::BackupExpired)
        .await?
        .is_empty());

    // The normal retention pass uses the new window: the first chain goes.
    stack.start_service("cleanup", &eager_cleanup(&[])).await?;
    let expired = env
        .probe
        .wait_events(
            "first chain expired",
            EventSubject::BackupExpired,
            |e: &[pb::BackupExpired]| e.len() == 3,
        )
        .await?;
    let mut ids: Vec<_> = expired.into_iter().map(|e| e.backup_id).collect();
    ids.sort();
    let mut first: Vec<_> = all[..3].iter().map(|d| d.backup_id.clone()).collect();
    first.sort();
    assert_eq!(ids, first);
    env.wait_service(&svc.id, "second chain kept", |s| s.synced_backups == 3)
        .await?;
    // One event for the one real change, none for the repeat.
    assert_eq!(updates(&env.probe, &svc.id).await?.len(), 1);
    Ok(())
}
