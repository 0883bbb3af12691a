//! Sync services through the gRPC API, over real gRPC, NATS, PostgreSQL
//! (and SQLite, the embedded default) and Garage.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use tonic::Code;
use xregion_bus::EventSubject;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::api::{create_request as create, eligible, refused, Api};
use xregion_tests::probe::BusProbe;
use xregion_tests::stack::{authed, TENANT_A, TENANT_B, TOKEN_A, TOKEN_B};
use xregion_tests::{wait_until, Stack, StackOptions, WAIT};

/// When the simulated upstream says each instance was created.
const CREATED_AT: i64 = 1_700_000_000_000;

/// Publishes the upstream inventory and waits until the catalog has it.
async fn seed_inventory(stack: &Stack, api: &Api) -> anyhow::Result<()> {
    let up = stack.upstream().await?;
    for (id, tenant, engine, region) in [
        ("mysql-1", TENANT_A, Engine::Mysql, "r1"),
        ("mysql-2", TENANT_A, Engine::Mysql, "r1"),
        ("mssql-1", TENANT_A, Engine::Sqlserver, "r1"),
        ("gone-1", TENANT_A, Engine::Mysql, "r1"),
        ("other-tenant", TENANT_B, Engine::Mysql, "r1"),
        ("east-1", TENANT_A, Engine::Mysql, "r3"),
    ] {
        up.instance_created(id, tenant, engine, region, CREATED_AT)
            .await?;
    }
    up.instance_deleted("gone-1", TENANT_A, "r1", CREATED_AT)
        .await?;
    wait_until("inventory in the catalog", WAIT, || async {
        let ids = eligible(api, TOKEN_A, pb::Engine::Mysql, "r1").await?;
        let b = eligible(api, TOKEN_B, pb::Engine::Mysql, "r1").await?;
        let e = eligible(api, TOKEN_A, pb::Engine::Mysql, "r3").await?;
        Ok(
            (ids == ["mysql-1", "mysql-2"] && b == ["other-tenant"] && e == ["east-1"])
                .then_some(()),
        )
    })
    .await
}

/// The contract every catalog backend must honour, through the public API.
async fn contract_suite(stack: &Stack) -> anyhow::Result<()> {
    let probe = stack.probe().await?;
    let api = stack.grpc().await?;
    seed_inventory(stack, &api).await?;
    errors_write_nothing(&api, &probe).await?;
    let (svc, mssql) = create_and_isolate(&api).await?;
    list_filters(&api, &svc, &mssql).await?;
    // ServiceCreated was published once per service.
    let any = |_: &pb::ServiceCreated| true;
    wait_events(&probe, EventSubject::ServiceCreated, any, 2).await?;
    deletes(stack, &api, &probe, &svc, &mssql).await
}

/// Waits until `count` events of one kind satisfy `pred`.
async fn wait_events<M: prost::Message + Default>(
    probe: &BusProbe,
    event: EventSubject,
    pred: impl Fn(&M) -> bool,
    count: usize,
) -> anyhow::Result<()> {
    let what = format!("{count} {event:?} events");
    let done = |all: &[M]| all.iter().filter(|e| pred(e)).count() == count;
    probe.wait_events(&what, event, done).await.map(drop)
}

