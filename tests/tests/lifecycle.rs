//! Sync services through the gRPC API, over real gRPC, NATS, PostgreSQL
//! (and SQLite, the embedded default) and Garage.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::Duration;

use tonic::Code;
use xregion_bus::EventSubject;
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::stack::{authed, TENANT_A, TENANT_B, TOKEN_A, TOKEN_B};
use xregion_tests::upstream::Upstream;
use xregion_tests::{wait_until, Stack, StackOptions};

type Api = pb::cross_region_backup_service_client::CrossRegionBackupServiceClient<
    tonic::transport::Channel,
>;

const WAIT: Duration = Duration::from_secs(30);

fn create(instance: &str) -> pb::CreateSyncServiceRequest {
    pb::CreateSyncServiceRequest {
        engine: pb::Engine::Mysql as i32,
        source_region: "r1".into(),
        source_instance_id: instance.into(),
        target_region: "r2".into(),
        retention_days: None,
        request_id: String::new(),
    }
}

async fn eligible(
    api: &mut Api,
    token: &str,
    engine: pb::Engine,
    region: &str,
) -> anyhow::Result<Vec<String>> {
    let req = pb::ListEligibleInstancesRequest {
        engine: engine as i32,
        source_region: region.into(),
    };
    Ok(api
        .list_eligible_instances(authed(token, req))
        .await?
        .into_inner()
        .instances
        .into_iter()
        .map(|i| i.id)
        .collect())
}

/// Publishes the upstream inventory and waits until the catalog has it.
async fn seed_inventory(up: &Upstream, api: &mut Api) -> anyhow::Result<()> {
    up.instance_created("mysql-1", TENANT_A, rds::Engine::Mysql, "r1")
        .await?;
    up.instance_created("mysql-2", TENANT_A, rds::Engine::Mysql, "r1")
        .await?;
    up.instance_created("mssql-1", TENANT_A, rds::Engine::Sqlserver, "r1")
        .await?;
    up.instance_created("gone-1", TENANT_A, rds::Engine::Mysql, "r1")
        .await?;
    up.instance_created("other-tenant", TENANT_B, rds::Engine::Mysql, "r1")
        .await?;
    up.instance_created("east-1", TENANT_A, rds::Engine::Mysql, "r3")
        .await?;
    up.instance_deleted("gone-1", TENANT_A, "r1").await?;
    wait_until("inventory in the catalog", WAIT, || {
        let mut api = api.clone();
        async move {
            let ids = eligible(&mut api, TOKEN_A, pb::Engine::Mysql, "r1").await?;
            let b = eligible(&mut api, TOKEN_B, pb::Engine::Mysql, "r1").await?;
            let e = eligible(&mut api, TOKEN_A, pb::Engine::Mysql, "r3").await?;
            Ok(
                (ids == ["mysql-1", "mysql-2"] && b == ["other-tenant"] && e == ["east-1"])
                    .then_some(()),
            )
        }
    })
    .await
}

fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> (Code, String) {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(s) => (s.code(), s.message().to_string()),
    }
}

