//! Looks at the bus from outside the services: what they published, what
//! they dead-lettered; and pokes it as a forger, a buggy service or an
//! operator would. The upstream itself is played by `xregion_rds_sim`.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use prost::Message;
use xregion_bus::deadletter::{self, DeadLetter};
use xregion_bus::{EventSubject, Namespace};

use crate::wait::{wait_until, WAIT};

/// Waits until `progress` (a subscription to a service's transfer progress)
/// shows `backup_id` partly copied: the copy is under way, not done.
pub async fn copy_under_way(
    progress: &mut async_nats::Subscriber,
    backup_id: &str,
) -> anyhow::Result<()> {
    // As long as a throttled copy behind other work may take to start.
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(msg) = progress.next().await {
            let p = xregion_proto::xregion::v1::TransferProgress::decode(msg.payload.as_ref())?;
            if p.backup_id == backup_id && p.bytes_done > 0 && !p.done {
                return Ok(());
            }
        }
        anyhow::bail!("the progress of {backup_id} ended before its copy was under way")
    })
    .await
    .map_err(|_| anyhow::anyhow!("{backup_id}: no progress"))?
}

#[derive(Clone)]
pub struct BusProbe {
    pub js: jetstream::Context,
    pub ns: Namespace,
}

impl BusProbe {
    pub fn new(client: async_nats::Client, ns: Namespace) -> Self {
        Self {
            js: jetstream::new(client),
            ns,
        }
    }

    /// Waits until the service's durable consumer `name` (as the service
    /// names it, e.g. `watcher-backups`) has settled every message of
    /// `stream` published so far: nothing pending, nothing unacknowledged.
    pub async fn wait_consumer_idle(&self, stream: &str, name: &str) -> anyhow::Result<()> {
        let durable = self.ns.durable(name);
        let stream = self.js.get_stream(stream).await?;
        wait_until(&format!("{durable} to settle its backlog"), WAIT, || {
            let (stream, durable) = (&stream, &durable);
            async move {
                let info = stream
                    .consumer_info(durable)
                    .await
                    .map_err(|e| anyhow::anyhow!("consumer {durable}: {e}"))?;
                Ok((info.num_pending == 0 && info.num_ack_pending == 0).then_some(()))
            }
        })
        .await
    }

    /// Every message of `stream` on `filter` so far, oldest first. Read
    /// again until it reads whole: on a cluster that just lost a node the
    /// stream answers 503 until its new leader is elected.
    pub async fn messages(
        &self,
        stream: &str,
        filter: String,
    ) -> anyhow::Result<Vec<jetstream::Message>> {
        let last = std::sync::Mutex::new(String::new());
        let read = wait_until(&format!("{stream} readable"), WAIT, || async {
            match self.messages_once(stream, filter.clone()).await {
                Ok(all) => Ok(Some(all)),
                Err(error) => {
                    *last.lock().unwrap_or_else(|p| p.into_inner()) = error.to_string();
                    Ok(None)
                }
            }
        })
        .await;
        read.map_err(|e| {
            let last = last.lock().unwrap_or_else(|p| p.into_inner()).clone();
            anyhow::anyhow!("{e}; last error: {last}")
        })
    }

    async fn messages_once(
        &self,
        stream: &str,
        filter: String,
    ) -> anyhow::Result<Vec<jetstream::Message>> {
        let consumer = self
            .js
            .get_stream(stream)
            .await?
            .create_consumer(consumer::pull::Config {
                filter_subject: filter,
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::None,
                ..Default::default()
            })
            .await?;
        let mut out = Vec::new();
        let mut batch = consumer
            .fetch()
            .max_messages(100_000)
            .expires(Duration::from_millis(300))
            .messages()
            .await?;
        while let Some(msg) = batch.next().await {
            out.push(msg.map_err(|e| anyhow::anyhow!("{e}"))?);
        }
        Ok(out)
    }

    /// Every event of one kind in the events stream so far, decoded.
    pub async fn events<M: Message + Default>(
        &self,
        event: EventSubject,
    ) -> anyhow::Result<Vec<M>> {
        self.messages(&self.ns.events_stream(), self.ns.event_subject(event))
            .await?
            .iter()
            .map(|m| Ok(M::decode(m.payload.as_ref())?))
            .collect()
    }

    /// Waits until the events of one kind satisfy `done`; returns them.
    pub async fn wait_events<M: Message + Default>(
        &self,
        what: &str,
        event: EventSubject,
        done: impl Fn(&[M]) -> bool,
    ) -> anyhow::Result<Vec<M>> {
        wait_until(what, WAIT, || async {
            let events = self.events::<M>(event).await?;
            Ok(done(&events).then_some(events))
        })
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

    /// The dead letters so far, as `xregion admin dead-letters` lists them.
    pub async fn dead_letters(&self) -> anyhow::Result<Vec<DeadLetter>> {
        Ok(deadletter::list(&self.js, &self.ns).await?)
    }

    /// Waits until a dead letter from a subject containing `subject_part`
    /// gives a reason containing `says`; returns that reason.
    pub async fn wait_dead_letter(&self, subject_part: &str, says: &str) -> anyhow::Result<String> {
        let what = format!("a dead letter from {subject_part} saying {says:?}");
        wait_until(&what, WAIT, || async {
            Ok(self
                .dead_letters()
                .await?
                .into_iter()
                .find(|d| d.original_subject.contains(subject_part) && d.reason.contains(says))
                .map(|d| d.reason))
        })
        .await
    }

    /// Sets the FULL lane's bandwidth from `source` to `target`, in bytes a
    /// second, as an operator would at runtime.
    pub async fn limit_full_lane(
        &self,
        source: &str,
        target: &str,
        bytes: u64,
    ) -> anyhow::Result<()> {
        self.limit_lane(source, target, false, bytes).await
    }

    /// The same for the LOG lane.
    pub async fn limit_log_lane(
        &self,
        source: &str,
        target: &str,
        bytes: u64,
    ) -> anyhow::Result<()> {
        self.limit_lane(source, target, true, bytes).await
    }

    async fn limit_lane(
        &self,
        source: &str,
        target: &str,
        log: bool,
        bytes: u64,
    ) -> anyhow::Result<()> {
        self.js
            .get_key_value(self.ns.limits_bucket())
            .await?
            .put(
                Namespace::bandwidth_key(source, target, log),
                bytes.to_string().into(),
            )
            .await?;
        Ok(())
    }
}
