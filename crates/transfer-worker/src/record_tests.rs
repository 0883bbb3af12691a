//! The worker's checks against the catalog's record, with a real catalog
//! answering in process (no NATS): what `liveness::ask` makes of a live, a
//! deleted and an unknown service, and that a job naming another folder
//! than the record is refused.

#![allow(clippy::unwrap_used)] // test code: a panic is a failure report

use xregion_catalog::testing::{Source, TestCatalog};
use xregion_proto::xregion::v1 as pb;

use crate::liveness::{ask, Liveness};
use crate::ownership::job_matches_record;

async fn one_service() -> (TestCatalog, Source, pb::ServiceRef) {
    let t = TestCatalog::new(&["r1", "r2"]).await.unwrap();
    let source = Source::new("t1", "db-1", "r1");
    let svc = t.service(&source, "r2").await.unwrap();
    (t, source, svc)
}

#[tokio::test]
async fn a_live_service_answers_with_the_catalogs_record() {
    let (t, _, svc) = one_service().await;
    assert_eq!(
        ask(&t.client(), &svc.service_id).await.unwrap(),
        Liveness::Live(svc)
    );
}

#[tokio::test]
async fn a_deleting_or_deleted_service_is_gone() {
    let (t, _, svc) = one_service().await;
    t.delete(&svc).await.unwrap();
    assert_eq!(
        ask(&t.client(), &svc.service_id).await.unwrap(),
        Liveness::Gone
    );
    let other = t
        .service(&Source::new("t1", "db-2", "r1"), "r2")
        .await
        .unwrap();
    t.delete_and_purge(&other).await.unwrap();
    assert_eq!(
        ask(&t.client(), &other.service_id).await.unwrap(),
        Liveness::Gone
    );
}

#[tokio::test]
async fn a_service_the_catalog_never_had_is_unknown_not_gone() {
    let (t, _, _) = one_service().await;
    // An empty catalog (a stray one, say) says the same of every service:
    // nothing may be removed on its word.
    for id in ["svc-never-created", "not a valid id/.."] {
        assert_eq!(ask(&t.client(), id).await.unwrap(), Liveness::Unknown);
    }
}

#[tokio::test]
async fn a_job_whose_prefix_differs_from_the_record_is_refused() {
    let (t, source, svc) = one_service().await;
    let Liveness::Live(record) = ask(&t.client(), &svc.service_id).await.unwrap() else {
        panic!("the service is live");
    };
    let backup = source.full("f1", 1, 0);
    assert!(job_matches_record(&record, &svc, &backup).is_ok());
    // A forged job: the service's id, another tenant's folder.
    let forged = pb::ServiceRef {
        target_prefix: format!("t2/db-9/{}", svc.service_id),
        ..svc.clone()
    };
    let refused = job_matches_record(&record, &forged, &backup).unwrap_err();
    assert!(refused.contains("target prefix"), "{refused}");
    // The right service, another instance's backup.
    let stray = Source::new("t1", "db-2", "r1").full("f2", 1, 0);
    let refused = job_matches_record(&record, &svc, &stray).unwrap_err();
    assert!(refused.contains("backup instance"), "{refused}");
}
