//! Writing backups to a source store and publishing the upstream events.

use std::sync::Arc;

use async_nats::jetstream;
use object_store::path::Path;
use object_store::ObjectStore;
use prost::Message;
use sha2::{Digest, Sha256};
use xregion_bus::{Namespace, UpstreamEvent};
use xregion_domain::{layout, Engine};
use xregion_proto::convert::{engine_to_rds, timestamp};
use xregion_proto::rds::v1 as rds;

use crate::chain::GeneratedBackup;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("publish {subject}: {reason}")]
    Publish { subject: String, reason: String },
}

#[derive(Clone)]
pub struct Upstream {
    pub js: jetstream::Context,
    pub ns: Namespace,
}

impl Upstream {
    pub fn new(client: async_nats::Client, ns: Namespace) -> Self {
        Self {
            js: jetstream::new(client),
            ns,
        }
    }

    async fn publish<M: Message>(
        &self,
        region: &str,
        event: UpstreamEvent,
        id: &str,
        msg: &M,
    ) -> Result<(), UpstreamError> {
        let subject = self.ns.upstream_subject(region, event);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id);
        let err = |e: String| UpstreamError::Publish {
            subject: subject.clone(),
            reason: e,
        };
        self.js
            .publish_with_headers(subject.clone(), headers, msg.encode_to_vec().into())
            .await
            .map_err(|e| err(e.to_string()))?
            .await
            .map_err(|e| err(e.to_string()))?;
        Ok(())
    }

    pub async fn instance_created(
        &self,
        id: &str,
        tenant: &str,
        engine: Engine,
        region: &str,
        at_ms: i64,
    ) -> Result<(), UpstreamError> {
        let e = rds::InstanceCreated {
            instance_id: id.into(),
            tenant_id: tenant.into(),
            engine: engine_to_rds(engine) as i32,
            region: region.into(),
            created_at: Some(timestamp(at_ms)),
        };
        self.publish(
            region,
            UpstreamEvent::InstanceCreated,
            &format!("ic:{id}"),
            &e,
        )
        .await
    }

    pub async fn instance_deleted(
        &self,
        id: &str,
        tenant: &str,
        region: &str,
        at_ms: i64,
    ) -> Result<(), UpstreamError> {
        let e = rds::InstanceDeleted {
            instance_id: id.into(),
            tenant_id: tenant.into(),
            region: region.into(),
            deleted_at: Some(timestamp(at_ms)),
        };
        self.publish(
            region,
            UpstreamEvent::InstanceDeleted,
            &format!("id:{id}"),
            &e,
        )
        .await
    }

    /// Writes the files (computing their sha256) and the descriptor into the
    /// source store; returns the final descriptor. Publishes nothing.
    pub async fn write_backup(
        &self,
        store: &Arc<dyn ObjectStore>,
        backup: &GeneratedBackup,
    ) -> Result<rds::BackupDescriptor, UpstreamError> {
        let mut d = backup.descriptor.clone();
        for (file, content) in d.files.iter_mut().zip(&backup.contents) {
            file.sha256 = hex::encode(Sha256::digest(content));
            file.size = content.len() as u64;
            store
                .put(&Path::from(file.key.as_str()), content.clone().into())
                .await?;
        }
        let key = layout::source_descriptor_key(&d.instance_id, &d.backup_id);
        store
            .put(&Path::from(key), d.encode_to_vec().into())
            .await?;
        Ok(d)
    }

    pub async fn backup_created(&self, d: &rds::BackupDescriptor) -> Result<(), UpstreamError> {
        let e = rds::BackupCreated {
            backup: Some(d.clone()),
        };
        self.publish(
            &d.region,
            UpstreamEvent::BackupCreated,
            &format!("bc:{}", d.backup_id),
            &e,
        )
        .await
    }

    /// Writes and announces a backup, as the upstream does.
    pub async fn emit(
        &self,
        store: &Arc<dyn ObjectStore>,
        backup: &GeneratedBackup,
    ) -> Result<rds::BackupDescriptor, UpstreamError> {
        let d = self.write_backup(store, backup).await?;
        self.backup_created(&d).await?;
        Ok(d)
    }

    /// Fault injection: overwrite a written file so its checksum no longer
    /// matches the descriptor.
    pub async fn corrupt(
        &self,
        store: &Arc<dyn ObjectStore>,
        d: &rds::BackupDescriptor,
    ) -> Result<(), UpstreamError> {
        for f in &d.files {
            let path = Path::from(f.key.as_str());
            let mut bytes = store.get(&path).await?.bytes().await?.to_vec();
            if let Some(b) = bytes.first_mut() {
                *b ^= 0xff;
            }
            store.put(&path, bytes.into()).await?;
        }
        Ok(())
    }
}
