//! A real catalog for the services' unit tests, without NATS: a [`Catalog`]
//! on a throwaway SQLite file, answered in process ([`TestCatalog::client`])
//! by the same handlers as over NATS, and a few ways to put instances,
//! services and backups in it. Behind the `test-support` feature.

use std::sync::Arc;

use xregion_bus::CatalogClient;
use xregion_common::clock::FixedClock;
use xregion_domain::Engine;
use xregion_proto::convert::timestamp;
use xregion_proto::rds::v1 as rds;
use xregion_proto::xregion::v1 as pb;

use crate::clock::SystemClock;
use crate::error::{CatalogError, Result};
use crate::service::{service_ref, Catalog};
use crate::store::instances::InstanceRow;
use crate::store::Db;

pub struct TestCatalog {
    pub catalog: Catalog,
    regions: Vec<String>,
    // Holds the database file for as long as the catalog lives.
    _dir: tempfile::TempDir,
}

impl TestCatalog {
    /// A migrated catalog on the wall clock, knowing `regions`.
    pub async fn new(regions: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir()
            .map_err(|e| CatalogError::precondition(format!("temp dir: {e}")))?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("catalog.db").display()
        );
        let db = Db::connect(&url, 1).await?;
        db.migrate().await?;
        let catalog = Catalog::new(
            db,
            Arc::new(SystemClock::default()),
            regions.iter().map(|r| r.to_string()),
            None,
            3600,
        );
        Ok(Self {
            catalog,
            regions: regions.iter().map(|r| r.to_string()).collect(),
            _dir: dir,
        })
    }

    /// A catalog with tenant t1's MySQL instance db-1 of r1 enrolled into
    /// r2 (a CREATING service).
    pub async fn with_one_service() -> Result<(Self, Source, pb::ServiceRef)> {
        let t = Self::new(&["r1", "r2"]).await?;
        let source = Source::new("t1", "db-1", "r1");
        let service = t.service(&source, "r2").await?;
        Ok((t, source, service))
    }

    /// This catalog's database on a clock that moves when told (lag
    /// threshold 1 h, as [`Self::new`]'s).
    pub fn on_fixed_clock(&self) -> (Catalog, Arc<FixedClock>) {
        let clock = FixedClock::at(self.catalog.now());
        let catalog = Catalog::new(
            self.catalog.db.clone(),
            clock.clone(),
            self.regions.iter().cloned(),
            None,
            3600,
        );
        (catalog, clock)
    }

    /// A client whose requests this catalog answers in process.
    pub fn client(&self) -> CatalogClient {
        crate::rpc::local_client(self.catalog.clone())
    }

    /// Records a MySQL instance, as its upstream InstanceCreated would.
    pub async fn instance(&self, source: &Source) -> Result<()> {
        let row = InstanceRow {
            instance_id: source.instance.clone(),
            tenant_id: source.tenant.clone(),
            engine: Engine::Mysql,
            region: source.region.clone(),
            created_at: 0,
            deleted_at: None,
        };
        self.catalog.instance_created(&row).await
    }

    /// Enrols `source` (recorded first) into `target`: a CREATING service.
    pub async fn service(&self, source: &Source, target: &str) -> Result<pb::ServiceRef> {
        self.instance(source).await?;
        let req = pb::CreateSyncServiceRequest {
            engine: pb::Engine::Mysql as i32,
            source_region: source.region.clone(),
            source_instance_id: source.instance.clone(),
            target_region: target.to_string(),
            retention_days: None,
            request_id: String::new(),
        };
        let row = self.catalog.create_service(&source.tenant, &req).await?;
        Ok(service_ref(&row))
    }

    /// The tenant deletes the service: DELETING.
    pub async fn delete(&self, service: &pb::ServiceRef) -> Result<()> {
        self.catalog
            .delete_service(
                &service.tenant_id,
                &service.service_id,
                pb::DeleteReason::UserRequest,
            )
            .await
            .map(drop)
    }

    /// Deleted and its data purged: DELETED.
    pub async fn delete_and_purge(&self, service: &pb::ServiceRef) -> Result<()> {
        self.delete(service).await?;
        let purged = pb::ServiceDataPurged {
            service_id: service.service_id.clone(),
            tenant_id: service.tenant_id.clone(),
            objects_deleted: 0,
            bytes_deleted: 0,
            purged_at: Some(timestamp(self.catalog.now())),
        };
        self.catalog.service_purged(&purged).await
    }

    /// Records an upstream backup, as its BackupCreated would.
    pub async fn backup(&self, d: &rds::BackupDescriptor) -> Result<()> {
        self.catalog.record_backup(d).await.map(drop)
    }
}

/// The BackupSynced a worker announces for `d` copied at `at_ms`
/// (manifest `m/<backup id>`, 1 KiB).
pub fn synced(service: &pb::ServiceRef, d: &rds::BackupDescriptor, at_ms: i64) -> pb::BackupSynced {
    pb::BackupSynced {
        service: Some(service.clone()),
        backup: Some(d.clone()),
        manifest_key: format!("m/{}", d.backup_id),
        bytes: 1024,
        synced_at: Some(timestamp(at_ms)),
        duration_ms: 1,
    }
}

