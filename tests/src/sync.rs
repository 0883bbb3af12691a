//! Helpers for sync tests: a stack with the simulator wired to its source
//! region, and waits on service state.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::Upstream;

use crate::stack::{authed, Stack, TENANT_A, TOKEN_A};
use crate::wait::wait_until;

pub type Api = pb::cross_region_backup_service_client::CrossRegionBackupServiceClient<
    tonic::transport::Channel,
>;

pub const WAIT: Duration = Duration::from_secs(60);

/// Settings that keep sync tests quick: fast retries, frequent reconciliation.
pub const FAST_SYNC_CONFIG: &str =
    "\n[watcher]\nreconcile_interval_secs = 2\n\n[worker]\npart_size_mib = 5\n";

/// A stack for sync tests with fast settings and every service but cleanup,
/// which such tests start themselves with the settings they need.
pub fn fast_sync_without_cleanup() -> crate::StackOptions {
    crate::StackOptions {
        extra_config: FAST_SYNC_CONFIG.into(),
        services: vec![
            "catalog",
            "api-gateway",
            "backup-watcher",
            "transfer-worker",
        ],
        ..Default::default()
    }
}

/// What a job or an event says about tenant A's MySQL service `svc` of
/// `instance` (from `r1` to `r2`).
pub fn service_ref(svc: &pb::SyncService, instance: &str) -> pb::ServiceRef {
    pb::ServiceRef {
        service_id: svc.id.clone(),
        tenant_id: TENANT_A.into(),
        engine: pb::Engine::Mysql as i32,
        source_region: "r1".into(),
        instance_id: instance.into(),
        target_region: "r2".into(),
        retention_days: svc.retention_days,
        target_prefix: xregion_domain::layout::service_prefix(TENANT_A, instance, &svc.id),
    }
}

pub struct SyncEnv {
    pub upstream: Upstream,
    pub source: Arc<dyn ObjectStore>,
    pub target: Arc<dyn ObjectStore>,
    pub api: Api,
}

impl SyncEnv {
    pub async fn new(
        stack: &Stack,
        source_region: &str,
        target_region: &str,
    ) -> anyhow::Result<Self> {
        let client = stack.nats.upstream_client().await?;
        Ok(Self {
            upstream: Upstream::new(client, stack.ns()),
            source: crate::garage::store(stack.region(source_region)?)?,
            target: crate::garage::store(stack.region(target_region)?)?,
            api: stack.grpc().await?,
        })
    }

    /// Announces an instance of tenant A and waits until it is eligible.
    pub async fn instance(&self, id: &str, engine: Engine, region: &str) -> anyhow::Result<()> {
        self.upstream
            .instance_created(id, TENANT_A, engine, region, 1_700_000_000_000)
            .await?;
        let api_engine = xregion_proto::convert::engine_to_api(engine);
        wait_until(&format!("instance {id} eligible"), WAIT, || {
            let mut api = self.api.clone();
            let region = region.to_string();
            let id = id.to_string();
            async move {
                let req = pb::ListEligibleInstancesRequest {
                    engine: api_engine as i32,
                    source_region: region,
                };
                let ids = api
                    .list_eligible_instances(authed(TOKEN_A, req))
                    .await?
                    .into_inner()
                    .instances;
                Ok(ids.iter().any(|i| i.id == id).then_some(()))
            }
        })
        .await
    }

    pub async fn create(
        &self,
        instance: &str,
        engine: Engine,
        source: &str,
        target: &str,
    ) -> anyhow::Result<pb::SyncService> {
        let req = pb::CreateSyncServiceRequest {
            engine: xregion_proto::convert::engine_to_api(engine) as i32,
            source_region: source.into(),
            source_instance_id: instance.into(),
            target_region: target.into(),
            retention_days: None,
            request_id: String::new(),
        };
        Ok(self
            .api
            .clone()
            .create_sync_service(authed(TOKEN_A, req))
            .await?
            .into_inner())
    }

    /// DeleteSyncService as tenant A.
    pub async fn delete(&self, id: &str) -> anyhow::Result<()> {
        let req = pb::DeleteSyncServiceRequest { id: id.into() };
        self.api
            .clone()
            .delete_sync_service(authed(TOKEN_A, req))
            .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<pb::SyncService> {
        Ok(self
            .api
            .clone()
            .get_sync_service(authed(TOKEN_A, pb::GetSyncServiceRequest { id: id.into() }))
            .await?
            .into_inner())
    }

    /// Waits until the service satisfies `pred`, returning it.
    pub async fn wait_service(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&pb::SyncService) -> bool,
    ) -> anyhow::Result<pb::SyncService> {
        wait_until(what, WAIT, || async {
            let s = self.get(id).await?;
            Ok(pred(&s).then_some(s))
        })
        .await
    }

    pub async fn window(&self, id: &str) -> anyhow::Result<pb::RestoreWindow> {
        Ok(self
            .api
            .clone()
            .get_restore_window(authed(
                TOKEN_A,
                pb::GetRestoreWindowRequest {
                    service_id: id.into(),
                },
            ))
            .await?
            .into_inner())
    }

    pub async fn plan(&self, id: &str, at_ms: i64) -> Result<pb::RestorePlan, tonic::Status> {
        let req = pb::GetRestorePlanRequest {
            service_id: id.into(),
            restore_time: Some(xregion_proto::convert::timestamp(at_ms)),
        };
        Ok(self
            .api
            .clone()
            .get_restore_plan(authed(TOKEN_A, req))
            .await?
            .into_inner())
    }
}

impl SyncEnv {
    /// How many objects the target holds under `prefix`.
    pub async fn objects_under(&self, prefix: &str) -> anyhow::Result<usize> {
        use futures::TryStreamExt;
        Ok(self
            .target
            .list(Some(&object_store::path::Path::from(prefix)))
            .try_collect::<Vec<_>>()
            .await?
            .len())
    }

    /// A MySQL instance of tenant A (in `r1`) with a FULL and a LOG, and its
    /// service to `r2`, RUNNING with both synced. Returns the service and
    /// its target prefix, which holds service.json, 2 files, 2 manifests.
    pub async fn running_service(
        &self,
        instance: &str,
        t0: i64,
    ) -> anyhow::Result<(pb::SyncService, String)> {
        self.instance(instance, Engine::Mysql, "r1").await?;
        let mut chain = xregion_rds_sim::ChainGen::new(instance, TENANT_A, "r1", Engine::Mysql, t0);
        self.upstream
            .emit(&self.source, &chain.full(50_000))
            .await?;
        self.upstream
            .emit(&self.source, &chain.log(60_000, 500))
            .await?;
        let svc = self.create(instance, Engine::Mysql, "r1", "r2").await?;
        let svc = self
            .wait_service(&svc.id, "RUNNING", |s| {
                state(s) == pb::ServiceState::Running && s.synced_backups == 2
            })
            .await?;
        let prefix = xregion_domain::layout::service_prefix(TENANT_A, instance, &svc.id);
        let n = self.objects_under(&prefix).await?;
        anyhow::ensure!(
            n == 5,
            "{n} objects under {prefix}: service.json, 2 files, 2 manifests expected"
        );
        Ok((svc, prefix))
    }
}

pub fn latest_ms(s: &pb::SyncService) -> Option<i64> {
    s.latest_data_time
        .as_ref()
        .map(xregion_proto::convert::millis)
}

pub fn state(s: &pb::SyncService) -> pb::ServiceState {
    pb::ServiceState::try_from(s.state).unwrap_or(pb::ServiceState::Unspecified)
}
