//! `WatchSyncService`: a tenant's progress, state, copy, lag, expiry and
//! purge events, live, resumable after a reconnect.
//!
//! Events are read from the `XREGION_EVENTS` stream with an ordered push
//! consumer (ephemeral, one a watch), so each carries its stream sequence as
//! its cursor and a watch given `resume_after` replays exactly what came
//! after it. Progress is core NATS and live only: it has no cursor. A
//! tenant sees only its own services' events: the tenant an event names, or
//! for an event that names none the catalog's answer for its service.

use std::collections::HashMap;
use std::pin::Pin;

use async_nats::jetstream::consumer::{push, DeliverPolicy};
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};
use xregion_bus::{AnyEvent, CatalogClient};
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::watch_event::Event;
use xregion_proto::WATCH_CURSOR_HEADER;

use crate::error::{status, unavailable};
use crate::gateway::{check_id, Gateway};

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEvent, Status>> + Send>>;

/// What a cursor starts with; the rest is the events stream's sequence.
const CURSOR_PREFIX: &str = "ev1.";

pub fn cursor(sequence: u64) -> String {
    format!("{CURSOR_PREFIX}{sequence}")
}

/// The sequence a cursor names; `None` for an empty one (watch from now).
pub fn parse_cursor(text: &str) -> Result<Option<u64>, Status> {
    if text.is_empty() {
        return Ok(None);
    }
    text.strip_prefix(CURSOR_PREFIX)
        .and_then(|s| s.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "invalid resume_after {text:?}: not a cursor this watch sent"
            ))
        })
}

/// After which sequence the watch starts reading the events stream, which
/// now keeps sequences `first..=last`: the cursor, or the newest event.
pub fn start_after(resume_after: Option<u64>, first: u64, last: u64) -> Result<u64, Status> {
    let Some(after) = resume_after else {
        return Ok(last);
    };
    if after > last {
        return Err(Status::invalid_argument(format!(
            "invalid resume_after {}: after the newest event ({})",
            cursor(after),
            cursor(last)
        )));
    }
    // Retention (bus.events_max_age_days) dropped events after the cursor:
    // replaying from the oldest would hide that something was lost.
    if after.saturating_add(1) < first {
        return Err(Status::failed_precondition(format!(
            "resume_after {} is older than the oldest event kept; events after it were dropped \
             by retention; watch again without resume_after, or from {} to read every event kept",
            cursor(after),
            cursor(first.saturating_sub(1))
        )));
    }
    Ok(after)
}

