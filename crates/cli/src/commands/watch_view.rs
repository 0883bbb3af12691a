//! What `xregion watch` prints: for scripts one JSON object a line
//! (`{"<kind>": {...}}`, with the event's `cursor` when it has one), for
//! people progress bars and a line per event.

use std::collections::BTreeMap;
use std::io::Write as _;

use serde::Serialize;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::watch_event::Event;

use crate::render::{bytes, lag, opt_time, say};
use crate::views::state_name;

/// One NDJSON line: `{"<kind>": {...}}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchLine {
    Watching(String),
    Progress {
        service_id: String,
        tenant_id: String,
        backup_id: String,
        bytes_done: u64,
        bytes_total: u64,
        rate_bytes_per_sec: u64,
        done: bool,
        at: Option<String>,
    },
    StateChanged {
        service_id: String,
        from: String,
        to: String,
        reason: String,
        at: Option<String>,
    },
    Synced {
        service_id: Option<String>,
        backup_id: Option<String>,
        bytes: u64,
        duration_ms: u64,
        at: Option<String>,
    },
    Failed {
        service_id: Option<String>,
        backup_id: String,
        reason: String,
        attempt: u32,
        permanent: bool,
        at: Option<String>,
    },
    LagExceeded(Lag),
    LagRecovered(Lag),
    Expired {
        service_id: String,
        backup_id: String,
        at: Option<String>,
    },
    Purged {
        service_id: String,
        objects_deleted: u64,
        bytes_deleted: u64,
        at: Option<String>,
    },
    Drill {
        service_id: String,
        drill_id: String,
        success: bool,
        restored_to: Option<String>,
        rto_ms: u64,
        error: String,
        at: Option<String>,
    },
}

#[derive(Debug, Serialize)]
pub struct Lag {
    service_id: String,
    lag_seconds: i64,
    threshold_seconds: i64,
    latest_data_time: Option<String>,
    at: Option<String>,
}

impl WatchLine {
    /// The line of an event, with its cursor (empty: none) in its object.
    pub fn json(event: Event, cursor: &str) -> serde_json::Value {
        let mut value = serde_json::to_value(Self::from(event)).unwrap_or_default();
        if let Some(inner) = value
            .as_object_mut()
            .and_then(|o| o.values_mut().next())
            .and_then(|v| v.as_object_mut())
        {
            if !cursor.is_empty() {
                inner.insert("cursor".into(), cursor.into());
            }
        }
        value
    }
}

impl From<Event> for WatchLine {
    fn from(event: Event) -> Self {
        let at = |t: &Option<xregion_proto::Timestamp>| opt_time(t.as_ref());
        match event {
            Event::Progress(p) => WatchLine::Progress {
                at: at(&p.sent_at),
                service_id: p.service_id,
                tenant_id: p.tenant_id,
                backup_id: p.backup_id,
                bytes_done: p.bytes_done,
                bytes_total: p.bytes_total,
                rate_bytes_per_sec: p.rate_bytes_per_sec,
                done: p.done,
            },
            Event::StateChanged(c) => WatchLine::StateChanged {
                from: state_name(c.from),
                to: state_name(c.to),
                at: at(&c.changed_at),
                service_id: c.service_id,
                reason: c.reason,
            },
            Event::Synced(s) => WatchLine::Synced {
                at: at(&s.synced_at),
                service_id: s.service.map(|x| x.service_id),
                backup_id: s.backup.map(|b| b.backup_id),
                bytes: s.bytes,
                duration_ms: s.duration_ms,
            },
            Event::Failed(f) => WatchLine::Failed {
                at: at(&f.failed_at),
                service_id: f.service.map(|x| x.service_id),
                backup_id: f.backup_id,
                reason: f.reason,
                attempt: f.attempt,
                permanent: f.permanent,
            },
            Event::LagExceeded(l) => WatchLine::LagExceeded(Lag {
                at: at(&l.detected_at),
                latest_data_time: at(&l.latest_data_time),
                service_id: l.service_id,
                lag_seconds: l.lag_seconds,
                threshold_seconds: l.threshold_seconds,
            }),
            Event::LagRecovered(l) => WatchLine::LagRecovered(Lag {
                at: at(&l.detected_at),
                latest_data_time: at(&l.latest_data_time),
                service_id: l.service_id,
                lag_seconds: l.lag_seconds,
                threshold_seconds: l.threshold_seconds,
            }),
            Event::Expired(e) => WatchLine::Expired {
                at: at(&e.expired_at),
                service_id: e.service_id,
                backup_id: e.backup_id,
            },
            Event::Purged(p) => WatchLine::Purged {
                at: at(&p.purged_at),
                service_id: p.service_id,
                objects_deleted: p.objects_deleted,
                bytes_deleted: p.bytes_deleted,
            },
            Event::DrillCompleted(d) => WatchLine::Drill {
                at: at(&d.completed_at),
                restored_to: at(&d.restored_to),
                service_id: d.service_id,
                drill_id: d.drill_id,
                success: d.success,
                rto_ms: d.rto_ms,
                error: d.error,
            },
        }
    }
}

