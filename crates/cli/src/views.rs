//! What the read commands show, as typed views of the API's messages: the
//! same struct is a table line and a JSON object, so the two cannot drift.

use serde::Serialize;
use xregion_proto::xregion::v1 as pb;

use crate::render::{bytes, lag, opt_time, time, Row};

mod points;

pub use points::{BackupView, PlanView, UsageView, WindowView};

/// `MYSQL`, `SQLSERVER`, `?` for a value this CLI does not know.
pub fn engine_name(e: i32) -> &'static str {
    match pb::Engine::try_from(e) {
        Ok(pb::Engine::Mysql) => "MYSQL",
        Ok(pb::Engine::Sqlserver) => "SQLSERVER",
        _ => "?",
    }
}

/// `RUNNING`, … (the proto name without its prefix).
pub fn state_name(s: i32) -> String {
    pb::ServiceState::try_from(s)
        .map(|s| short(s.as_str_name(), "SERVICE_STATE_"))
        .unwrap_or_else(|_| "?".into())
}

/// `FULL`, `LOG` or `ANY`.
fn kind_name(k: i32) -> String {
    pb::BackupKindFilter::try_from(k)
        .map(|k| short(k.as_str_name(), "BACKUP_KIND_FILTER_"))
        .unwrap_or_else(|_| "?".into())
}

fn short(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_string()
}

#[derive(Debug, Serialize)]
pub struct RegionView {
    pub id: String,
    pub display_name: String,
}

impl From<pb::Region> for RegionView {
    fn from(r: pb::Region) -> Self {
        RegionView {
            id: r.id,
            display_name: r.display_name,
        }
    }
}

impl Row for RegionView {
    const HEADERS: &'static [&'static str] = &["ID", "NAME"];
    fn cells(&self) -> Vec<String> {
        vec![self.id.clone(), self.display_name.clone()]
    }
}

#[derive(Debug, Serialize)]
pub struct InstanceView {
    pub id: String,
    pub engine: &'static str,
    pub region: String,
}

impl From<pb::Instance> for InstanceView {
    fn from(i: pb::Instance) -> Self {
        InstanceView {
            id: i.id,
            engine: engine_name(i.engine),
            region: i.region,
        }
    }
}

impl Row for InstanceView {
    const HEADERS: &'static [&'static str] = &["INSTANCE", "ENGINE", "REGION"];
    fn cells(&self) -> Vec<String> {
        vec![self.id.clone(), self.engine.into(), self.region.clone()]
    }
}

#[derive(Debug, Serialize)]
pub struct ServiceView {
    pub id: String,
    pub engine: &'static str,
    pub source_region: String,
    pub source_instance_id: String,
    pub target_region: String,
    pub state: String,
    pub created_at: String,
    pub latest_data_time: Option<String>,
    pub lag_seconds: Option<i64>,
    pub synced_backups: u64,
    pub synced_bytes: u64,
    pub retention_days: u32,
    pub last_error: String,
    /// The point the last successful restore drill restored and checked.
    pub verified_restorable_time: Option<String>,
    pub last_drill_time: Option<String>,
    /// The last successful drill's restore time; `None` before one.
    pub last_drill_rto_ms: Option<u64>,
    pub last_drill_error: String,
}

impl From<pb::SyncService> for ServiceView {
    fn from(s: pb::SyncService) -> Self {
        ServiceView {
            engine: engine_name(s.engine),
            state: state_name(s.state),
            created_at: time(s.created_at.as_ref()),
            latest_data_time: opt_time(s.latest_data_time.as_ref()),
            verified_restorable_time: opt_time(s.verified_restorable_time.as_ref()),
            last_drill_time: opt_time(s.last_drill_time.as_ref()),
            last_drill_rto_ms: (s.last_drill_rto_ms > 0).then_some(s.last_drill_rto_ms),
            last_drill_error: s.last_drill_error,
            id: s.id,
            source_region: s.source_region,
            source_instance_id: s.source_instance_id,
            target_region: s.target_region,
            lag_seconds: s.lag_seconds,
            synced_backups: s.synced_backups,
            synced_bytes: s.synced_bytes,
            retention_days: s.retention_days,
            last_error: s.last_error,
        }
    }
}