/// Relays what `catalog`'s outbox holds to a recording publisher and
/// returns the events as a watcher would read them, in order.
pub async fn relayed_events(catalog: &Catalog) -> Result<Vec<xregion_bus::AnyEvent>> {
    let ns = xregion_bus::Namespace::new("t", "rds")
        .map_err(|e| CatalogError::precondition(e.to_string()))?;
    let (publisher, recorded) = xregion_bus::Publisher::recording(ns.clone());
    let relay = crate::outbox::OutboxRelay {
        db: catalog.db.clone(),
        publisher,
        wake: Arc::default(),
        interval: std::time::Duration::from_secs(1),
        clock: catalog.clock.clone(),
    };
    relay.drain().await?;
    Ok(recorded
        .sent()
        .iter()
        .filter_map(|s| xregion_bus::AnyEvent::decode(&ns, &s.subject, &s.payload))
        .collect())
}

/// A MySQL instance of a tenant in a region, and descriptors of its backups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub tenant: String,
    pub instance: String,
    pub region: String,
    /// The size of each backup's one file.
    pub file_size: u64,
}

impl Source {
    pub fn new(tenant: &str, instance: &str, region: &str) -> Self {
        Self {
            tenant: tenant.into(),
            instance: instance.into(),
            region: region.into(),
            file_size: 1024,
        }
    }

    pub fn with_file_size(self, file_size: u64) -> Self {
        Self { file_size, ..self }
    }

    /// A FULL consistent at `at_ms`, at binlog `binlog`.
    pub fn full(&self, backup_id: &str, binlog: u64, at_ms: i64) -> rds::BackupDescriptor {
        self.descriptor(backup_id, rds::BackupKind::Full, binlog, at_ms, at_ms)
    }

    /// Binlog `binlog`, covering `[start_ms, end_ms]`.
    pub fn log(
        &self,
        backup_id: &str,
        binlog: u64,
        start_ms: i64,
        end_ms: i64,
    ) -> rds::BackupDescriptor {
        self.descriptor(backup_id, rds::BackupKind::Log, binlog, start_ms, end_ms)
    }

    fn descriptor(
        &self,
        backup_id: &str,
        kind: rds::BackupKind,
        binlog: u64,
        start_ms: i64,
        end_ms: i64,
    ) -> rds::BackupDescriptor {
        rds::BackupDescriptor {
            backup_id: backup_id.into(),
            instance_id: self.instance.clone(),
            tenant_id: self.tenant.clone(),
            engine: rds::Engine::Mysql as i32,
            region: self.region.clone(),
            kind: kind as i32,
            files: vec![rds::BackupFile {
                key: format!("{}/{backup_id}/data", self.instance),
                size: self.file_size,
                sha256: "a".repeat(64),
            }],
            data_start_time: Some(timestamp(start_ms)),
            data_end_time: Some(timestamp(end_ms)),
            position: Some(rds::backup_descriptor::Position::Mysql(
                rds::MysqlPosition {
                    binlog_file_number: binlog,
                    binlog_offset: 4,
                    ..Default::default()
                },
            )),
            created_at: None,
            format: 0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The in-process client reaches the same handlers, and the contract's
    /// refusals, as a request over NATS.
    #[tokio::test]
    async fn the_local_client_answers_through_the_contract() {
        let t = TestCatalog::new(&["r1", "r2"]).await.unwrap();
        let source = Source::new("t1", "db-1", "r1");
        let svc = t.service(&source, "r2").await.unwrap();
        let client = t.client();
        let get = pb::GetSyncServiceRequest {
            id: svc.service_id.clone(),
        };
        let got = client.request("t1", &get).await.unwrap();
        assert_eq!(got.id, svc.service_id);
        assert_eq!(got.state, pb::ServiceState::Creating as i32);
        // Another tenant does not see it.
        let other = client.request("t2", &get).await.unwrap_err();
        assert!(matches!(
            other,
            xregion_bus::BusError::Remote {
                code: pb::ErrorCode::NotFound,
                ..
            }
        ));
        // An internal method with a tenant is refused before it runs.
        let internal: xregion_bus::Result<pb::LiveServicesResponse> = client
            .call(
                xregion_bus::methods::LIVE_SERVICES,
                "t1",
                &pb::LiveServicesRequest::default(),
            )
            .await;
        assert!(matches!(
            internal,
            Err(xregion_bus::BusError::Remote {
                code: pb::ErrorCode::PermissionDenied,
                ..
            })
        ));
        let live = client.live_services("").await.unwrap();
        assert_eq!(live, vec![svc]);
        let unknown: xregion_bus::Result<pb::Empty> =
            client.call("NoSuchMethod", "t1", &pb::Empty {}).await;
        assert!(matches!(
            unknown,
            Err(xregion_bus::BusError::Remote {
                code: pb::ErrorCode::Unspecified,
                ..
            })
        ));
    }
}