impl Gateway {
    pub(crate) async fn watch(
        &self,
        request: Request<pb::WatchSyncServiceRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let tenant = self.auth.tenant(request.metadata())?;
        let req = request.into_inner();
        let resume_after = parse_cursor(&req.resume_after)?;
        // Held by the watch's task: given back when the stream ends.
        let slot = self.watches.take(&tenant)?;
        let only = req.service_id;
        if !only.is_empty() {
            check_id("service_id", &only)?;
            self.catalog
                .request(&tenant, &pb::GetSyncServiceRequest { id: only.clone() })
                .await
                .map_err(status)?;
        }
        let only = (!only.is_empty()).then_some(only);
        let progress = self
            .nats
            .subscribe(self.ns.progress_filter(only.as_deref()))
            .await
            .map_err(|e| unavailable("cannot subscribe to progress", e))?;
        let (start, events) = self.events_after(resume_after).await?;
        let mut filter = WatchFilter {
            tenant,
            only,
            known: HashMap::new(),
            catalog: self.catalog.clone(),
        };
        let ns = self.ns.clone();
        let progress = progress.map(|m| Ok((m.subject.to_string(), m.payload, None)));
        let events = events.map(|m| {
            let m = m?;
            let seq = m.info().ok().map(|i| i.stream_sequence);
            Ok((m.subject.to_string(), m.payload.clone(), seq))
        });
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            let _slot = slot;
            let mut merged = futures::stream::select(progress, events.boxed());
            loop {
                let item: Result<_, push::OrderedError> = tokio::select! {
                    _ = tx.closed() => break,
                    m = merged.next() => match m { Some(m) => m, None => break },
                };
                let (subject, payload, seq) = match item {
                    Ok(m) => m,
                    // NATS is away: the consumer re-creates itself from its
                    // last sequence once it is back.
                    Err(e) if e.kind() == push::OrderedErrorKind::MissingHeartbeat => continue,
                    Err(error) => {
                        tracing::warn!(%error, "watch: events stream interrupted");
                        let lost = Status::unavailable(
                            "event stream interrupted; watch again with the last cursor",
                        );
                        let _ = tx.send(Err(lost)).await;
                        break;
                    }
                };
                let Some(event) = AnyEvent::decode(&ns, &subject, &payload) else {
                    continue;
                };
                // Filtered by reference first: another tenant's event is
                // dropped without being converted.
                if !filter.allows(&event).await {
                    continue;
                }
                let Some(watched) = watch_event(event, seq) else {
                    continue;
                };
                if tx.send(Ok(watched)).await.is_err() {
                    break;
                }
            }
        });
        let mut response: Response<WatchStream> =
            Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)));
        // Where the watch starts: a client that reconnects before any event
        // came resumes from there and misses nothing.
        if let Ok(value) = cursor(start).parse() {
            response.metadata_mut().insert(WATCH_CURSOR_HEADER, value);
        }
        Ok(response)
    }

    /// The sequence the watch starts after, and the events stream from
    /// there, on an ordered consumer that re-creates itself past any gap.
    async fn events_after(
        &self,
        resume_after: Option<u64>,
    ) -> Result<(u64, push::Ordered), Status> {
        let js = async_nats::jetstream::new(self.nats.clone());
        let mut stream = js
            .get_stream(self.ns.events_stream())
            .await
            .map_err(|e| unavailable("cannot read the events stream", e))?;
        let state = &stream
            .info()
            .await
            .map_err(|e| unavailable("cannot read the events stream", e))?
            .state;
        let after = start_after(resume_after, state.first_sequence, state.last_sequence)?;
        let deliver_policy = DeliverPolicy::ByStartSequence {
            start_sequence: after + 1,
        };
        let consumer = stream
            .create_consumer(push::OrderedConfig {
                deliver_subject: self.nats.new_inbox(),
                filter_subject: self.ns.events_filter(),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable("cannot follow the events stream", e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| unavailable("cannot follow the events stream", e))?;
        Ok((after, messages))
    }
}

/// The event as a watcher gets it, with its cursor; `None` for events a
/// watch does not carry (service created/deleted, a region's sweep).
fn watch_event(event: AnyEvent, seq: Option<u64>) -> Option<pb::WatchEvent> {
    let event = match event {
        AnyEvent::Progress(e) => Event::Progress(e),
        AnyEvent::StateChanged(e) => Event::StateChanged(e),
        AnyEvent::Synced(e) => Event::Synced(e),
        AnyEvent::Failed(e) => Event::Failed(e),
        AnyEvent::LagExceeded(e) => Event::LagExceeded(e),
        AnyEvent::LagRecovered(e) => Event::LagRecovered(e),
        AnyEvent::Expired(e) => Event::Expired(e),
        AnyEvent::Purged(e) => Event::Purged(e),
        AnyEvent::Drill(e) => Event::DrillCompleted(e),
        AnyEvent::Created(_) | AnyEvent::Deleted(_) | AnyEvent::SweepHalted(_) => return None,
    };
    Some(pb::WatchEvent {
        event: Some(event),
        cursor: seq.map(cursor).unwrap_or_default(),
    })
}

/// Decides which events a watcher may see: only its tenant's services.
struct WatchFilter {
    tenant: String,
    only: Option<String>,
    known: HashMap<String, bool>,
    catalog: CatalogClient,
}

impl WatchFilter {
    async fn allows(&mut self, event: &AnyEvent) -> bool {
        let service_id = event.service_id();
        if service_id.is_empty() {
            return false;
        }
        if let Some(only) = &self.only {
            // Its owner was checked when the watch started.
            return only == service_id;
        }
        if !event.tenant_id().is_empty() {
            return event.tenant_id() == self.tenant;
        }
        if let Some(known) = self.known.get(service_id) {
            return *known;
        }
        let req = pb::GetSyncServiceRequest {
            id: service_id.to_string(),
        };
        let owned = self.catalog.request(&self.tenant, &req).await.is_ok();
        self.known.insert(service_id.to_string(), owned);
        owned
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn cursors_round_trip_and_anything_else_is_invalid() {
        assert_eq!(parse_cursor(&cursor(42)).unwrap(), Some(42));
        assert_eq!(parse_cursor("").unwrap(), None);
        for bad in ["42", "ev1.", "ev1.-1", "ev2.3", "ev1.3x", " ev1.3"] {
            assert_eq!(
                parse_cursor(bad).unwrap_err().code(),
                Code::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_resume_starts_right_after_its_cursor_or_says_why_not() {
        // No cursor: after the newest event, so only new ones come.
        assert_eq!(start_after(None, 5, 9).unwrap(), 9);
        assert_eq!(start_after(Some(4), 5, 9).unwrap(), 4);
        assert_eq!(start_after(Some(7), 5, 9).unwrap(), 7);
        // Caught up: waits for the next one.
        assert_eq!(start_after(Some(9), 5, 9).unwrap(), 9);
        // A new, empty stream.
        assert_eq!(start_after(Some(0), 0, 0).unwrap(), 0);
        let too_old = start_after(Some(3), 5, 9).unwrap_err();
        assert_eq!(too_old.code(), Code::FailedPrecondition);
        assert!(too_old.message().contains("ev1.4"), "{}", too_old.message());
        assert_eq!(
            start_after(Some(10), 5, 9).unwrap_err().code(),
            Code::InvalidArgument
        );
    }

    #[test]
    fn stored_events_carry_their_cursor_progress_none() {
        let lag = AnyEvent::LagExceeded(pb::LagExceeded::default());
        let w = watch_event(lag, Some(12)).unwrap();
        assert_eq!(w.cursor, "ev1.12");
        assert!(matches!(w.event, Some(Event::LagExceeded(_))));
        let p = watch_event(AnyEvent::Progress(Default::default()), None).unwrap();
        assert_eq!(p.cursor, "");
        assert!(watch_event(AnyEvent::SweepHalted(Default::default()), Some(1)).is_none());
    }
}