impl Row for ServiceView {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "ENGINE",
        "INSTANCE",
        "FROM",
        "TO",
        "STATE",
        "LATEST DATA TIME",
        "LAG",
        "VERIFIED (RTO)",
        "SYNCED",
        "ERROR",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.engine.into(),
            self.source_instance_id.clone(),
            self.source_region.clone(),
            self.target_region.clone(),
            self.state.clone(),
            self.latest_data_time.clone().unwrap_or_else(|| "-".into()),
            lag(self.lag_seconds),
            match (&self.verified_restorable_time, self.last_drill_rto_ms) {
                (Some(at), Some(ms)) => format!("{at} ({:.1} s)", ms as f64 / 1000.0),
                (Some(at), None) => at.clone(),
                (None, _) => "-".into(),
            },
            format!("{} ({})", self.synced_backups, bytes(self.synced_bytes)),
            self.last_error.clone(),
        ]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use xregion_proto::convert::timestamp;

    fn service() -> pb::SyncService {
        pb::SyncService {
            id: "svc-1".into(),
            engine: pb::Engine::Mysql as i32,
            source_region: "r1".into(),
            source_instance_id: "db-1".into(),
            target_region: "r2".into(),
            state: pb::ServiceState::Running as i32,
            created_at: Some(timestamp(1_760_000_000_000)),
            lag_seconds: Some(180),
            synced_backups: 25,
            synced_bytes: 3 * 1024 * 1024 + 512 * 1024,
            retention_days: 7,
            ..Default::default()
        }
    }

    #[test]
    fn a_service_is_the_same_in_json_and_in_its_table_line() {
        let view = ServiceView::from(service());
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({
                "id": "svc-1", "engine": "MYSQL", "source_region": "r1",
                "source_instance_id": "db-1", "target_region": "r2", "state": "RUNNING",
                "created_at": "2025-10-09T08:53:20Z", "latest_data_time": null,
                "lag_seconds": 180, "synced_backups": 25, "synced_bytes": 3_670_016,
                "retention_days": 7, "last_error": "",
                "verified_restorable_time": null, "last_drill_time": null,
                "last_drill_rto_ms": null, "last_drill_error": "",
            })
        );
        let cells = view.cells();
        assert_eq!(cells.len(), ServiceView::HEADERS.len());
        assert_eq!(
            cells[5..10],
            ["RUNNING", "-", "3m", "-", "25 (3.5 MiB)"].map(String::from)
        );
    }

    #[test]
    fn a_drilled_service_shows_its_verified_point_and_rto_beside_the_latest_data_time() {
        let view = ServiceView::from(pb::SyncService {
            latest_data_time: Some(timestamp(1_760_000_000_000)),
            verified_restorable_time: Some(timestamp(1_760_000_000_000)),
            last_drill_time: Some(timestamp(1_760_000_100_000)),
            last_drill_rto_ms: 4_300,
            ..service()
        });
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["verified_restorable_time"], "2025-10-09T08:53:20Z");
        assert_eq!(json["last_drill_rto_ms"], 4_300);
        let cells = view.cells();
        assert_eq!(cells[6], "2025-10-09T08:53:20Z");
        assert_eq!(cells[8], "2025-10-09T08:53:20Z (4.3 s)");
    }

    #[test]
    fn a_list_of_one_is_still_an_array() {
        let views: Vec<ServiceView> = vec![service().into()];
        let text = serde_json::to_value(&views).unwrap();
        assert_eq!(text.as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn unknown_enum_values_show_as_question_marks() {
        assert_eq!(engine_name(99), "?");
        assert_eq!(state_name(99), "?");
        assert_eq!(kind_name(pb::BackupKindFilter::Log as i32), "LOG");
    }
}
