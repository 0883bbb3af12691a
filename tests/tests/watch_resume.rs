//! WatchSyncService on a real stack: every event names its tenant and time,
//! lag, expiry and purge events are streamed, a watch resumed with a cursor
//! gets exactly the events it missed, a bad or too old cursor is refused,
//! and a tenant never sees another's events (not even replaying the whole
//! stream).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use futures::StreamExt;
use tonic::Code;
use xregion_domain::Engine;
use xregion_proto::convert::millis;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::watch_event::Event;
use xregion_rds_sim::ChainGen;
use xregion_tests::api::create_request;
use xregion_tests::stack::{authed, TENANT_A, TENANT_B, TOKEN_A, TOKEN_B};
use xregion_tests::sync::{eager_cleanup, fast_sync_without_cleanup, SyncEnv};
use xregion_tests::{now_ms, Stack, StackOptions, WAIT};

const HOUR: i64 = 3600 * 1000;
const DAY: i64 = 24 * HOUR;
const HEADER: &str = "xregion-watch-cursor";

type Watch = tonic::Streaming<pb::WatchEvent>;

/// WatchSyncService as `token`'s tenant, after `resume_after`; the stream
/// and the cursor the response header says it starts after.
async fn watch(
    env: &SyncEnv,
    token: &str,
    service_id: &str,
    resume_after: &str,
) -> Result<(Watch, String), tonic::Status> {
    let req = pb::WatchSyncServiceRequest {
        service_id: service_id.into(),
        resume_after: resume_after.into(),
    };
    let response = env
        .api
        .clone()
        .watch_sync_service(authed(token, req))
        .await?;
    let start = response.metadata().get(HEADER).expect("cursor header");
    let start = start.to_str().unwrap().to_string();
    Ok((response.into_inner(), start))
}

/// Reads events until `done` says the ones read so far are enough.
async fn read_until(
    stream: &mut Watch,
    what: &str,
    done: impl Fn(&[pb::WatchEvent]) -> bool,
) -> anyhow::Result<Vec<pb::WatchEvent>> {
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while let Some(ev) = stream.next().await {
            seen.push(ev?);
            if done(&seen) {
                return anyhow::Ok(());
            }
        }
        anyhow::bail!("the watch ended")
    })
    .await
    .map_err(|_| anyhow::anyhow!("{what}: timed out after {seen:?}"))??;
    Ok(seen)
}

fn synced_id(e: &pb::WatchEvent) -> Option<String> {
    match &e.event {
        Some(Event::Synced(s)) => s.backup.as_ref().map(|b| b.backup_id.clone()),
        _ => None,
    }
}

