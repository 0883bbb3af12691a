//! What tenant A reads about its services (listings, usage, the live
//! watch) and what the target store holds of them.

use futures::TryStreamExt;
use object_store::path::Path;
use sha2::Digest;
use xregion_domain::Engine;
use xregion_proto::rds::v1::BackupDescriptor;
use xregion_proto::xregion::v1 as pb;

use crate::api::as_a;
use crate::metrics::S3Delta;
use crate::stack::{authed, TENANT_A};
use crate::sync::SyncEnv;

impl SyncEnv {
    /// Every file of `backup` is in the target under `instance`'s service
    /// `service_id`, byte for byte (its sha256; plain copies).
    pub async fn assert_landed(
        &self,
        instance: &str,
        service_id: &str,
        backup: &BackupDescriptor,
    ) -> anyhow::Result<()> {
        let prefix = xregion_domain::layout::service_prefix(TENANT_A, instance, service_id);
        for f in &backup.files {
            let key = xregion_domain::layout::backup_file_key(&prefix, &backup.backup_id, &f.key);
            let bytes = self.target.get(&Path::from(key)).await?.bytes().await?;
            let sha = hex::encode(sha2::Sha256::digest(&bytes));
            anyhow::ensure!(
                sha == f.sha256,
                "{}: sha256 {sha}, {} expected",
                f.key,
                f.sha256
            );
        }
        Ok(())
    }

    /// Writes `n` LOGs of `chain` to the source, announces them, and waits
    /// until service `id` has `synced + n` copies; returns the LOGs and
    /// Garage's S3 requests meanwhile.
    pub async fn logs_counted(
        &self,
        stack: &crate::Stack,
        chain: &mut xregion_rds_sim::ChainGen,
        id: &str,
        synced: u64,
        n: u64,
    ) -> anyhow::Result<(Vec<BackupDescriptor>, S3Delta)> {
        let mut logs = Vec::new();
        for _ in 0..n {
            let log = chain.log(5 * 60_000, 3000);
            logs.push(self.upstream.write_backup(&self.source, &log).await?);
        }
        let before = stack.garage.metrics().await?;
        for log in &logs {
            self.upstream.backup_created(log).await?;
        }
        self.wait_running(id, synced + n).await?;
        let after = stack.garage.metrics().await?;
        Ok((logs, S3Delta { before, after }))
    }

    /// The keys the target holds under `prefix`.
    pub async fn keys_under(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .target
            .list(Some(&Path::from(prefix)))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await?)
    }

    /// How many objects the target holds under `prefix`.
    pub async fn objects_under(&self, prefix: &str) -> anyhow::Result<usize> {
        Ok(self.keys_under(prefix).await?.len())
    }

    /// A MySQL instance of tenant A (in `r1`) with a FULL and a LOG, and its
    /// service to `r2`, RUNNING with both synced. Returns the service and
    /// its target prefix, which holds service.json, 2 files, 2 manifests.
    pub async fn running_service(
        &self,
        instance: &str,
        t0: i64,
    ) -> anyhow::Result<(pb::SyncService, String)> {
        let mut chain = self.chain(instance, Engine::Mysql, t0).await?;
        self.upstream
            .emit(&self.source, &chain.full(50_000))
            .await?;
        self.upstream
            .emit(&self.source, &chain.log(60_000, 500))
            .await?;
        let svc = self.create(instance, Engine::Mysql, "r1", "r2").await?;
        let svc = self.wait_running(&svc.id, 2).await?;
        let prefix = xregion_domain::layout::service_prefix(TENANT_A, instance, &svc.id);
        let n = self.objects_under(&prefix).await?;
        anyhow::ensure!(
            n == 5,
            "{n} objects under {prefix}: service.json, 2 files, 2 manifests expected"
        );
        Ok((svc, prefix))
    }

    /// ListSyncServices as tenant A.
    pub async fn list(
        &self,
        req: pb::ListSyncServicesRequest,
    ) -> anyhow::Result<pb::ListSyncServicesResponse> {
        let mut api = self.api.clone();
        Ok(api.list_sync_services(as_a(req)).await?.into_inner())
    }

    /// ListSyncedBackups as tenant A.
    pub async fn synced_backups(
        &self,
        req: pb::ListSyncedBackupsRequest,
    ) -> anyhow::Result<pb::ListSyncedBackupsResponse> {
        let mut api = self.api.clone();
        Ok(api.list_synced_backups(as_a(req)).await?.into_inner())
    }

    /// The ids of the backups synced for service `id` (first 1000).
    pub async fn synced_ids(&self, id: &str) -> anyhow::Result<Vec<String>> {
        let req = pb::ListSyncedBackupsRequest {
            service_id: id.into(),
            page_size: 1000,
            ..Default::default()
        };
        let listed = self.synced_backups(req).await?.backups;
        Ok(listed.into_iter().map(|b| b.backup_id).collect())
    }

    /// GetUsage of service `id` over all time, as tenant A.
    pub async fn usage(&self, id: &str) -> anyhow::Result<pb::GetUsageResponse> {
        let req = pb::GetUsageRequest {
            service_id: id.into(),
            ..Default::default()
        };
        Ok(self.api.clone().get_usage(as_a(req)).await?.into_inner())
    }

    /// WatchSyncService as `token`'s tenant: one service, or all (`""`).
    pub async fn watch(
        &self,
        token: &str,
        service_id: &str,
    ) -> Result<tonic::Streaming<pb::WatchEvent>, tonic::Status> {
        let req = pb::WatchSyncServiceRequest {
            service_id: service_id.into(),
            ..Default::default()
        };
        let mut api = self.api.clone();
        Ok(api
            .watch_sync_service(authed(token, req))
            .await?
            .into_inner())
    }
}
