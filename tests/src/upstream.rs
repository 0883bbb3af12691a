//! Plays the upstream RDS control plane in tests: publishes its events.

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use prost::Message;
use xregion_bus::{EventSubject, Namespace, UpstreamEvent};
use xregion_proto::rds::v1 as rds;

pub struct Upstream {
    pub js: jetstream::Context,
    pub ns: Namespace,
}

impl Upstream {
    pub async fn connect(url: &str, ns: Namespace) -> anyhow::Result<Self> {
        let client = async_nats::connect(url).await?;
        Ok(Self {
            js: jetstream::new(client),
            ns,
        })
    }

    async fn publish<M: Message>(
        &self,
        region: &str,
        event: UpstreamEvent,
        id: String,
        msg: &M,
    ) -> anyhow::Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        self.js
            .publish_with_headers(
                self.ns.upstream_subject(region, event),
                headers,
                msg.encode_to_vec().into(),
            )
            .await?
            .await?;
        Ok(())
    }

    pub async fn instance_created(
        &self,
        id: &str,
        tenant: &str,
        engine: rds::Engine,
        region: &str,
    ) -> anyhow::Result<()> {
        let e = rds::InstanceCreated {
            instance_id: id.into(),
            tenant_id: tenant.into(),
            engine: engine as i32,
            region: region.into(),
            created_at: Some(xregion_proto::convert::timestamp(1_700_000_000_000)),
        };
        self.publish(
            region,
            UpstreamEvent::InstanceCreated,
            format!("ic:{id}"),
            &e,
        )
        .await
    }

    pub async fn instance_deleted(
        &self,
        id: &str,
        tenant: &str,
        region: &str,
    ) -> anyhow::Result<()> {
        let e = rds::InstanceDeleted {
            instance_id: id.into(),
            tenant_id: tenant.into(),
            region: region.into(),
            deleted_at: None,
        };
        self.publish(
            region,
            UpstreamEvent::InstanceDeleted,
            format!("id:{id}"),
            &e,
        )
        .await
    }

    pub async fn backup_created(&self, backup: &rds::BackupDescriptor) -> anyhow::Result<()> {
        let e = rds::BackupCreated {
            backup: Some(backup.clone()),
        };
        self.publish(
            &backup.region,
            UpstreamEvent::BackupCreated,
            format!("bc:{}", backup.backup_id),
            &e,
        )
        .await
    }

    /// Publishes `msg` on any subject of the bus with a message id, as a
    /// forger, a buggy service or a redelivery would.
    pub async fn publish_raw<M: Message>(
        &self,
        subject: String,
        msg_id: &str,
        msg: &M,
    ) -> anyhow::Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        self.js
            .publish_with_headers(subject, headers, msg.encode_to_vec().into())
            .await?
            .await?;
        Ok(())
    }

    /// How many messages the dead-letter stream holds.
    pub async fn dead_letter_count(&self) -> anyhow::Result<u64> {
        let mut stream = self.js.get_stream(self.ns.dead_letter_stream()).await?;
        Ok(stream.info().await?.state.messages)
    }

    /// Every event of one kind in the events stream so far, decoded.
    pub async fn events<M: Message + Default>(
        &self,
        event: EventSubject,
    ) -> anyhow::Result<Vec<M>> {
        let stream = self.js.get_stream(self.ns.events_stream()).await?;
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                filter_subject: self.ns.event_subject(event),
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::None,
                ..Default::default()
            })
            .await?;
        let mut out = Vec::new();
        let mut batch = consumer
            .fetch()
            .max_messages(100_000)
            .expires(std::time::Duration::from_millis(300))
            .messages()
            .await?;
        while let Some(msg) = batch.next().await {
            let msg = msg.map_err(|e| anyhow::anyhow!("{e}"))?;
            out.push(M::decode(msg.payload.as_ref())?);
        }
        Ok(out)
    }
}