fn count(events: &[pb::WatchEvent], f: impl Fn(&pb::WatchEvent) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

fn seq(cursor: &str) -> u64 {
    cursor.strip_prefix("ev1.").unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_resumed_watch_gets_exactly_the_missed_events_with_time_and_tenant() -> anyhow::Result<()>
{
    let (stack, env) = SyncEnv::start(StackOptions::fast_sync()).await?;
    let svc = env.seeding("resume-1").await?;
    let (mut first, start) = watch(&env, TOKEN_A, &svc.id, "").await?;
    assert!(start.starts_with("ev1."), "{start}");

    // An hour behind: under the lag threshold, so no lag event interleaves.
    let mut chain = ChainGen::new("resume-1", TENANT_A, "r1", Engine::Mysql, now_ms() - HOUR);
    let full = env.upstream.emit(&env.source, &chain.full(50_000)).await?;
    let seen = read_until(&mut first, "progress, synced, running", |s| {
        count(s, |e| matches!(&e.event, Some(Event::Progress(p)) if p.done)) > 0
            && count(s, |e| synced_id(e).is_some()) > 0
            && count(s, |e| matches!(&e.event, Some(Event::StateChanged(c)) if c.to == pb::ServiceState::Running as i32)) > 0
    })
    .await?;
    for e in &seen {
        match e.event.as_ref().unwrap() {
            Event::Progress(p) => {
                assert_eq!(p.tenant_id, TENANT_A);
                let at = millis(p.sent_at.as_ref().expect("progress time"));
                assert!((now_ms() - at).abs() < 60_000, "progress at {at}");
                assert_eq!(e.cursor, "", "progress is not kept");
            }
            Event::Synced(s) => {
                assert_eq!(s.service.as_ref().unwrap().tenant_id, TENANT_A);
                assert!(s.synced_at.is_some());
                assert_eq!(synced_id(e).as_deref(), Some(full.backup_id.as_str()));
            }
            Event::StateChanged(c) => {
                assert_eq!(c.tenant_id, TENANT_A);
                assert!(c.changed_at.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let kept: Vec<u64> = seen
        .iter()
        .filter(|e| !e.cursor.is_empty())
        .map(|e| seq(&e.cursor))
        .collect();
    assert!(kept.windows(2).all(|w| w[0] < w[1]), "{kept:?}");
    assert!(kept[0] > seq(&start), "{kept:?} after {start}");
    let last = seen
        .iter()
        .rev()
        .find(|e| !e.cursor.is_empty())
        .unwrap()
        .cursor
        .clone();

    // The client goes away; three logs are copied meanwhile.
    drop(first);
    let mut logs = Vec::new();
    for _ in 0..3 {
        logs.push(
            env.upstream
                .emit(&env.source, &chain.log(60_000, 2_000))
                .await?
                .backup_id,
        );
    }
    env.wait_running(&svc.id, 4).await?;

    // Back with the last cursor: exactly the kept events after it, in order.
    let (mut again, resumed_at) = watch(&env, TOKEN_A, &svc.id, &last).await?;
    assert_eq!(resumed_at, last);
    let probe = stack.probe().await?;
    let ns = stack.ns();
    let stored: Vec<u64> = probe
        .messages(&ns.events_stream(), ns.events_filter())
        .await?
        .iter()
        .map(|m| m.info().unwrap().stream_sequence)
        .filter(|s| *s > seq(&last))
        .collect();
    let n = stored.len();
    let replayed = read_until(&mut again, "the missed events", |s| {
        count(s, |e| !e.cursor.is_empty()) >= n
    })
    .await?;
    let replayed: Vec<&pb::WatchEvent> = replayed
        .iter()
        .filter(|e| !e.cursor.is_empty())
        .take(n)
        .collect();
    // Every stored event after the cursor is this service's: the watch
    // skips none of them and repeats none.
    assert_eq!(
        replayed.iter().map(|e| seq(&e.cursor)).collect::<Vec<_>>(),
        stored
    );
    // Workers copy concurrently: the logs' order is the order they finished.
    let mut synced: Vec<String> = replayed.iter().filter_map(|e| synced_id(e)).collect();
    synced.sort();
    assert_eq!(synced, logs);

    // A cursor this gateway never sent, and one from the future.
    let bad = watch(&env, TOKEN_A, &svc.id, "42").await.err().unwrap();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    let ahead = format!("ev1.{}", stored.last().unwrap() + 100);
    let bad = watch(&env, TOKEN_A, &svc.id, &ahead).await.err().unwrap();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    // Events dropped from the stream (as retention would): the old cursor
    // is refused with the one to read from the oldest kept event instead.
    let keep_from = *stored.last().unwrap();
    async_nats::jetstream::new(stack.nats.client().await?)
        .get_stream(ns.events_stream())
        .await?
        .purge()
        .sequence(keep_from)
        .await?;
    let old = watch(&env, TOKEN_A, &svc.id, &last).await.err().unwrap();
    assert_eq!(old.code(), Code::FailedPrecondition, "{old:?}");
    let oldest = format!("ev1.{}", keep_from - 1);
    assert!(old.message().contains(&oldest), "{}", old.message());
    let (mut from_oldest, _) = watch(&env, TOKEN_A, &svc.id, &oldest).await?;
    let first_kept = read_until(&mut from_oldest, "the oldest kept event", |s| {
        count(s, |e| !e.cursor.is_empty()) > 0
    })
    .await?;
    let first_kept = first_kept.iter().find(|e| !e.cursor.is_empty()).unwrap();
    assert_eq!(seq(&first_kept.cursor), keep_from);
    Ok(())
}

#[tokio::test]
async fn lag_expiry_and_purge_reach_the_owner_and_no_one_else() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        services: vec!["api-gateway", "backup-watcher", "transfer-worker"],
        ..fast_sync_without_cleanup()
    })
    .await?;
    let lag = [
        "--set",
        "catalog.lag_threshold_secs=3600",
        "--set",
        "catalog.lag_check_interval_secs=1",
    ];
    stack.start_service("catalog", &lag).await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let (mut owner, _) = watch(&env, TOKEN_A, "", "").await?;

    // 20 days of history, 9 days behind: lag over the threshold, and with
    // the default 7 days of retention the first FULL and its LOG expire.
    let mut chain = ChainGen::new(
        "lagging",
        TENANT_A,
        "r1",
        Engine::Mysql,
        now_ms() - 20 * DAY,
    );
    // Enrolled first, so each backup is copied as it appears (seeding
    // would copy only the newest FULL and what follows it).
    let svc = env.seeding("lagging").await?;
    let mut first_chain = Vec::new();
    first_chain.push(
        env.upstream
            .emit(&env.source, &chain.full(1_000))
            .await?
            .backup_id,
    );
    first_chain.push(
        env.upstream
            .emit(&env.source, &chain.log(10 * DAY, 500))
            .await?
            .backup_id,
    );
    env.upstream.emit(&env.source, &chain.full(1_000)).await?;
    env.upstream.emit(&env.source, &chain.log(DAY, 500)).await?;
    env.wait_running(&svc.id, 4).await?;
    let seen = read_until(&mut owner, "lag exceeded", |s| {
        count(s, |e| matches!(e.event, Some(Event::LagExceeded(_)))) > 0
    })
    .await?;
    let Some(Event::LagExceeded(exceeded)) = &seen.last().unwrap().event else {
        unreachable!()
    };
    assert_eq!(
        (exceeded.service_id.as_str(), exceeded.tenant_id.as_str()),
        (svc.id.as_str(), TENANT_A)
    );
    assert!(exceeded.lag_seconds > 8 * 24 * 3600, "{exceeded:?}");
    let detected = millis(exceeded.detected_at.as_ref().expect("detected_at"));
    assert!(
        (now_ms() - detected).abs() < 120_000,
        "detected at {detected}"
    );
    assert!(!seen.last().unwrap().cursor.is_empty());

    stack.start_service("cleanup", &eager_cleanup(&[])).await?;
    let seen = read_until(&mut owner, "the first chain expired", |s| {
        count(s, |e| matches!(e.event, Some(Event::Expired(_)))) == 2
    })
    .await?;
    let expired: Vec<&pb::BackupExpired> = seen
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::Expired(x)) => Some(x),
            _ => None,
        })
        .collect();
    assert_eq!(
        expired
            .iter()
            .map(|x| x.backup_id.clone())
            .collect::<Vec<_>>(),
        first_chain
    );
    assert!(expired
        .iter()
        .all(|x| x.tenant_id == TENANT_A && x.expired_at.is_some()));

    // Caught up: the lag recovers.
    let span = now_ms() - chain.now_ms;
    env.upstream
        .emit(&env.source, &chain.log(span, 500))
        .await?;
    read_until(&mut owner, "lag recovered", |s| {
        s.iter().any(|e| matches!(&e.event, Some(Event::LagRecovered(r)) if r.detected_at.is_some() && r.tenant_id == TENANT_A))
    })
    .await?;
    // Deleted: its data is purged.
    env.delete(&svc.id).await?;
    read_until(&mut owner, "purged", |s| {
        s.iter().any(|e| matches!(&e.event, Some(Event::Purged(p)) if p.service_id == svc.id && p.purged_at.is_some()))
    })
    .await?;

    // Tenant B, replaying the whole stream from its first event, sees its
    // own service's events and none of tenant A's.
    env.upstream
        .instance_created("b-only", TENANT_B, Engine::Mysql, "r1", 1_700_000_000_000)
        .await?;
    let b_svc = xregion_tests::wait_until("tenant B's service", WAIT, || {
        let mut api = env.api.clone();
        async move {
            Ok(api
                .create_sync_service(authed(TOKEN_B, create_request("b-only")))
                .await
                .ok())
        }
    })
    .await?
    .into_inner();
    let (mut b_watch, _) = watch(&env, TOKEN_B, "", "ev1.0").await?;
    let b_seen = read_until(&mut b_watch, "tenant B's own state change", |s| {
        s.iter()
            .any(|e| matches!(&e.event, Some(Event::StateChanged(c)) if c.service_id == b_svc.id))
    })
    .await?;
    for e in &b_seen {
        let owner = match e.event.as_ref().unwrap() {
            Event::StateChanged(c) => c.tenant_id.clone(),
            other => panic!("tenant B saw {other:?}"),
        };
        assert_eq!(owner, TENANT_B);
    }
    // And cannot watch A's service by its id, with or without a cursor.
    for cursor in ["", "ev1.0"] {
        let denied = watch(&env, TOKEN_B, &svc.id, cursor).await.err().unwrap();
        assert_eq!(denied.code(), Code::NotFound);
    }
    Ok(())
}
