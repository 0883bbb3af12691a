//! Helpers for sync tests: a stack with the simulator wired to its source
//! region, tenant A's services on it, and waits on their state.

use std::sync::Arc;

use object_store::ObjectStore;
use xregion_domain::Engine;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::{ChainGen, GeneratedBackup, Upstream};

pub use crate::api::Api;
use crate::api::{as_a, eligible};
use crate::probe::BusProbe;
use crate::stack::{Stack, StackOptions, TENANT_A, TOKEN_A};
use crate::wait::{wait_until, WAIT};

/// Settings that keep sync tests quick: fast retries, frequent reconciliation.
pub const FAST_SYNC_CONFIG: &str =
    "\n[watcher]\nreconcile_interval_secs = 2\n\n[worker]\npart_size_mib = 5\n";

/// [`FAST_SYNC_CONFIG`] with the r1 → r2 pair limited to `bytes_per_sec`,
/// two parts in flight and `ack_wait_secs`: a FULL that stays under way
/// long enough for a test to act while it copies.
pub fn throttled_sync_config(ack_wait_secs: u64, bytes_per_sec: u64) -> String {
    format!(
        "{FAST_SYNC_CONFIG}ack_wait_secs = {ack_wait_secs}\nparts_in_flight = 2\n\
         bandwidth = [{{ source = \"r1\", target = \"r2\", bytes_per_sec = {bytes_per_sec} }}]\n"
    )
}

/// A stack for sync tests with fast settings and every service but cleanup,
/// which such tests start themselves with the settings they need.
pub fn fast_sync_without_cleanup() -> StackOptions {
    StackOptions {
        services: vec![
            "catalog",
            "api-gateway",
            "backup-watcher",
            "transfer-worker",
        ],
        ..StackOptions::fast_sync()
    }
}

