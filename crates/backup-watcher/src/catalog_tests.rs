//! The watcher's handlers on the word of a real catalog answering in
//! process, with `memory://` regions and a recording publisher (no NATS):
//! seeding queues one job per pending backup of a created service and none
//! for a deleted one; a new upstream backup becomes a job only for an
//! enrolled instance; reconciliation queues what the source holds for live
//! services only.

#![allow(clippy::unwrap_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;

use prost::Message;
use xregion_bus::recorded::Recorded;
use xregion_bus::{Namespace, Outcome, Publisher};
use xregion_catalog::testing::{Source, TestCatalog};
use xregion_common::{RegionConfig, Regions, SystemClock};
use xregion_domain::layout;
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;

use crate::jobs::Watcher;
use crate::reconcile::reconcile_all;
use crate::seeding::SeedOnCreate;
use crate::upstream::JobPerBackup;

const HOUR: i64 = 3_600_000;

struct Env {
    t: TestCatalog,
    watcher: Watcher,
    recorded: Recorded,
}

async fn env() -> Env {
    // r3 is the catalog's only: services copying there fail in the watcher.
    let t = TestCatalog::new(&["r1", "r2", "r3"]).await.unwrap();
    let region = |id: &str| RegionConfig {
        id: id.into(),
        display_name: String::new(),
        url: "memory://".into(),
        options: Default::default(),
        source_key_prefix: None,
        encryption: None,
    };
    let (publisher, recorded) = Publisher::recording(Namespace::new("ns", "rds").unwrap());
    let watcher = Watcher {
        catalog: t.client(),
        publisher,
        regions: Regions::build(&[region("r1"), region("r2")]).unwrap(),
        clock: std::sync::Arc::new(SystemClock::default()),
    };
    Env {
        t,
        watcher,
        recorded,
    }
}

impl Env {
    /// A FULL three hours ago and two LOGs after it.
    fn chain(&self, source: &Source) -> Vec<rds::BackupDescriptor> {
        let t0 = self.t.catalog.now() - 3 * HOUR;
        let id = |kind: &str, n: u64| format!("{}-{kind}-{n}", source.instance);
        vec![
            source.full(&id("full", 1), 1, t0),
            source.log(&id("log", 2), 2, t0, t0 + HOUR),
            source.log(&id("log", 3), 3, t0 + HOUR, t0 + 2 * HOUR),
        ]
    }

    /// Leaves the descriptors in the source store, as the upstream does.
    async fn in_source_store(&self, backups: &[rds::BackupDescriptor]) {
        let store = self.watcher.regions.store("r1").unwrap();
        for d in backups {
            let key = layout::source_descriptor_key(&d.instance_id, &d.backup_id);
            store
                .put(&key.as_str().into(), d.encode_to_vec().into())
                .await
                .unwrap();
        }
    }

    /// The (service, backup) of every transfer job published so far.
    fn jobs(&self) -> BTreeSet<(String, String)> {
        self.recorded
            .sent()
            .iter()
            .filter(|s| s.subject.starts_with("ns.transfer.r2."))
            .map(|s| {
                let job: pb::TransferRequested = s.decode().unwrap();
                let id = (
                    job.service.unwrap().service_id,
                    job.backup.unwrap().backup_id,
                );
                assert_eq!(
                    s.msg_id.as_deref(),
                    Some(&*format!("xfer:{}:{}", id.0, id.1))
                );
                id
            })
            .collect()
    }

    async fn state(&self, svc: &pb::ServiceRef) -> pb::SyncService {
        let req = pb::GetSyncServiceRequest {
            id: svc.service_id.clone(),
        };
        self.t.client().request(&svc.tenant_id, &req).await.unwrap()
    }
}

fn pairs(svc: &pb::ServiceRef, backups: &[rds::BackupDescriptor]) -> BTreeSet<(String, String)> {
    backups
        .iter()
        .map(|b| (svc.service_id.clone(), b.backup_id.clone()))
        .collect()
}

#[tokio::test]
async fn seeding_queues_each_pending_backup_of_a_created_service_once() {
    let e = env().await;
    let source = Source::new("t1", "db-1", "r1");
    e.t.instance(&source).await.unwrap();
    let chain = e.chain(&source);
    for d in &chain {
        e.t.backup(d).await.unwrap();
    }
    let svc = e.t.service(&source, "r2").await.unwrap();
    let seed = SeedOnCreate {
        watcher: e.watcher.clone(),
    };
    seed.seed(&svc).await.unwrap();
    assert_eq!(e.jobs(), pairs(&svc, &chain));
    let state = e.state(&svc).await;
    assert_eq!(state.state, pb::ServiceState::Seeding as i32);
    assert_eq!(state.last_error, "");
    // service.json describes the service in its target.
    let target = e.watcher.regions.store("r2").unwrap();
    let key = format!("{}/service.json", svc.target_prefix);
    target.head(&key.as_str().into()).await.unwrap();
    // A redelivered ServiceCreated queues nothing new.
    seed.seed(&svc).await.unwrap();
    assert_eq!(e.recorded.sent().len(), chain.len());
}