/// Regions are listed; the error table: nothing below may write anything.
async fn errors_write_nothing(api: &Api, probe: &BusProbe) -> anyhow::Result<()> {
    let mut api = api.clone();
    // Regions: all configured; every other region is a valid target.
    let regions = api
        .list_regions(authed(TOKEN_A, pb::ListRegionsRequest {}))
        .await?
        .into_inner()
        .regions;
    assert_eq!(regions.len(), 3);

    let with = |f: fn(&mut pb::CreateSyncServiceRequest)| {
        let mut req = create("mysql-1");
        f(&mut req);
        req
    };
    let cases: Vec<(pb::CreateSyncServiceRequest, Code, &str)> = vec![
        (with(|r| r.engine = 0), Code::InvalidArgument, "engine"),
        (with(|r| r.engine = 9), Code::InvalidArgument, "engine"),
        (
            with(|r| r.source_region = "nowhere".into()),
            Code::InvalidArgument,
            "source_region",
        ),
        (
            with(|r| r.target_region = "nowhere".into()),
            Code::InvalidArgument,
            "target_region",
        ),
        (
            with(|r| r.target_region = "r1".into()),
            Code::InvalidArgument,
            "target_region",
        ),
        (
            create("../etc"),
            Code::InvalidArgument,
            "source_instance_id",
        ),
        (create("a b"), Code::InvalidArgument, "source_instance_id"),
        (create("a/b"), Code::InvalidArgument, "source_instance_id"),
        (
            create(&"x".repeat(65)),
            Code::InvalidArgument,
            "source_instance_id",
        ),
        (
            with(|r| r.retention_days = Some(0)),
            Code::InvalidArgument,
            "retention_days",
        ),
        (
            with(|r| r.retention_days = Some(1826)),
            Code::InvalidArgument,
            "retention_days",
        ),
        (create("no-such-instance"), Code::NotFound, "not found"),
        (create("other-tenant"), Code::NotFound, "not found"),
        (
            with(|r| r.source_region = "r3".into()),
            Code::NotFound,
            "not found",
        ),
        (create("east-1"), Code::NotFound, "not found"),
        (
            with(|r| r.engine = pb::Engine::Sqlserver as i32),
            Code::FailedPrecondition,
            "mysql",
        ),
        (create("gone-1"), Code::FailedPrecondition, "deleted"),
    ];
    for (req, want, needle) in cases {
        let (got, msg) = refused(api.create_sync_service(authed(TOKEN_A, req.clone())).await)?;
        assert_eq!(got, want, "{req:?}: {msg}");
        assert!(
            msg.contains(needle),
            "{req:?}: message {msg:?} should name {needle:?}"
        );
    }
    let anonymous = tonic::Request::new(create("mysql-1"));
    let (got, _) = refused(api.create_sync_service(anonymous).await)?;
    assert_eq!(got, Code::Unauthenticated);
    let (got, _) = refused(
        api.create_sync_service(authed("wrong-token", create("mysql-1")))
            .await,
    )?;
    assert_eq!(got, Code::Unauthenticated);
    let (got, _) = refused(
        api.list_regions(authed("wrong-token", pb::ListRegionsRequest {}))
            .await,
    )?;
    assert_eq!(got, Code::Unauthenticated);
    let all = pb::ListSyncServicesRequest {
        include_deleted: true,
        ..Default::default()
    };
    let all = api.list_sync_services(authed(TOKEN_A, all)).await?;
    assert!(
        all.into_inner().services.is_empty(),
        "a rejected call wrote a service"
    );
    assert!(probe
        .events::<pb::ServiceCreated>(EventSubject::ServiceCreated)
        .await?
        .is_empty());
    Ok(())
}

/// Creates mysql-1 with defaults and mssql-1 at the retention bound; both
/// stay invisible to tenant B. Returns them.
async fn create_and_isolate(api: &Api) -> anyhow::Result<(pb::SyncService, pb::SyncService)> {
    let mut api = api.clone();
    // Create, with defaults; the instance is no longer eligible.
    let svc = api
        .create_sync_service(authed(TOKEN_A, create("mysql-1")))
        .await?
        .into_inner();
    assert_eq!(svc.retention_days, 7);
    assert_eq!(svc.state, pb::ServiceState::Creating as i32);
    assert_eq!(
        (
            svc.source_region.as_str(),
            svc.target_region.as_str(),
            svc.source_instance_id.as_str()
        ),
        ("r1", "r2", "mysql-1")
    );
    assert!(svc.latest_data_time.is_none() && svc.lag_seconds.is_none());
    assert_eq!(
        eligible(&api, TOKEN_A, pb::Engine::Mysql, "r1").await?,
        ["mysql-2"]
    );
    let (got, msg) = refused(
        api.create_sync_service(authed(TOKEN_A, create("mysql-1")))
            .await,
    )?;
    assert_eq!(got, Code::AlreadyExists);
    assert!(msg.contains(&svc.id), "{msg}");

    // Retention bounds accepted; SQL Server instance.
    let req = pb::CreateSyncServiceRequest {
        engine: pb::Engine::Sqlserver as i32,
        retention_days: Some(1825),
        ..create("mssql-1")
    };
    let mssql = api
        .create_sync_service(authed(TOKEN_A, req))
        .await?
        .into_inner();
    assert_eq!(mssql.retention_days, 1825);

    // Get, and tenant isolation.
    let get = |token: &'static str, id: &str| {
        let mut api = api.clone();
        let req = pb::GetSyncServiceRequest { id: id.into() };
        async move { api.get_sync_service(authed(token, req)).await }
    };
    assert_eq!(get(TOKEN_A, &svc.id).await?.into_inner().id, svc.id);
    for (token, id, want) in [
        (TOKEN_B, svc.id.as_str(), Code::NotFound),
        (TOKEN_A, "svc-unknown", Code::NotFound),
        (TOKEN_A, "../x", Code::InvalidArgument),
    ] {
        assert_eq!(refused(get(token, id).await)?.0, want, "get {id}");
    }
    let (c, _) = refused(
        api.delete_sync_service(authed(
            TOKEN_B,
            pb::DeleteSyncServiceRequest { id: svc.id.clone() },
        ))
        .await,
    )?;
    assert_eq!(c, Code::NotFound);
    let b_list = api
        .list_sync_services(authed(TOKEN_B, pb::ListSyncServicesRequest::default()))
        .await?
        .into_inner();
    assert!(b_list.services.is_empty());
    Ok((svc, mssql))
}