/// Cleanup sweeping every second with no grace period (anything it may
/// delete, it deletes at once), then `extra`.
pub fn eager_cleanup(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec![
        "--set",
        "cleanup.sweep_interval_secs=1",
        "--set",
        "cleanup.orphan_grace_hours=0",
    ];
    args.extend_from_slice(extra);
    args
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

/// Tenant A's view of one stack, syncing from `source_region` to
/// `target_region`: the upstream simulator, both stores, the API, and a
/// probe on the bus.
pub struct SyncEnv {
    pub upstream: Upstream,
    pub probe: BusProbe,
    pub source: Arc<dyn ObjectStore>,
    pub target: Arc<dyn ObjectStore>,
    pub source_region: String,
    pub target_region: String,
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
            probe: stack.probe().await?,
            source: crate::garage::store(stack.region(source_region)?)?,
            target: crate::garage::store(stack.region(target_region)?)?,
            source_region: source_region.into(),
            target_region: target_region.into(),
            api: stack.grpc().await?,
        })
    }

    /// Starts a stack with `opts` and tenant A's view of it, from r1 to r2.
    pub async fn start(opts: StackOptions) -> anyhow::Result<(Stack, Self)> {
        let stack = Stack::start(opts).await?;
        let env = Self::new(&stack, "r1", "r2").await?;
        Ok((stack, env))
    }

    /// Announces an instance of tenant A and waits until it is eligible.
    pub async fn instance(&self, id: &str, engine: Engine, region: &str) -> anyhow::Result<()> {
        self.upstream
            .instance_created(id, TENANT_A, engine, region, 1_700_000_000_000)
            .await?;
        let api_engine = xregion_proto::convert::engine_to_api(engine);
        wait_until(&format!("instance {id} eligible"), WAIT, || async {
            let ids = eligible(&self.api, TOKEN_A, api_engine, region).await?;
            Ok(ids.iter().any(|i| i == id).then_some(()))
        })
        .await
    }

    /// Announces `instance` in the source region and returns its backup
    /// chain, starting at `t0`.
    pub async fn chain(&self, instance: &str, engine: Engine, t0: i64) -> anyhow::Result<ChainGen> {
        let region = self.source_region.as_str();
        self.instance(instance, engine, region).await?;
        Ok(ChainGen::new(instance, TENANT_A, region, engine, t0))
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
        let mut api = self.api.clone();
        Ok(api.create_sync_service(as_a(req)).await?.into_inner())
    }

    /// A MySQL instance of tenant A in r1 and its service to r2, SEEDING
    /// (no backup yet).
    pub async fn seeding(&self, instance: &str) -> anyhow::Result<pb::SyncService> {
        self.instance(instance, Engine::Mysql, "r1").await?;
        let svc = self.create(instance, Engine::Mysql, "r1", "r2").await?;
        self.wait_state(&svc.id, pb::ServiceState::Seeding).await
    }

    /// A MySQL `backup` of `instance` whose files no longer match its
    /// descriptor once announced, and the instance's service from the
    /// source to the target region. Returns the service and the descriptor.
    pub async fn corrupted_full(
        &self,
        instance: &str,
        backup: GeneratedBackup,
    ) -> anyhow::Result<(pb::SyncService, BackupDescriptor)> {
        let full = self.upstream.write_backup(&self.source, &backup).await?;
        self.upstream.corrupt(&self.source, &full).await?;
        self.upstream.backup_created(&full).await?;
        let (source, target) = (&self.source_region, &self.target_region);
        let svc = self.create(instance, Engine::Mysql, source, target).await?;
        Ok((svc, full))
    }

    /// DeleteSyncService as tenant A.
    pub async fn delete(&self, id: &str) -> anyhow::Result<()> {
        let req = pb::DeleteSyncServiceRequest { id: id.into() };
        self.api.clone().delete_sync_service(as_a(req)).await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<pb::SyncService> {
        let req = pb::GetSyncServiceRequest { id: id.into() };
        let mut api = self.api.clone();
        Ok(api.get_sync_service(as_a(req)).await?.into_inner())
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

    /// Waits until the service is in `want`, returning it.
    pub async fn wait_state(
        &self,
        id: &str,
        want: pb::ServiceState,
    ) -> anyhow::Result<pb::SyncService> {
        let what = want.as_str_name();
        self.wait_service(id, what, |s| state(s) == want).await
    }

    /// Waits until the service is RUNNING with `synced` backups synced.
    pub async fn wait_running(&self, id: &str, synced: u64) -> anyhow::Result<pb::SyncService> {
        let what = format!("RUNNING with {synced} backups synced");
        self.wait_service(id, &what, |s| {
            state(s) == pb::ServiceState::Running && s.synced_backups == synced
        })
        .await
    }

    pub async fn window(&self, id: &str) -> anyhow::Result<pb::RestoreWindow> {
        let req = pb::GetRestoreWindowRequest {
            service_id: id.into(),
        };
        let mut api = self.api.clone();
        Ok(api.get_restore_window(as_a(req)).await?.into_inner())
    }

    pub async fn plan(&self, id: &str, at_ms: i64) -> Result<pb::RestorePlan, tonic::Status> {
        let req = pb::GetRestorePlanRequest {
            service_id: id.into(),
            restore_time: Some(xregion_proto::convert::timestamp(at_ms)),
        };
        let mut api = self.api.clone();
        Ok(api.get_restore_plan(as_a(req)).await?.into_inner())
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

/// Waits until the upload recorded under `key` in `uploads` has at least
/// `n` parts completed.
pub async fn parts_recorded(
    uploads: &async_nats::jetstream::kv::Store,
    key: &str,
    n: usize,
    within: std::time::Duration,
) -> anyhow::Result<()> {
    wait_until(&format!("{n} parts recorded"), within, || async {
        let Some(bytes) = uploads.get(key).await? else {
            return Ok(None);
        };
        let state: serde_json::Value = serde_json::from_slice(&bytes)?;
        let parts = state["parts"].as_array().map_or(0, Vec::len);
        Ok((parts >= n).then_some(()))
    })
    .await
}