/// The contract every catalog backend must honour, through the public API.
async fn contract_suite(stack: &Stack) -> anyhow::Result<()> {
    let up = Upstream::connect(&stack.nats.url, stack.ns()).await?;
    let mut api = stack.grpc().await?;
    seed_inventory(&up, &mut api).await?;

    // Regions: all configured; every other region is a valid target.
    let regions = api
        .list_regions(authed(TOKEN_A, pb::ListRegionsRequest {}))
        .await?
        .into_inner()
        .regions;
    assert_eq!(regions.len(), 3);

    // Error table: nothing below may write anything.
    let cases: Vec<(pb::CreateSyncServiceRequest, Code, &str)> = vec![
        (
            pb::CreateSyncServiceRequest {
                engine: 0,
                ..create("mysql-1")
            },
            Code::InvalidArgument,
            "engine",
        ),
        (
            pb::CreateSyncServiceRequest {
                engine: 9,
                ..create("mysql-1")
            },
            Code::InvalidArgument,
            "engine",
        ),
        (
            pb::CreateSyncServiceRequest {
                source_region: "nowhere".into(),
                ..create("mysql-1")
            },
            Code::InvalidArgument,
            "source_region",
        ),
        (
            pb::CreateSyncServiceRequest {
                target_region: "nowhere".into(),
                ..create("mysql-1")
            },
            Code::InvalidArgument,
            "target_region",
        ),
        (
            pb::CreateSyncServiceRequest {
                target_region: "r1".into(),
                ..create("mysql-1")
            },
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
            pb::CreateSyncServiceRequest {
                retention_days: Some(0),
                ..create("mysql-1")
            },
            Code::InvalidArgument,
            "retention_days",
        ),
        (
            pb::CreateSyncServiceRequest {
                retention_days: Some(1826),
                ..create("mysql-1")
            },
            Code::InvalidArgument,
            "retention_days",
        ),
        (create("no-such-instance"), Code::NotFound, "not found"),
        (create("other-tenant"), Code::NotFound, "not found"),
        (
            pb::CreateSyncServiceRequest {
                source_region: "r3".into(),
                ..create("mysql-1")
            },
            Code::NotFound,
            "not found",
        ),
        (create("east-1"), Code::NotFound, "not found"),
        (
            pb::CreateSyncServiceRequest {
                engine: pb::Engine::Sqlserver as i32,
                ..create("mysql-1")
            },
            Code::FailedPrecondition,
            "mysql",
        ),
        (create("gone-1"), Code::FailedPrecondition, "deleted"),
    ];
    for (req, want, needle) in cases {
        let (got, msg) = code(api.create_sync_service(authed(TOKEN_A, req.clone())).await);
        assert_eq!(got, want, "{req:?}: {msg}");
        assert!(
            msg.contains(needle),
            "{req:?}: message {msg:?} should name {needle:?}"
        );
    }
    let (got, _) = code(
        api.create_sync_service(tonic::Request::new(create("mysql-1")))
            .await,
    );
    assert_eq!(got, Code::Unauthenticated);
    let (got, _) = code(
        api.create_sync_service(authed("wrong-token", create("mysql-1")))
            .await,
    );
    assert_eq!(got, Code::Unauthenticated);
    let (got, _) = code(
        api.list_regions(authed("wrong-token", pb::ListRegionsRequest {}))
            .await,
    );
    assert_eq!(got, Code::Unauthenticated);
    let all = api
        .list_sync_services(authed(
            TOKEN_A,
            pb::ListSyncServicesRequest {
                include_deleted: true,
                ..Default::default()
            },
        ))
        .await?;
    assert!(
        all.into_inner().services.is_empty(),
        "a rejected call wrote a service"
    );
    assert!(up
        .events::<pb::ServiceCreated>(EventSubject::ServiceCreated)
        .await?
        .is_empty());

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
        eligible(&mut api, TOKEN_A, pb::Engine::Mysql, "r1").await?,
        ["mysql-2"]
    );
    let (got, msg) = code(
        api.create_sync_service(authed(TOKEN_A, create("mysql-1")))
            .await,
    );
    assert_eq!(got, Code::AlreadyExists);
    assert!(msg.contains(&svc.id), "{msg}");

    // Retention bounds accepted; SQL Server instance.
    let mssql = api
        .create_sync_service(authed(
            TOKEN_A,
            pb::CreateSyncServiceRequest {
                engine: pb::Engine::Sqlserver as i32,
                retention_days: Some(1825),
                ..create("mssql-1")
            },
        ))
        .await?
        .into_inner();
    assert_eq!(mssql.retention_days, 1825);

    // Get, and tenant isolation.
    let got = api
        .get_sync_service(authed(
            TOKEN_A,
            pb::GetSyncServiceRequest { id: svc.id.clone() },
        ))
        .await?
        .into_inner();
    assert_eq!(got.id, svc.id);
    let (c, _) = code(
        api.get_sync_service(authed(
            TOKEN_B,
            pb::GetSyncServiceRequest { id: svc.id.clone() },
        ))
        .await,
    );
    assert_eq!(c, Code::NotFound);
    let (c, _) = code(
        api.get_sync_service(authed(
            TOKEN_A,
            pb::GetSyncServiceRequest {
                id: "svc-unknown".into(),
            },
        ))
        .await,
    );
    assert_eq!(c, Code::NotFound);
    let (c, _) = code(
        api.get_sync_service(authed(
            TOKEN_A,
            pb::GetSyncServiceRequest { id: "../x".into() },
        ))
        .await,
    );
    assert_eq!(c, Code::InvalidArgument);
    let (c, _) = code(
        api.delete_sync_service(authed(
            TOKEN_B,
            pb::DeleteSyncServiceRequest { id: svc.id.clone() },
        ))
        .await,
    );
    assert_eq!(c, Code::NotFound);
    let b_list = api
        .list_sync_services(authed(TOKEN_B, pb::ListSyncServicesRequest::default()))
        .await?
        .into_inner();
    assert!(b_list.services.is_empty());

    // List with filters.
    let list = |f: pb::ListSyncServicesRequest| {
        let mut api = api.clone();
        async move {
            anyhow::Ok(
                api.list_sync_services(authed(TOKEN_A, f))
                    .await?
                    .into_inner()
                    .services
                    .into_iter()
                    .map(|s| s.id)
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(
        list(Default::default()).await?,
        [svc.id.clone(), mssql.id.clone()]
    );
    assert_eq!(
        list(pb::ListSyncServicesRequest {
            engine: pb::Engine::Sqlserver as i32,
            ..Default::default()
        })
        .await?,
        vec![mssql.id.clone()]
    );
    assert_eq!(
        list(pb::ListSyncServicesRequest {
            source_instance_id: "mysql-1".into(),
            ..Default::default()
        })
        .await?,
        vec![svc.id.clone()]
    );
    assert_eq!(
        list(pb::ListSyncServicesRequest {
            target_region: "r3".into(),
            ..Default::default()
        })
        .await?,
        Vec::<String>::new()
    );
    assert_eq!(
        list(pb::ListSyncServicesRequest {
            state: pb::ServiceState::Creating as i32,
            source_region: "r1".into(),
            ..Default::default()
        })
        .await?
        .len(),
        2
    );
    let (c, _) = code(
        api.list_sync_services(authed(
            TOKEN_A,
            pb::ListSyncServicesRequest {
                page_size: 1001,
                ..Default::default()
            },
        ))
        .await,
    );
    assert_eq!(c, Code::InvalidArgument);
    let (c, _) = code(
        api.list_sync_services(authed(
            TOKEN_A,
            pb::ListSyncServicesRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
        ))
        .await,
    );
    assert_eq!(c, Code::InvalidArgument);

    // ServiceCreated was published once per service.
    wait_until("ServiceCreated events", WAIT, || {
        let up = &up;
        async move {
            Ok((up
                .events::<pb::ServiceCreated>(EventSubject::ServiceCreated)
                .await?
                .len()
                == 2)
                .then_some(()))
        }
    })
    .await?;

    // Delete: DELETING at once, ServiceDeleted published, repeat is harmless,
    // and the instance is no longer taken by a live service.
    let deleted = api
        .delete_sync_service(authed(
            TOKEN_A,
            pb::DeleteSyncServiceRequest {
                id: mssql.id.clone(),
            },
        ))
        .await?
        .into_inner();
    assert!(matches!(
        pb::ServiceState::try_from(deleted.state)?,
        pb::ServiceState::Deleting | pb::ServiceState::Deleted
    ));
    let again = api
        .delete_sync_service(authed(
            TOKEN_A,
            pb::DeleteSyncServiceRequest {
                id: mssql.id.clone(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(again.id, mssql.id);
    wait_until("ServiceDeleted event", WAIT, || {
        let up = &up;
        let id = mssql.id.clone();
        async move {
            let events = up
                .events::<pb::ServiceDeleted>(EventSubject::ServiceDeleted)
                .await?;
            Ok((events
                .iter()
                .filter(|e| {
                    e.service
                        .as_ref()
                        .map(|s| s.service_id == id)
                        .unwrap_or(false)
                })
                .count()
                == 1)
                .then_some(()))
        }
    })
    .await?;
    assert_eq!(
        eligible(&mut api, TOKEN_A, pb::Engine::Sqlserver, "r1").await?,
        ["mssql-1"]
    );

    // Upstream InstanceDeleted deletes the instance's service.
    up.instance_deleted("mysql-1", TENANT_A, "r1").await?;
    wait_until(
        "service of deleted instance leaves RUNNING states",
        WAIT,
        || {
            let mut api = api.clone();
            let id = svc.id.clone();
            async move {
                let s = api
                    .get_sync_service(authed(TOKEN_A, pb::GetSyncServiceRequest { id }))
                    .await?
                    .into_inner();
                Ok(matches!(
                    pb::ServiceState::try_from(s.state)?,
                    pb::ServiceState::Deleting | pb::ServiceState::Deleted
                )
                .then_some(()))
            }
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn contract_suite_on_postgres() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        services: vec!["catalog", "api-gateway"],
        ..Default::default()
    })
    .await?;
    contract_suite(&stack).await
}

#[tokio::test]
async fn contract_suite_on_sqlite() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        sqlite: true,
        services: vec!["catalog", "api-gateway"],
        ..Default::default()
    })
    .await?;
    contract_suite(&stack).await
}

async fn parallel_creates(stack: &Stack) -> anyhow::Result<()> {
    let up = Upstream::connect(&stack.nats.url, stack.ns()).await?;
    let mut api = stack.grpc().await?;
    up.instance_created("race-1", TENANT_A, rds::Engine::Mysql, "r1")
        .await?;
    up.instance_created("race-2", TENANT_A, rds::Engine::Mysql, "r1")
        .await?;
    wait_until("instances recorded", WAIT, || {
        let mut api = api.clone();
        async move {
            Ok((eligible(&mut api, TOKEN_A, pb::Engine::Mysql, "r1")
                .await?
                .len()
                == 2)
                .then_some(()))
        }
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
    let calls = (0..20).map(|_| {
        let mut api = api.clone();
        let req = pb::CreateSyncServiceRequest {
            request_id: "req-42".into(),
            ..create("race-2")
        };
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
    let again = api
        .create_sync_service(authed(
            TOKEN_A,
            pb::CreateSyncServiceRequest {
                request_id: "req-42".into(),
                ..create("race-2")
            },
        ))
        .await?;
    assert_eq!(again.into_inner().id, ids[0]);
    let listed = api
        .list_sync_services(authed(TOKEN_A, pb::ListSyncServicesRequest::default()))
        .await?
        .into_inner();
    assert_eq!(listed.services.len(), 2);
    Ok(())
}

#[tokio::test]
async fn twenty_parallel_creates_on_postgres() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        services: vec!["catalog", "api-gateway"],
        ..Default::default()
    })
    .await?;
    parallel_creates(&stack).await
}

#[tokio::test]
async fn twenty_parallel_creates_on_sqlite() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        sqlite: true,
        services: vec!["catalog", "api-gateway"],
        ..Default::default()
    })
    .await?;
    parallel_creates(&stack).await
}