/// Live progress bars, one line per finished backup or other event.
#[derive(Default)]
pub struct Bars {
    active: BTreeMap<String, pb::TransferProgress>,
}

impl Bars {
    pub fn show(&mut self, event: Event) {
        match event {
            Event::Progress(p) if !p.done => {
                self.active.insert(p.backup_id.clone(), p);
                self.draw();
            }
            Event::Progress(p) => {
                self.active.remove(&p.backup_id);
            }
            Event::Synced(s) => {
                let id = s.backup.map(|b| b.backup_id).unwrap_or_default();
                self.active.remove(&id);
                say!(
                    "\r\x1b[Ksynced  {id}  {}  in {} ms",
                    bytes(s.bytes),
                    s.duration_ms
                );
            }
            Event::Failed(f) => say!(
                "\r\x1b[Kfailed  {}  attempt {}: {}",
                f.backup_id,
                f.attempt,
                f.reason
            ),
            Event::StateChanged(c) => say!(
                "\r\x1b[Kstate   {}  {} -> {}  ({})",
                c.service_id,
                state_name(c.from),
                state_name(c.to),
                c.reason
            ),
            Event::LagExceeded(l) => say!(
                "\r\x1b[Klag     {}  {} behind, over {}",
                l.service_id,
                lag(Some(l.lag_seconds)),
                lag(Some(l.threshold_seconds))
            ),
            Event::LagRecovered(l) => say!(
                "\r\x1b[Klag     {}  {} behind, back under {}",
                l.service_id,
                lag(Some(l.lag_seconds)),
                lag(Some(l.threshold_seconds))
            ),
            Event::Expired(e) => say!("\r\x1b[Kexpired {}  {}", e.service_id, e.backup_id),
            Event::Purged(p) => say!(
                "\r\x1b[Kpurged  {}  {} objects, {}",
                p.service_id,
                p.objects_deleted,
                bytes(p.bytes_deleted)
            ),
            Event::DrillCompleted(d) if d.success => say!(
                "\r\x1b[Kdrill   {}  restored to {} in {:.1} s",
                d.service_id,
                opt_time(d.restored_to.as_ref()).unwrap_or_default(),
                d.rto_ms as f64 / 1000.0
            ),
            Event::DrillCompleted(d) => {
                say!("\r\x1b[Kdrill   {}  FAILED: {}", d.service_id, d.error)
            }
        }
    }

    fn draw(&self) {
        let mut stdout = std::io::stdout().lock();
        for p in self.active.values() {
            let pct = (p.bytes_done * 100)
                .checked_div(p.bytes_total)
                .unwrap_or(100);
            let filled = usize::try_from(pct / 5).unwrap_or(20).min(20);
            let _ = write!(
                stdout,
                "\r\x1b[K{}  [{}{}] {pct:>3}%  {}/s",
                p.backup_id,
                "#".repeat(filled),
                ".".repeat(20 - filled),
                bytes(p.rate_bytes_per_sec)
            );
        }
        let _ = stdout.flush();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use xregion_proto::convert::timestamp;

    use super::*;

    #[test]
    fn every_event_is_one_object_named_by_its_kind_with_its_cursor() {
        let synced = Event::Synced(pb::BackupSynced {
            service: Some(pb::ServiceRef {
                service_id: "svc-1".into(),
                ..Default::default()
            }),
            bytes: 42,
            duration_ms: 7,
            synced_at: Some(timestamp(1_700_000_000_000)),
            ..Default::default()
        });
        assert_eq!(
            WatchLine::json(synced, "ev1.9"),
            json!({"synced": {"service_id": "svc-1", "backup_id": null, "bytes": 42,
                "duration_ms": 7, "at": "2023-11-14T22:13:20Z", "cursor": "ev1.9"}})
        );
        let changed = Event::StateChanged(pb::ServiceStateChanged {
            service_id: "svc-1".into(),
            from: pb::ServiceState::Seeding as i32,
            to: pb::ServiceState::Running as i32,
            reason: "first point".into(),
            ..Default::default()
        });
        assert_eq!(
            WatchLine::json(changed, ""),
            json!({"state_changed": {"service_id": "svc-1", "from": "SEEDING", "to": "RUNNING",
                "reason": "first point", "at": null}})
        );
        let lag = Event::LagExceeded(pb::LagExceeded {
            service_id: "svc-1".into(),
            lag_seconds: 50_000,
            threshold_seconds: 43_200,
            ..Default::default()
        });
        let line = WatchLine::json(lag, "ev1.10");
        assert_eq!(line["lag_exceeded"]["lag_seconds"], 50_000);
        assert_eq!(line["lag_exceeded"]["cursor"], "ev1.10");
        assert_eq!(
            serde_json::to_string(&WatchLine::Watching("all".into())).unwrap(),
            r#"{"watching":"all"}"#
        );
    }
}
