//! `xregion watch`: live progress and state changes. For people, one
//! progress bar redrawn in place and a line per finished backup; for
//! scripts (`-o json`), one JSON object per line (NDJSON).

use std::collections::BTreeMap;
use std::io::Write as _;

use futures::StreamExt;
use serde::Serialize;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::watch_event::Event;

use crate::api::{answer, Api};
use crate::exit::CliError;
use crate::render::{self, bytes, say, Output};
use crate::views::state_name;

pub async fn watch(mut api: Api, id: Option<String>, out: Output) -> anyhow::Result<()> {
    let req = pb::WatchSyncServiceRequest {
        service_id: id.clone().unwrap_or_default(),
    };
    let mut stream = answer(api.watch_sync_service(req).await)?;
    // Printed once the server has subscribed: every later event is shown.
    let what = id.as_deref().unwrap_or("all");
    match out {
        Output::Json => render::json_line(&WatchLine::Watching(what.into())),
        Output::Table => say!("watching {what} (Ctrl-C to stop)"),
    }
    let mut bars = Bars::default();
    while let Some(event) = stream.next().await {
        let Some(event) = event.map_err(CliError::from)?.event else {
            continue;
        };
        match out {
            Output::Json => render::json_line(&WatchLine::from(event)),
            Output::Table => bars.show(event),
        }
    }
    Ok(())
}

/// One NDJSON line: `{"<kind>": {...}}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum WatchLine {
    Watching(String),
    Progress {
        service_id: String,
        backup_id: String,
        bytes_done: u64,
        bytes_total: u64,
        rate_bytes_per_sec: u64,
        done: bool,
    },
    StateChanged {
        service_id: String,
        from: String,
        to: String,
        reason: String,
    },
    Synced {
        service_id: Option<String>,
        backup_id: Option<String>,
        bytes: u64,
    },
    Failed {
        service_id: Option<String>,
        backup_id: String,
        reason: String,
        permanent: bool,
    },
}

impl From<Event> for WatchLine {
    fn from(event: Event) -> Self {
        match event {
            Event::Progress(p) => WatchLine::Progress {
                service_id: p.service_id,
                backup_id: p.backup_id,
                bytes_done: p.bytes_done,
                bytes_total: p.bytes_total,
                rate_bytes_per_sec: p.rate_bytes_per_sec,
                done: p.done,
            },
            Event::StateChanged(c) => WatchLine::StateChanged {
                from: state_name(c.from),
                to: state_name(c.to),
                service_id: c.service_id,
                reason: c.reason,
            },
            Event::Synced(s) => WatchLine::Synced {
                service_id: s.service.map(|x| x.service_id),
                backup_id: s.backup.map(|b| b.backup_id),
                bytes: s.bytes,
            },
            Event::Failed(f) => WatchLine::Failed {
                service_id: f.service.map(|x| x.service_id),
                backup_id: f.backup_id,
                reason: f.reason,
                permanent: f.permanent,
            },
        }
    }
}

/// Live progress bars, one line per finished backup.
#[derive(Default)]
struct Bars {
    active: BTreeMap<String, pb::TransferProgress>,
}

impl Bars {
    fn show(&mut self, event: Event) {
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
    use super::*;
    use serde_json::json;

    #[test]
    fn every_event_is_one_object_named_by_its_kind() {
        let synced = Event::Synced(pb::BackupSynced {
            service: Some(pb::ServiceRef {
                service_id: "svc-1".into(),
                ..Default::default()
            }),
            bytes: 42,
            ..Default::default()
        });
        assert_eq!(
            serde_json::to_value(WatchLine::from(synced)).unwrap(),
            json!({"synced": {"service_id": "svc-1", "backup_id": null, "bytes": 42}})
        );
        let changed = Event::StateChanged(pb::ServiceStateChanged {
            service_id: "svc-1".into(),
            from: pb::ServiceState::Seeding as i32,
            to: pb::ServiceState::Running as i32,
            reason: "first point".into(),
            ..Default::default()
        });
        assert_eq!(
            serde_json::to_value(WatchLine::from(changed)).unwrap(),
            json!({"state_changed": {"service_id": "svc-1", "from": "SEEDING", "to": "RUNNING", "reason": "first point"}})
        );
        assert_eq!(
            serde_json::to_string(&WatchLine::Watching("all".into())).unwrap(),
            r#"{"watching":"all"}"#
        );
    }
}
