//! The JSON mirror read as a non-Rust dashboard would: a plain NATS
//! subscriber on `<ns>.json.>`, on the shipped NATS permissions (each
//! service may publish its own events' mirrors), parsing JSON only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use futures::StreamExt;
use serde_json::Value;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::stack::TENANT_A;
use xregion_tests::sync::{SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{now_ms, Stack, StackOptions, WAIT};

/// One mirrored message: its subject, its type header and its body.
struct Mirrored {
    subject: String,
    type_header: String,
    body: Value,
}

/// Reads mirrored messages until `done` holds for those read so far.
async fn read_until(
    sub: &mut async_nats::Subscriber,
    what: &str,
    done: impl Fn(&[Mirrored]) -> bool,
) -> anyhow::Result<Vec<Mirrored>> {
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while let Some(msg) = sub.next().await {
            let headers = msg.headers.clone().unwrap_or_default();
            assert_eq!(
                headers.get("Content-Type").map(|v| v.as_str()),
                Some("application/json")
            );
            seen.push(Mirrored {
                subject: msg.subject.to_string(),
                type_header: headers
                    .get("Xregion-Type")
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                body: serde_json::from_slice(&msg.payload)?,
            });
            if done(&seen) {
                return anyhow::Ok(());
            }
        }
        anyhow::bail!("subscription ended")
    })
    .await
    .map_err(|_| {
        let types: Vec<_> = seen.iter().map(|m| m.type_header.clone()).collect();
        anyhow::anyhow!("{what}: timed out after {types:?}")
    })??;
    Ok(seen)
}

fn of_type<'a>(seen: &'a [Mirrored], t: &str) -> Vec<&'a Mirrored> {
    seen.iter()
        .filter(|m| m.body["type"] == format!("xregion.v1.{t}"))
        .collect()
}

/// An RFC 3339 time within a minute of now.
fn recent(v: &Value) -> bool {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| (now_ms() - t.timestamp_millis()).abs() < 60_000)
}

#[tokio::test]
async fn every_event_and_progress_is_mirrored_as_json_with_tenant_and_time() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        extra_config: format!("{FAST_SYNC_CONFIG}\n[cleanup]\nsweep_interval_secs = 1\n"),
        nats_permissions: true,
        ..Default::default()
    })
    .await?;
    let ns = stack.ns();
    let nats = stack.nats.client().await?;
    let mut sub = nats.subscribe(ns.json_filter()).await?;
    // The mirror is not kept: no stream takes its subjects.
    let js = async_nats::jetstream::new(nats.clone());
    let json_subject = ns.json_subject(&ns.event_subject(xregion_bus::EventSubject::BackupSynced));
    assert!(js.stream_by_subject(json_subject).await.is_err());

    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    let mut chain = env
        .chain("json-1", Engine::Mysql, now_ms() - 3_600_000)
        .await?;
    let full = env.upstream.emit(&env.source, &chain.full(200_000)).await?;
    let svc = env.create("json-1", Engine::Mysql, "r1", "r2").await?;
    let running = |m: &&Mirrored| m.body["event"]["to"] == "SERVICE_STATE_RUNNING";
    let seen = read_until(&mut sub, "created, progress, synced, running", |s| {
        !of_type(s, "ServiceCreated").is_empty()
            && of_type(s, "TransferProgress")
                .iter()
                .any(|m| m.body["event"]["done"] == true)
            && !of_type(s, "BackupSynced").is_empty()
            && of_type(s, "ServiceStateChanged").iter().any(running)
    })
    .await?;
    for m in &seen {
        let b = &m.body;
        assert_eq!(m.type_header, b["type"].as_str().unwrap());
        assert_eq!(b["serviceId"], svc.id.as_str(), "{b}");
        assert_eq!(b["tenantId"], TENANT_A, "{b}");
        assert!(recent(&b["time"]), "{b}");
        // The subject names what the protobuf copy was published on.
        let original = b["subject"].as_str().unwrap();
        assert_eq!(m.subject, ns.json_subject(original));
    }

    let progress = of_type(&seen, "TransferProgress");
    let last = &progress.last().unwrap().body;
    assert_eq!(
        last["subject"],
        ns.progress_subject(&svc.id, &full.backup_id)
    );
    assert!(last.get("sequence").is_none(), "progress is not stored");
    let e = &last["event"];
    assert_eq!(e["tenantId"], TENANT_A);
    assert!(recent(&e["sentAt"]), "{e}");
    // 64-bit integers are strings in the canonical mapping.
    assert_eq!(e["bytesDone"], "200000");
    assert_eq!(e["bytesTotal"], "200000");

    let synced = &of_type(&seen, "BackupSynced")[0].body;
    assert_eq!(
        synced["msgId"],
        format!("synced:{}:{}", svc.id, full.backup_id)
    );
    let seq: u64 = synced["sequence"].as_str().unwrap().parse()?;
    let stored = js
        .get_stream(ns.events_stream())
        .await?
        .get_raw_message(seq)
        .await?;
    assert_eq!(
        stored.subject.as_str(),
        ns.event_subject(xregion_bus::EventSubject::BackupSynced)
    );
    let e = &synced["event"];
    assert_eq!(e["service"]["tenantId"], TENANT_A);
    assert_eq!(e["service"]["engine"], "ENGINE_MYSQL");
    assert_eq!(e["backup"]["backupId"], full.backup_id.as_str());
    assert_eq!(e["bytes"], "200000");
    assert!(recent(&e["syncedAt"]), "{e}");

    let changed = of_type(&seen, "ServiceStateChanged");
    let to_running = changed.into_iter().find(running).unwrap();
    assert_eq!(to_running.body["event"]["from"], "SERVICE_STATE_SEEDING");

    // Cleanup's mirror too: delete, and the purge shows up.
    env.delete(&svc.id).await?;
    let seen = read_until(&mut sub, "purged", |s| {
        !of_type(s, "ServiceDataPurged").is_empty()
    })
    .await?;
    let purged = &of_type(&seen, "ServiceDataPurged")[0].body;
    assert_eq!(purged["tenantId"], TENANT_A);
    assert!(recent(&purged["time"]), "{purged}");
    assert_ne!(purged["event"]["objectsDeleted"], "0");
    env.wait_state(&svc.id, pb::ServiceState::Deleted).await?;
    Ok(())
}
