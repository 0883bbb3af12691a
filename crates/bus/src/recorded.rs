//! What a recording [`Publisher`](crate::Publisher) kept: the messages a
//! unit test's code under test published, without NATS.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::{BusError, Result};
use crate::events::Event;
use crate::names::Namespace;
use crate::publish::Published;

/// One published message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub subject: String,
    /// `None` for a transient (core NATS) publish.
    pub msg_id: Option<String>,
    pub payload: Vec<u8>,
}

impl Sent {
    pub fn decode<M: prost::Message + Default>(&self) -> Result<M> {
        M::decode(self.payload.as_slice()).map_err(|e| BusError::Decode {
            what: "recorded message",
            reason: e.to_string(),
        })
    }
}

/// The messages of a recording publisher, in publish order; cloning shares
/// them.
///
/// Like a stream's dedupe window, a publish whose `Nats-Msg-Id` was already
/// recorded is answered [`Published::Duplicate`] and not recorded again.
#[derive(Clone)]
pub struct Recorded {
    ns: Namespace,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    sent: Vec<Sent>,
    /// Set: every publish fails as NATS being unavailable would.
    failing: Option<String>,
}

impl Recorded {
    pub(crate) fn new(ns: Namespace) -> Self {
        Self {
            ns,
            inner: Arc::default(),
        }
    }

    // A panicking test thread must not hide what was recorded before it.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn publish(
        &self,
        subject: String,
        msg_id: &str,
        payload: Vec<u8>,
    ) -> Result<Published> {
        let mut inner = self.lock();
        if let Some(reason) = &inner.failing {
            return Err(BusError::Publish {
                subject,
                reason: reason.clone(),
            });
        }
        if inner
            .sent
            .iter()
            .any(|s| s.msg_id.as_deref() == Some(msg_id))
        {
            return Ok(Published::Duplicate);
        }
        inner.sent.push(Sent {
            subject,
            msg_id: Some(msg_id.to_string()),
            payload,
        });
        Ok(Published::Stored {
            sequence: inner.sent.len() as u64,
        })
    }

    pub(crate) fn publish_transient(&self, subject: String, payload: Vec<u8>) -> Result<()> {
        let mut inner = self.lock();
        if let Some(reason) = &inner.failing {
            return Err(BusError::Publish {
                subject,
                reason: reason.clone(),
            });
        }
        inner.sent.push(Sent {
            subject,
            msg_id: None,
            payload,
        });
        Ok(())
    }

    /// Everything published so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    /// What was published to one subject.
    pub fn on(&self, subject: &str) -> Vec<Sent> {
        self.lock()
            .sent
            .iter()
            .filter(|s| s.subject == subject)
            .cloned()
            .collect()
    }

    /// The events of one type published so far, decoded.
    pub fn events<E: Event>(&self) -> Result<Vec<E>> {
        self.on(&self.ns.event_subject(E::SUBJECT))
            .iter()
            .map(Sent::decode)
            .collect()
    }

    /// From now on every publish fails with `reason`, as when NATS is
    /// unavailable (`None`: publishes succeed again).
    pub fn fail_publishes(&self, reason: Option<&str>) {
        self.lock().failing = reason.map(str::to_string);
    }

    pub fn clear(&self) {
        self.lock().sent.clear();
    }
}

impl std::fmt::Debug for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorded")
            .field("sent", &self.lock().sent.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use xregion_proto::xregion::v1 as pb;

    use crate::publish::{Published, Publisher};
    use crate::Namespace;

    fn purged(service_id: &str) -> pb::ServiceDataPurged {
        pb::ServiceDataPurged {
            service_id: service_id.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn records_what_is_emitted_and_drops_repeated_ids() {
        let (publisher, recorded) = Publisher::recording(Namespace::new("t", "rds").unwrap());
        let first = publisher.emit(&purged("s1")).await.unwrap();
        assert_eq!(first, Published::Stored { sequence: 1 });
        assert_eq!(
            publisher.emit(&purged("s1")).await.unwrap(),
            Published::Duplicate
        );
        publisher
            .publish_transient("t.progress.s1.b1".into(), &purged("p"))
            .await
            .unwrap();
        let sent = recorded.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].subject, "t.events.service.purged");
        assert_eq!(sent[0].msg_id.as_deref(), Some("purged:s1"));
        assert_eq!(sent[1].msg_id, None);
        let events: Vec<pb::ServiceDataPurged> = recorded.events().unwrap();
        assert_eq!(events, vec![purged("s1")]);
        assert!(publisher.jetstream().is_err());
    }

    #[tokio::test]
    async fn failing_publishes_look_like_an_outage() {
        let (publisher, recorded) = Publisher::recording(Namespace::new("t", "rds").unwrap());
        recorded.fail_publishes(Some("nats down"));
        let err = publisher.emit(&purged("s1")).await.unwrap_err();
        assert!(err.is_unavailable());
        recorded.fail_publishes(None);
        publisher.emit(&purged("s1")).await.unwrap();
        assert_eq!(recorded.sent().len(), 1);
    }
}
