//! Tables for people, JSON (one document per command) for scripts.

use std::collections::BTreeMap;

/// `println!` that tolerates a closed stdout (`xregion list | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
use std::io::Write;

use serde_json::{json, Value};
use xregion_proto::xregion::v1 as pb;
use xregion_proto::Timestamp;

fn time(t: Option<&Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp_millis(xregion_proto::convert::millis(t)))
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

fn engine(e: i32) -> &'static str {
    match pb::Engine::try_from(e) {
        Ok(pb::Engine::Mysql) => "MYSQL",
        Ok(pb::Engine::Sqlserver) => "SQLSERVER",
        _ => "?",
    }
}

fn state(s: i32) -> String {
    pb::ServiceState::try_from(s)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("SERVICE_STATE_")
                .to_string()
        })
        .unwrap_or_else(|_| "?".into())
}

fn kind(k: i32) -> String {
    pb::BackupKindFilter::try_from(k)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("BACKUP_KIND_FILTER_")
                .to_string()
        })
        .unwrap_or_else(|_| "?".into())
}

fn lag(s: Option<i64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn print_json(v: Value) {
    say!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

/// Left-aligned columns sized to their content.
pub(crate) fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    say!("{}", line(headers.iter().map(|h| h.to_string()).collect()));
    for r in rows {
        say!("{}", line(r));
    }
}

pub fn regions(regions: &[pb::Region], json: bool) {
    if json {
        return print_json(json!(regions
            .iter()
            .map(|r| json!({"id": r.id, "display_name": r.display_name}))
            .collect::<Vec<_>>()));
    }
    table(
        &["ID", "NAME"],
        regions
            .iter()
            .map(|r| vec![r.id.clone(), r.display_name.clone()])
            .collect(),
    );
}

pub fn instances(instances: &[pb::Instance], json: bool) {
    if json {
        return print_json(json!(instances
            .iter()
            .map(|i| json!({"id": i.id, "engine": engine(i.engine), "region": i.region}))
            .collect::<Vec<_>>()));
    }
    table(
        &["INSTANCE", "ENGINE", "REGION"],
        instances
            .iter()
            .map(|i| vec![i.id.clone(), engine(i.engine).into(), i.region.clone()])
            .collect(),
    );
}

fn service_json(s: &pb::SyncService) -> Value {
    json!({
        "id": s.id, "engine": engine(s.engine), "source_region": s.source_region, "source_instance_id": s.source_instance_id,
        "target_region": s.target_region, "state": state(s.state), "created_at": time(s.created_at.as_ref()),
        "latest_data_time": s.latest_data_time.as_ref().map(|t| time(Some(t))), "lag_seconds": s.lag_seconds,
        "synced_backups": s.synced_backups, "synced_bytes": s.synced_bytes, "retention_days": s.retention_days, "last_error": s.last_error,
    })
}

pub fn services(services: &[pb::SyncService], json: bool) {
    if json {
        return print_json(if services.len() == 1 {
            service_json(&services[0])
        } else {
            json!(services.iter().map(service_json).collect::<Vec<_>>())
        });
    }
    table(
        &[
            "ID",
            "ENGINE",
            "INSTANCE",
            "FROM",
            "TO",
            "STATE",
            "LATEST DATA TIME",
            "LAG",
            "SYNCED",
            "ERROR",
        ],
        services
            .iter()
            .map(|s| {
                vec![
                    s.id.clone(),
                    engine(s.engine).into(),
                    s.source_instance_id.clone(),
                    s.source_region.clone(),
                    s.target_region.clone(),
                    state(s.state),
                    time(s.latest_data_time.as_ref()),
                    lag(s.lag_seconds),
                    format!("{} ({})", s.synced_backups, bytes(s.synced_bytes)),
                    s.last_error.clone(),
                ]
            })
            .collect(),
    );
}

pub fn backups(backups: &[pb::SyncedBackup], json: bool) {
    if json {
        return print_json(json!(backups
            .iter()
            .map(|b| json!({"backup_id": b.backup_id, "kind": kind(b.kind), "data_start_time": time(b.data_start_time.as_ref()), "data_end_time": time(b.data_end_time.as_ref()), "bytes": b.bytes, "files": b.files, "synced_at": time(b.synced_at.as_ref())}))
            .collect::<Vec<_>>()));
    }
    table(
        &[
            "BACKUP",
            "KIND",
            "DATA FROM",
            "DATA TO",
            "SIZE",
            "SYNCED AT",
        ],
        backups
            .iter()
            .map(|b| {
                vec![
                    b.backup_id.clone(),
                    kind(b.kind),
                    time(b.data_start_time.as_ref()),
                    time(b.data_end_time.as_ref()),
                    bytes(b.bytes),
                    time(b.synced_at.as_ref()),
                ]
            })
            .collect(),
    );
}

pub fn window(w: &pb::RestoreWindow, json: bool) {
    let gaps: Vec<Value> = w.gaps.iter().map(|g| json!({"after": time(g.after.as_ref()), "resumes_at": g.resumes_at.as_ref().map(|t| time(Some(t))), "reason": g.reason})).collect();
    if json {
        return print_json(
            json!({"earliest": w.earliest.as_ref().map(|t| time(Some(t))), "latest": w.latest.as_ref().map(|t| time(Some(t))), "gaps": gaps}),
        );
    }
    if w.latest.is_none() {
        say!("nothing restorable yet");
        return;
    }
    say!("earliest  {}", time(w.earliest.as_ref()));
    say!("latest    {}", time(w.latest.as_ref()));
    for g in &w.gaps {
        say!(
            "gap       after {} until {}: {}",
            time(g.after.as_ref()),
            time(g.resumes_at.as_ref()),
            g.reason
        );
    }
}

pub fn plan(p: &pb::RestorePlan, json: bool) {
    if json {
        return print_json(json!({
            "target_region": p.target_region, "stop_at": time(p.stop_at.as_ref()), "full_backup_id": p.full_backup_id, "log_backup_ids": p.log_backup_ids,
            "files": p.files.iter().map(|f| json!({"key": f.key, "size": f.size, "sha256": f.sha256, "kind": kind(f.kind), "backup_id": f.backup_id})).collect::<Vec<_>>(),
        }));
    }
    say!(
        "restore from region {}: FULL {} then {} logs, replay stops at {}",
        p.target_region,
        p.full_backup_id,
        p.log_backup_ids.len(),
        time(p.stop_at.as_ref())
    );
    table(
        &["KIND", "KEY", "SIZE", "SHA256"],
        p.files
            .iter()
            .map(|f| vec![kind(f.kind), f.key.clone(), bytes(f.size), f.sha256.clone()])
            .collect(),
    );
}

pub fn usage(u: &pb::GetUsageResponse, json: bool) {
    if json {
        return print_json(json!({
            "price_plan": u.price_plan, "amount": u.amount, "currency": u.currency,
            "days": u.days.iter().map(|d| json!({"day": d.day, "bytes_transferred": d.bytes_transferred, "objects_transferred": d.objects_transferred, "bytes_stored": d.bytes_stored, "gb_days": d.gb_days})).collect::<Vec<_>>(),
        }));
    }
    table(
        &["DAY", "TRANSFERRED", "OBJECTS", "STORED", "GB-DAYS"],
        u.days
            .iter()
            .map(|d| {
                vec![
                    d.day.clone(),
                    bytes(d.bytes_transferred),
                    d.objects_transferred.to_string(),
                    bytes(d.bytes_stored),
                    format!("{:.3}", d.gb_days),
                ]
            })
            .collect(),
    );
    say!("plan {}: {:.2} {}", u.price_plan, u.amount, u.currency);
}

/// Printed once the server has subscribed: every later event is shown.
pub fn watching(id: &Option<String>, json: bool) {
    let what = id.clone().unwrap_or_else(|| "all".into());
    if json {
        say!("{}", json!({"watching": what}));
    } else {
        say!("watching {what} (Ctrl-C to stop)");
    }
}

/// Live progress bars, one line per finished backup.
#[derive(Default)]
pub struct Bars {
    active: BTreeMap<String, pb::TransferProgress>,
}

impl Bars {
    pub fn show(&mut self, event: pb::WatchEvent, json: bool) {
        use pb::watch_event::Event;
        let Some(event) = event.event else { return };
        if json {
            let v = match &event {
                Event::Progress(p) => {
                    json!({"progress": {"service_id": p.service_id, "backup_id": p.backup_id, "bytes_done": p.bytes_done, "bytes_total": p.bytes_total, "rate_bytes_per_sec": p.rate_bytes_per_sec, "done": p.done}})
                }
                Event::StateChanged(c) => {
                    json!({"state_changed": {"service_id": c.service_id, "from": state(c.from), "to": state(c.to), "reason": c.reason}})
                }
                Event::Synced(s) => {
                    json!({"synced": {"service_id": s.service.as_ref().map(|x| x.service_id.clone()), "backup_id": s.backup.as_ref().map(|b| b.backup_id.clone()), "bytes": s.bytes}})
                }
                Event::Failed(f) => {
                    json!({"failed": {"service_id": f.service.as_ref().map(|x| x.service_id.clone()), "backup_id": f.backup_id, "reason": f.reason, "permanent": f.permanent}})
                }
            };
            say!("{v}");
            return;
        }
        match event {
            Event::Progress(p) if !p.done => {
                self.active.insert(p.backup_id.clone(), p);
                self.draw();
            }
            Event::Progress(p) => {
                self.active.remove(&p.backup_id);
            }
            Event::Synced(s) => {
                let id = s
                    .backup
                    .as_ref()
                    .map(|b| b.backup_id.clone())
                    .unwrap_or_default();
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
                state(c.from),
                state(c.to),
                c.reason
            ),
        }
    }

    fn draw(&self) {
        for p in self.active.values() {
            let pct = (p.bytes_done * 100)
                .checked_div(p.bytes_total)
                .unwrap_or(100);
            let filled = (pct / 5) as usize;
            let _ = write!(
                std::io::stdout(),
                "\r\x1b[K{}  [{}{}] {pct:>3}%  {}/s",
                p.backup_id,
                "#".repeat(filled),
                ".".repeat(20 - filled.min(20)),
                bytes(p.rate_bytes_per_sec)
            );
        }
        let _ = std::io::stdout().flush();
    }
}
