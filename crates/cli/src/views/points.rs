//! Views of what a service can restore and what it costs: synced backups,
//! the restore window, a restore plan, usage.

use serde::Serialize;
use xregion_proto::xregion::v1 as pb;

use super::kind_name;
use crate::render::{bytes, opt_time, time, Row};

#[derive(Debug, Serialize)]
pub struct BackupView {
    pub backup_id: String,
    pub kind: String,
    pub data_start_time: String,
    pub data_end_time: String,
    pub bytes: u64,
    pub files: u32,
    pub synced_at: String,
}

impl From<pb::SyncedBackup> for BackupView {
    fn from(b: pb::SyncedBackup) -> Self {
        BackupView {
            kind: kind_name(b.kind),
            data_start_time: time(b.data_start_time.as_ref()),
            data_end_time: time(b.data_end_time.as_ref()),
            synced_at: time(b.synced_at.as_ref()),
            backup_id: b.backup_id,
            bytes: b.bytes,
            files: b.files,
        }
    }
}

impl Row for BackupView {
    const HEADERS: &'static [&'static str] = &[
        "BACKUP",
        "KIND",
        "DATA FROM",
        "DATA TO",
        "SIZE",
        "SYNCED AT",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.backup_id.clone(),
            self.kind.clone(),
            self.data_start_time.clone(),
            self.data_end_time.clone(),
            bytes(self.bytes),
            self.synced_at.clone(),
        ]
    }
}

#[derive(Debug, Serialize)]
pub struct WindowView {
    pub earliest: Option<String>,
    pub latest: Option<String>,
    pub gaps: Vec<GapView>,
}

#[derive(Debug, Serialize)]
pub struct GapView {
    pub after: String,
    pub resumes_at: Option<String>,
    pub reason: String,
}

impl From<pb::RestoreWindow> for WindowView {
    fn from(w: pb::RestoreWindow) -> Self {
        WindowView {
            earliest: opt_time(w.earliest.as_ref()),
            latest: opt_time(w.latest.as_ref()),
            gaps: w
                .gaps
                .into_iter()
                .map(|g| GapView {
                    after: time(g.after.as_ref()),
                    resumes_at: opt_time(g.resumes_at.as_ref()),
                    reason: g.reason,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PlanView {
    pub target_region: String,
    pub stop_at: String,
    pub full_backup_id: String,
    pub log_backup_ids: Vec<String>,
    pub files: Vec<PlanFileView>,
}

#[derive(Debug, Serialize)]
pub struct PlanFileView {
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub kind: String,
    pub backup_id: String,
}

impl From<pb::RestorePlan> for PlanView {
    fn from(p: pb::RestorePlan) -> Self {
        PlanView {
            target_region: p.target_region,
            stop_at: time(p.stop_at.as_ref()),
            full_backup_id: p.full_backup_id,
            log_backup_ids: p.log_backup_ids,
            files: p
                .files
                .into_iter()
                .map(|f| PlanFileView {
                    kind: kind_name(f.kind),
                    key: f.key,
                    size: f.size,
                    sha256: f.sha256,
                    backup_id: f.backup_id,
                })
                .collect(),
        }
    }
}

impl Row for PlanFileView {
    const HEADERS: &'static [&'static str] = &["KIND", "KEY", "SIZE", "SHA256"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.kind.clone(),
            self.key.clone(),
            bytes(self.size),
            self.sha256.clone(),
        ]
    }
}

#[derive(Debug, Serialize)]
pub struct UsageView {
    pub price_plan: String,
    pub amount: f64,
    pub currency: String,
    pub days: Vec<UsageDayView>,
}

#[derive(Debug, Serialize)]
pub struct UsageDayView {
    pub day: String,
    pub bytes_transferred: u64,
    pub objects_transferred: u64,
    pub bytes_stored: u64,
    pub gb_days: f64,
}

impl From<pb::GetUsageResponse> for UsageView {
    fn from(u: pb::GetUsageResponse) -> Self {
        UsageView {
            price_plan: u.price_plan,
            amount: u.amount,
            currency: u.currency,
            days: u
                .days
                .into_iter()
                .map(|d| UsageDayView {
                    day: d.day,
                    bytes_transferred: d.bytes_transferred,
                    objects_transferred: d.objects_transferred,
                    bytes_stored: d.bytes_stored,
                    gb_days: d.gb_days,
                })
                .collect(),
        }
    }
}

impl Row for UsageDayView {
    const HEADERS: &'static [&'static str] =
        &["DAY", "TRANSFERRED", "OBJECTS", "STORED", "GB-DAYS"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.day.clone(),
            bytes(self.bytes_transferred),
            self.objects_transferred.to_string(),
            bytes(self.bytes_stored),
            format!("{:.3}", self.gb_days),
        ]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use xregion_proto::convert::timestamp;

    #[test]
    fn a_window_without_a_latest_point_is_null_not_a_dash() {
        let w = WindowView::from(pb::RestoreWindow {
            earliest: None,
            latest: None,
            gaps: vec![pb::Gap {
                after: Some(timestamp(1_760_000_000_000)),
                resumes_at: None,
                reason: "log missing".into(),
            }],
        });
        assert_eq!(
            serde_json::to_value(&w).unwrap(),
            json!({"earliest": null, "latest": null, "gaps": [
                {"after": "2025-10-09T08:53:20Z", "resumes_at": null, "reason": "log missing"}
            ]})
        );
    }

    #[test]
    fn plan_and_usage_rows_fit_their_headers() {
        let plan = PlanView::from(pb::RestorePlan {
            files: vec![pb::PlanFile {
                key: "k".into(),
                size: 2048,
                kind: pb::BackupKindFilter::Full as i32,
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(plan.files[0].cells(), ["FULL", "k", "2.0 KiB", ""]);
        let usage = UsageView::from(pb::GetUsageResponse {
            days: vec![pb::UsageDay {
                day: "2026-11-26".into(),
                gb_days: 0.5,
                ..Default::default()
            }],
            ..Default::default()
        });
        let cells = usage.days[0].cells();
        assert_eq!(cells.len(), UsageDayView::HEADERS.len());
        assert_eq!(cells[4], "0.500");
    }
}
