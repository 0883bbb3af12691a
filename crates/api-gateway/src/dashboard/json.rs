//! The dashboard's JSON: the API's messages in the shapes the page reads.
//! Times are Unix milliseconds (the page formats them in the viewer's
//! zone), enums their proto names without the type prefix.

use serde_json::{json, Value};
use xregion_proto::convert::opt_millis;
use xregion_proto::xregion::v1 as pb;

/// The product's promise: a service's data is at most 12 h behind.
pub const LAG_PROMISE_SECS: i64 = 12 * 3600;

fn engine(value: i32) -> &'static str {
    match pb::Engine::try_from(value) {
        Ok(pb::Engine::Mysql) => "MYSQL",
        Ok(pb::Engine::Sqlserver) => "SQLSERVER",
        _ => "UNSPECIFIED",
    }
}

fn state(value: i32) -> &'static str {
    pb::ServiceState::try_from(value)
        .map(|s| s.as_str_name())
        .unwrap_or("SERVICE_STATE_UNSPECIFIED")
        .trim_start_matches("SERVICE_STATE_")
}

/// The engine a create dialog names ("MYSQL", "SQLSERVER").
pub fn engine_from_name(name: &str) -> Option<pb::Engine> {
    match name {
        "MYSQL" => Some(pb::Engine::Mysql),
        "SQLSERVER" => Some(pb::Engine::Sqlserver),
        _ => None,
    }
}

pub fn service(s: &pb::SyncService) -> Value {
    json!({
        "id": s.id,
        "engine": engine(s.engine),
        "source_region": s.source_region,
        "source_instance_id": s.source_instance_id,
        "target_region": s.target_region,
        "state": state(s.state),
        "created_at_ms": opt_millis(s.created_at.as_ref()),
        "latest_data_time_ms": opt_millis(s.latest_data_time.as_ref()),
        "lag_seconds": s.lag_seconds,
        "lag_promise_seconds": LAG_PROMISE_SECS,
        "synced_backups": s.synced_backups,
        "synced_bytes": s.synced_bytes,
        "retention_days": s.retention_days,
        "last_error": s.last_error,
        "verified_restorable_time_ms": opt_millis(s.verified_restorable_time.as_ref()),
        "last_drill_time_ms": opt_millis(s.last_drill_time.as_ref()),
        "last_drill_rto_ms": (s.last_drill_rto_ms > 0).then_some(s.last_drill_rto_ms),
        "last_drill_error": s.last_drill_error,
    })
}

pub fn regions(r: &pb::ListRegionsResponse) -> Value {
    let regions: Vec<Value> = r
        .regions
        .iter()
        .map(|r| json!({ "id": r.id, "display_name": r.display_name }))
        .collect();
    json!({ "regions": regions })
}

pub fn window(w: &pb::RestoreWindow) -> Value {
    let gaps: Vec<Value> = w
        .gaps
        .iter()
        .map(|g| {
            json!({
                "after_ms": opt_millis(g.after.as_ref()),
                "resumes_at_ms": opt_millis(g.resumes_at.as_ref()),
                "reason": g.reason,
            })
        })
        .collect();
    json!({
        "earliest_ms": opt_millis(w.earliest.as_ref()),
        "latest_ms": opt_millis(w.latest.as_ref()),
        "gaps": gaps,
    })
}

/// One watch event as the page's live feed carries it: `(event name, data)`.
pub fn event(e: &pb::WatchEvent) -> Option<(&'static str, Value)> {
    use pb::watch_event::Event;
    Some(match e.event.as_ref()? {
        Event::Progress(p) => (
            "progress",
            json!({
                "service_id": p.service_id,
                "backup_id": p.backup_id,
                "bytes_done": p.bytes_done,
                "bytes_total": p.bytes_total,
                "rate_bytes_per_sec": p.rate_bytes_per_sec,
                "files_done": p.files_done,
                "files_total": p.files_total,
                "done": p.done,
            }),
        ),
        Event::StateChanged(s) => (
            "state",
            json!({
                "service_id": s.service_id,
                "from": state(s.from),
                "to": state(s.to),
                "reason": s.reason,
            }),
        ),
        Event::Synced(s) => (
            "synced",
            json!({
                "service_id": s.service.as_ref().map(|r| r.service_id.as_str()),
                "backup_id": s.backup.as_ref().map(|b| b.backup_id.as_str()),
                "data_end_time_ms": s.backup.as_ref().and_then(|b| opt_millis(b.data_end_time.as_ref())),
                "bytes": s.bytes,
                "duration_ms": s.duration_ms,
            }),
        ),
        Event::Failed(f) => (
            "failed",
            json!({
                "service_id": f.service.as_ref().map(|r| r.service_id.as_str()),
                "backup_id": f.backup_id,
                "reason": f.reason,
                "attempt": f.attempt,
                "permanent": f.permanent,
            }),
        ),
        // Kinds the watch may learn later are not the page's yet.
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}