/// ListSyncServices with each filter, and its refused paging arguments.
async fn list_filters(
    api: &Api,
    svc: &pb::SyncService,
    mssql: &pb::SyncService,
) -> anyhow::Result<()> {
    let list = |f: pb::ListSyncServicesRequest| {
        let mut api = api.clone();
        async move { api.list_sync_services(authed(TOKEN_A, f)).await }
    };
    let ids = |f: pb::ListSyncServicesRequest| async {
        let listed = list(f).await?.into_inner().services;
        anyhow::Ok(listed.into_iter().map(|s| s.id).collect::<Vec<_>>())
    };
    let filtered = |f: fn(&mut pb::ListSyncServicesRequest)| {
        let mut req = pb::ListSyncServicesRequest::default();
        f(&mut req);
        req
    };
    let cases: Vec<(pb::ListSyncServicesRequest, Vec<String>)> = vec![
        (filtered(|_| {}), vec![svc.id.clone(), mssql.id.clone()]),
        (
            filtered(|r| r.engine = pb::Engine::Sqlserver as i32),
            vec![mssql.id.clone()],
        ),
        (
            filtered(|r| r.source_instance_id = "mysql-1".into()),
            vec![svc.id.clone()],
        ),
        (filtered(|r| r.target_region = "r3".into()), vec![]),
        // Above the maximum is served as the maximum (AIP-158), not refused.
        (
            filtered(|r| r.page_size = 1001),
            vec![svc.id.clone(), mssql.id.clone()],
        ),
    ];
    for (req, want) in cases {
        assert_eq!(ids(req.clone()).await?, want, "{req:?}");
    }
    let creating_in_r1 = filtered(|r| {
        r.state = pb::ServiceState::Creating as i32;
        r.source_region = "r1".into();
    });
    assert_eq!(ids(creating_in_r1).await?.len(), 2);
    for bad in [filtered(|r| r.page_token = "garbage".into())] {
        let (c, _) = refused(list(bad.clone()).await)?;
        assert_eq!(c, Code::InvalidArgument, "{bad:?}");
    }
    Ok(())
}