#[tokio::test]
async fn seeding_without_a_full_waits_and_a_deleted_service_gets_no_jobs() {
    let e = env().await;
    let waiting =
        e.t.service(&Source::new("t1", "db-1", "r1"), "r2")
            .await
            .unwrap();
    let seed = SeedOnCreate {
        watcher: e.watcher.clone(),
    };
    seed.seed(&waiting).await.unwrap();
    assert!(e.jobs().is_empty());
    let state = e.state(&waiting).await;
    assert_eq!(state.state, pb::ServiceState::Seeding as i32);
    assert!(
        state.last_error.contains("waiting for a full backup"),
        "{state:?}"
    );

    let source = Source::new("t1", "db-2", "r1");
    let deleted = e.t.service(&source, "r2").await.unwrap();
    let chain = e.chain(&source);
    e.in_source_store(&chain).await;
    e.t.delete(&deleted).await.unwrap();
    seed.seed(&deleted).await.unwrap();
    assert!(e.jobs().is_empty(), "{:?}", e.jobs());
    assert_eq!(
        e.state(&deleted).await.state,
        pb::ServiceState::Deleting as i32
    );
}

#[tokio::test]
async fn reconciliation_queues_what_the_source_holds_for_live_services_only() {
    let e = env().await;
    let live_source = Source::new("t1", "db-1", "r1");
    let live = e.t.service(&live_source, "r2").await.unwrap();
    let gone_source = Source::new("t1", "db-2", "r1");
    let gone = e.t.service(&gone_source, "r2").await.unwrap();
    e.t.delete(&gone).await.unwrap();
    let not_enrolled = Source::new("t1", "db-3", "r1");
    e.t.instance(&not_enrolled).await.unwrap();
    // Nothing reached the catalog's inventory: the events were lost.
    let live_chain = e.chain(&live_source);
    for source in [&live_source, &gone_source, &not_enrolled] {
        e.in_source_store(&e.chain(source)).await;
    }
    let pass = reconcile_all(&e.watcher, 4).await.unwrap();
    assert_eq!((pass.services, pass.queued, pass.failed), (1, 3, 0));
    assert_eq!(e.jobs(), pairs(&live, &live_chain));
    // The next pass queues the same jobs again (the ids make them no-ops).
    reconcile_all(&e.watcher, 1).await.unwrap();
    assert_eq!(e.recorded.sent().len(), live_chain.len());
}

#[tokio::test]
async fn a_new_backup_is_a_job_only_for_an_enrolled_instance() {
    let e = env().await;
    let enrolled = Source::new("t1", "db-1", "r1");
    let svc = e.t.service(&enrolled, "r2").await.unwrap();
    let not_enrolled = Source::new("t1", "db-2", "r1");
    e.t.instance(&not_enrolled).await.unwrap();
    let handler = JobPerBackup {
        watcher: e.watcher.clone(),
    };
    let backup = e.chain(&enrolled).remove(0);
    assert_eq!(handler.jobs_for(&backup).await, Ok(Outcome::Ack));
    assert_eq!(e.jobs(), pairs(&svc, std::slice::from_ref(&backup)));
    let other = e.chain(&not_enrolled).remove(0);
    assert_eq!(handler.jobs_for(&other).await, Ok(Outcome::Ack));
    assert_eq!(e.recorded.sent().len(), 1, "no job for db-2");
    // A descriptor of the enrolled instance from another region: refused.
    let mut elsewhere = e.chain(&enrolled).remove(1);
    elsewhere.region = "r2".into();
    assert!(matches!(
        handler.jobs_for(&elsewhere).await,
        Err(Outcome::Reject(_))
    ));
    // Once the service is deleted, its instance's backups are no one's job.
    e.t.delete(&svc).await.unwrap();
    let later = e.chain(&enrolled).remove(2);
    assert_eq!(handler.jobs_for(&later).await, Ok(Outcome::Ack));
    assert_eq!(e.recorded.sent().len(), 1);
}

/// More services than a page of LiveServices (500), each with a FULL left
/// in its source store and none in the inventory.
async fn fleet(e: &Env, n: usize) -> Vec<pb::ServiceRef> {
    let mut services = Vec::with_capacity(n);
    for i in 0..n {
        let source = Source::new("t1", &format!("db-{i}"), "r1");
        services.push(e.t.service(&source, "r2").await.unwrap());
        e.in_source_store(&e.chain(&source)[..1]).await;
    }
    services
}

#[tokio::test]
async fn a_concurrent_pass_pages_through_every_service_once() {
    let e = env().await;
    let services = fleet(&e, 523).await;
    let pass = reconcile_all(&e.watcher, 16).await.unwrap();
    assert_eq!((pass.services, pass.queued, pass.failed), (523, 523, 0));
    let served: BTreeSet<String> = e.jobs().into_iter().map(|(s, _)| s).collect();
    let all: BTreeSet<String> = services.into_iter().map(|s| s.service_id).collect();
    assert_eq!(served, all, "one job for each service, across both pages");
    assert_eq!(e.recorded.sent().len(), 523, "no service reconciled twice");
}

#[tokio::test]
async fn failed_services_do_not_stop_a_concurrent_pass_until_ten_in_a_row() {
    let e = env().await;
    let good = fleet(&e, 30).await;
    // Nine services the watcher cannot reconcile (their target region is
    // not configured here), among good ones: the pass goes on.
    for i in 0..9 {
        let source = Source::new("t1", &format!("elsewhere-{i}"), "r1");
        e.t.service(&source, "r3").await.unwrap();
    }
    let pass = reconcile_all(&e.watcher, 4).await.unwrap();
    assert_eq!((pass.services, pass.queued, pass.failed), (39, 30, 9));
    assert_eq!(e.jobs().len(), good.len());
    // Ten failures in a row (nothing else left to succeed in between): the
    // pass gives up with the error, as it did one service at a time.
    for i in 9..20 {
        let source = Source::new("t1", &format!("elsewhere-{i}"), "r1");
        e.t.service(&source, "r3").await.unwrap();
    }
    let error = reconcile_all(&e.watcher, 1).await.unwrap_err();
    assert!(error.to_string().contains("r3"), "{error}");
}