/// Delete: DELETING at once, ServiceDeleted published, repeat is harmless,
/// and the instance is no longer taken by a live service; an upstream
/// InstanceDeleted deletes the instance's service.
async fn deletes(
    stack: &Stack,
    api: &Api,
    probe: &BusProbe,
    svc: &pb::SyncService,
    mssql: &pb::SyncService,
) -> anyhow::Result<()> {
    let delete = |id: &str| {
        let mut api = api.clone();
        let req = pb::DeleteSyncServiceRequest { id: id.into() };
        async move {
            anyhow::Ok(
                api.delete_sync_service(authed(TOKEN_A, req))
                    .await?
                    .into_inner(),
            )
        }
    };
    let deleted = delete(&mssql.id).await?;
    assert!(matches!(
        pb::ServiceState::try_from(deleted.state)?,
        pb::ServiceState::Deleting | pb::ServiceState::Deleted
    ));
    assert_eq!(delete(&mssql.id).await?.id, mssql.id);
    let of_mssql =
        |e: &pb::ServiceDeleted| e.service.as_ref().is_some_and(|s| s.service_id == mssql.id);
    wait_events(probe, EventSubject::ServiceDeleted, of_mssql, 1).await?;
    assert_eq!(
        eligible(api, TOKEN_A, pb::Engine::Sqlserver, "r1").await?,
        ["mssql-1"]
    );

    // Upstream InstanceDeleted deletes the instance's service.
    let up = stack.upstream().await?;
    up.instance_deleted("mysql-1", TENANT_A, "r1", CREATED_AT)
        .await?;
    let what = "service of deleted instance leaves RUNNING states";
    wait_until(what, WAIT, || async {
        let req = pb::GetSyncServiceRequest { id: svc.id.clone() };
        let s = api.clone().get_sync_service(authed(TOKEN_A, req)).await?;
        Ok(matches!(
            pb::ServiceState::try_from(s.into_inner().state)?,
            pb::ServiceState::Deleting | pb::ServiceState::Deleted
        )
        .then_some(()))
    })
    .await
}

async fn parallel_creates(stack: &Stack) -> anyhow::Result<()> {
    let up = stack.upstream().await?;
    let mut api = stack.grpc().await?;
    for id in ["race-1", "race-2"] {
        up.instance_created(id, TENANT_A, Engine::Mysql, "r1", CREATED_AT)
            .await?;
    }
    wait_until("instances recorded", WAIT, || async {
        let ids = eligible(&api, TOKEN_A, pb::Engine::Mysql, "r1").await?;
        Ok((ids.len() == 2).then_some(()))
    })
    .await?;

    // 20 parallel creates without request id: exactly one wins.
    let calls = (0..20).map(|_| {
        let mut api = api.clone();
        tokio::spawn(async move {
            api.create_sync_service(authed(TOKEN_A, create("race-1")))
                .await
        })
    });
    let results = futures::future::join_all(calls).await;
    let mut ok = Vec::new();
    let mut exists = 0;
    for r in results {
        match r? {
            Ok(s) => ok.push(s.into_inner().id),
            Err(s) if s.code() == Code::AlreadyExists => exists += 1,
            Err(s) => panic!("unexpected {s:?}"),
        }
    }
    assert_eq!((ok.len(), exists), (1, 19));

    // 20 parallel retries of one request: all get the same service.
    let retry = pb::CreateSyncServiceRequest {
        request_id: "req-42".into(),
        ..create("race-2")
    };
    let calls = (0..20).map(|_| {
        let mut api = api.clone();
        let req = retry.clone();
        tokio::spawn(async move { api.create_sync_service(authed(TOKEN_A, req)).await })
    });
    let ids: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| {
            r.map_err(anyhow::Error::from)
                .and_then(|r| Ok(r?.into_inner().id))
        })
        .collect::<anyhow::Result<_>>()?;
    assert!(ids.iter().all(|i| i == &ids[0]), "{ids:?}");
    // A later retry still returns it; another instance with the same id is refused.
    let again = api.create_sync_service(authed(TOKEN_A, retry)).await?;
    assert_eq!(again.into_inner().id, ids[0]);
    let listed = api
        .list_sync_services(authed(TOKEN_A, pb::ListSyncServicesRequest::default()))
        .await?
        .into_inner();
    assert_eq!(listed.services.len(), 2);
    Ok(())
}

/// Each suite runs once per catalog backend, on a stack of catalog and
/// gateway only: `suite => (test on PostgreSQL, test on SQLite)`.
macro_rules! on_each_backend {
    ($($suite:ident => ($postgres:ident, $sqlite:ident);)*) => {$(
        #[tokio::test]
        async fn $postgres() -> anyhow::Result<()> {
            $suite(&Stack::start(StackOptions::api_only()).await?).await
        }

        #[tokio::test]
        async fn $sqlite() -> anyhow::Result<()> {
            $suite(&Stack::start(StackOptions::api_only().on_sqlite()).await?).await
        }
    )*};
}

on_each_backend! {
    contract_suite => (contract_suite_on_postgres, contract_suite_on_sqlite);
    parallel_creates => (twenty_parallel_creates_on_postgres, twenty_parallel_creates_on_sqlite);
}
