//! Conversions between the wire types and the pure domain types.

use prost_types::Timestamp;
use xregion_domain::calendar::utc_parts;
use xregion_domain::{BackupFormat, BackupKind, Engine, Lane, ServiceState};

use crate::rds::v1 as rds;
use crate::xregion::v1 as api;

pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn millis(ts: &Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos) / 1_000_000)
}

/// RFC 3339 (UTC, whole seconds) for messages; the raw number when the year
/// lies outside 0000-9999.
pub fn format_millis(ms: i64) -> String {
    let t = utc_parts(ms);
    if !(0..=9999).contains(&t.year) {
        return format!("{ms} ms");
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

pub fn opt_millis(ts: Option<&Timestamp>) -> Option<i64> {
    ts.map(millis)
}

pub fn engine_from_api(value: i32) -> Option<Engine> {
    match api::Engine::try_from(value).ok()? {
        api::Engine::Mysql => Some(Engine::Mysql),
        api::Engine::Sqlserver => Some(Engine::Sqlserver),
        api::Engine::Unspecified => None,
    }
}

pub fn engine_to_api(engine: Engine) -> api::Engine {
    match engine {
        Engine::Mysql => api::Engine::Mysql,
        Engine::Sqlserver => api::Engine::Sqlserver,
    }
}

pub fn engine_from_rds(value: i32) -> Option<Engine> {
    match rds::Engine::try_from(value).ok()? {
        rds::Engine::Mysql => Some(Engine::Mysql),
        rds::Engine::Sqlserver => Some(Engine::Sqlserver),
        rds::Engine::Unspecified => None,
    }
}

pub fn engine_to_rds(engine: Engine) -> rds::Engine {
    match engine {
        Engine::Mysql => rds::Engine::Mysql,
        Engine::Sqlserver => rds::Engine::Sqlserver,
    }
}

pub fn kind_from_rds(value: i32) -> Option<BackupKind> {
    match rds::BackupKind::try_from(value).ok()? {
        rds::BackupKind::Full => Some(BackupKind::Full),
        rds::BackupKind::Log => Some(BackupKind::Log),
        rds::BackupKind::Unspecified => None,
    }
}

pub fn kind_to_rds(kind: BackupKind) -> rds::BackupKind {
    match kind {
        BackupKind::Full => rds::BackupKind::Full,
        BackupKind::Log => rds::BackupKind::Log,
    }
}

/// `None` for UNSPECIFIED (the legacy meaning); an error for a value this
/// build does not know.
pub fn format_from_rds(value: i32) -> Result<Option<BackupFormat>, String> {
    match rds::BackupFormat::try_from(value) {
        Ok(rds::BackupFormat::Unspecified) => Ok(None),
        Ok(rds::BackupFormat::SqlDump) => Ok(Some(BackupFormat::SqlDump)),
        Ok(rds::BackupFormat::Xbstream) => Ok(Some(BackupFormat::Xbstream)),
        Ok(rds::BackupFormat::Binlog) => Ok(Some(BackupFormat::Binlog)),
        Ok(rds::BackupFormat::SqlserverNative) => Ok(Some(BackupFormat::SqlserverNative)),
        Err(_) => Err(format!("unknown backup format {value}")),
    }
}

pub fn format_to_rds(format: Option<BackupFormat>) -> rds::BackupFormat {
    match format {
        None => rds::BackupFormat::Unspecified,
        Some(BackupFormat::SqlDump) => rds::BackupFormat::SqlDump,
        Some(BackupFormat::Xbstream) => rds::BackupFormat::Xbstream,
        Some(BackupFormat::Binlog) => rds::BackupFormat::Binlog,
        Some(BackupFormat::SqlserverNative) => rds::BackupFormat::SqlserverNative,
    }
}

pub fn lane_to_api(lane: Lane) -> api::Lane {
    match lane {
        Lane::Log => api::Lane::Log,
        Lane::Full => api::Lane::Full,
    }
}

pub fn state_to_api(state: ServiceState) -> api::ServiceState {
    match state {
        ServiceState::Creating => api::ServiceState::Creating,
        ServiceState::Seeding => api::ServiceState::Seeding,
        ServiceState::Running => api::ServiceState::Running,
        ServiceState::Degraded => api::ServiceState::Degraded,
        ServiceState::Deleting => api::ServiceState::Deleting,
        ServiceState::Deleted => api::ServiceState::Deleted,
    }
}

pub fn state_from_api(value: i32) -> Option<ServiceState> {
    Some(match api::ServiceState::try_from(value).ok()? {
        api::ServiceState::Creating => ServiceState::Creating,
        api::ServiceState::Seeding => ServiceState::Seeding,
        api::ServiceState::Running => ServiceState::Running,
        api::ServiceState::Degraded => ServiceState::Degraded,
        api::ServiceState::Deleting => ServiceState::Deleting,
        api::ServiceState::Deleted => ServiceState::Deleted,
        api::ServiceState::Unspecified => return None,
    })
}

/// The `service.json` of a service, recording the deployment that owns it.
pub fn service_descriptor(
    service: &api::ServiceRef,
    namespace: &str,
) -> Option<xregion_domain::manifest::ServiceDescriptor> {
    Some(xregion_domain::manifest::ServiceDescriptor {
        format: xregion_domain::manifest::FORMAT,
        service_id: service.service_id.clone(),
        tenant_id: service.tenant_id.clone(),
        engine: engine_from_api(service.engine)?,
        source_region: service.source_region.clone(),
        instance_id: service.instance_id.clone(),
        target_region: service.target_region.clone(),
        retention_days: service.retention_days,
        namespace: Some(namespace.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_negative() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1, -1001] {
            assert_eq!(millis(&timestamp(ms)), ms);
        }
    }

    #[test]
    fn enums_round_trip() {
        for e in [Engine::Mysql, Engine::Sqlserver] {
            assert_eq!(engine_from_api(engine_to_api(e) as i32), Some(e));
            assert_eq!(engine_from_rds(engine_to_rds(e) as i32), Some(e));
        }
        for s in ServiceState::ALL {
            assert_eq!(state_from_api(state_to_api(s) as i32), Some(s));
        }
        for f in BackupFormat::ALL {
            assert_eq!(format_from_rds(format_to_rds(Some(f)) as i32), Ok(Some(f)));
        }
        assert_eq!(format_from_rds(0), Ok(None));
        assert!(format_from_rds(99).is_err());
        assert_eq!(engine_from_api(0), None);
        assert_eq!(engine_from_api(77), None);
    }
}

pub mod backup {
    //! Backup descriptors (upstream) to the domain's chain and manifest types.

    use xregion_domain::chain::{
        validate_position, ChainBackup, ChainPosition, RestorePlan, RestoreWindow,
    };
    use xregion_domain::manifest::{Manifest, ManifestFile, PlanFile, FORMAT};
    use xregion_domain::{ids, layout, BackupFormat, BackupKind, Engine};

    use super::{
        engine_from_api, engine_from_rds, format_from_rds, format_millis, kind_from_rds, millis,
        timestamp,
    };
    use crate::rds::v1 as rds;
    use crate::xregion::v1 as api;

    pub fn position(d: &rds::BackupDescriptor) -> Option<ChainPosition> {
        match d.position.as_ref()? {
            rds::backup_descriptor::Position::Mysql(m) => Some(ChainPosition::Mysql {
                file_number: m.binlog_file_number,
                offset: m.binlog_offset,
            }),
            rds::backup_descriptor::Position::Sqlserver(s) => Some(ChainPosition::Sqlserver {
                first_lsn: s.first_lsn.clone(),
                last_lsn: s.last_lsn.clone(),
            }),
        }
    }

    /// The largest file a descriptor may list (64 TiB; S3's object limit is
    /// 5 TiB), so sizes can be summed without overflow.
    pub const MAX_FILE_BYTES: u64 = 64 << 40;
    /// The largest backup (2^53 bytes: exact in every f64 and i64 sum).
    pub const MAX_BACKUP_BYTES: u64 = 1 << 53;
    /// Data times before 2000-01-01 are refused (zero or negative times are
    /// a broken upstream).
    pub const MIN_DATA_TIME_MS: i64 = 946_684_800_000;
    /// How far past the checker's clock a data time may lie (clock skew).
    pub const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;

    /// The total size of the descriptor's files; `None` on overflow.
    pub fn total_bytes(d: &rds::BackupDescriptor) -> Option<u64> {
        d.files
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(f.size))
    }

    /// [`validate`] plus the clock: a data end later than `now_ms` plus one
    /// day is refused (a future data end would hide lag for years).
    pub fn validate_at(
        d: &rds::BackupDescriptor,
        now_ms: i64,
    ) -> Result<(Engine, BackupKind), String> {
        let valid = validate(d)?;
        let latest = now_ms.saturating_add(MAX_FUTURE_MS);
        if let Some(end) = d.data_end_time.as_ref().map(millis) {
            if end > latest {
                return Err(format!(
                    "data_end_time {} lies more than a day after now ({})",
                    format_millis(end),
                    format_millis(now_ms)
                ));
            }
        }
        Ok(valid)
    }

    /// Everything a descriptor must satisfy before anything acts on it,
    /// except the clock ([`validate_at`] adds it).
    pub fn validate(d: &rds::BackupDescriptor) -> Result<(Engine, BackupKind), String> {
        for (field, v) in [
            ("backup_id", &d.backup_id),
            ("instance_id", &d.instance_id),
            ("tenant_id", &d.tenant_id),
            ("region", &d.region),
        ] {
            ids::validate_id(field, v).map_err(|e| e.to_string())?;
        }
        let engine = engine_from_rds(d.engine).ok_or("unknown engine")?;
        let kind = kind_from_rds(d.kind).ok_or("unknown backup kind")?;
        if d.files.is_empty() {
            return Err("a backup has at least one file".into());
        }
        for f in &d.files {
            let bad_key = f.key.is_empty()
                || f.key.starts_with('/')
                || f.key
                    .split('/')
                    .any(|s| s.is_empty() || s == "." || s == "..");
            if bad_key {
                return Err(format!("bad file key {:?}", f.key));
            }
            if f.sha256.len() != 64
                || !f
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(format!(
                    "file {:?}: sha256 must be 64 lower-case hex digits",
                    f.key
                ));
            }
            if f.size > MAX_FILE_BYTES {
                return Err(format!(
                    "file {:?}: size {} exceeds the limit of {MAX_FILE_BYTES} bytes",
                    f.key, f.size
                ));
            }
        }
        match total_bytes(d) {
            Some(total) if total <= MAX_BACKUP_BYTES => {}
            _ => {
                return Err(format!(
                    "the files' total size exceeds the limit of {MAX_BACKUP_BYTES} bytes"
                ))
            }
        }
        // Each file keeps its own key in the target (and its own local file
        // when restored): the descriptor is refused rather than have one
        // file overwrite another.
        let keys: Vec<&str> = d.files.iter().map(|f| f.key.as_str()).collect();
        layout::check_backup_paths(&layout::backup_relative_paths(&keys))
            .map_err(|e| e.to_string())?;
        let (start, end) = match (d.data_start_time.as_ref(), d.data_end_time.as_ref()) {
            (Some(s), Some(e)) => (s, e),
            _ => return Err("data_start_time and data_end_time are required".into()),
        };
        for (field, ts) in [("data_start_time", start), ("data_end_time", end)] {
            if !(0..1_000_000_000).contains(&ts.nanos) {
                return Err(format!("{field}: nanos {} out of range", ts.nanos));
            }
            if millis(ts) < MIN_DATA_TIME_MS {
                return Err(format!(
                    "{field} {} lies before 2000-01-01",
                    format_millis(millis(ts))
                ));
            }
        }
        let (start, end) = (millis(start), millis(end));
        if start > end {
            return Err("data_start_time is after data_end_time".into());
        }
        let pos = position(d).ok_or("chain position is required")?;
        validate_position(engine, kind, &pos)?;
        BackupFormat::resolve(engine, kind, format_from_rds(d.format)?)?;
        Ok((engine, kind))
    }

    pub fn chain_backup(d: &rds::BackupDescriptor) -> Option<ChainBackup> {
        Some(ChainBackup {
            backup_id: d.backup_id.clone(),
            kind: kind_from_rds(d.kind)?,
            data_start: millis(d.data_start_time.as_ref()?),
            data_end: millis(d.data_end_time.as_ref()?),
            position: position(d)?,
        })
    }

    /// The manifest of `d` once copied for `service`: target keys follow the
    /// documented layout.
    pub fn manifest(
        d: &rds::BackupDescriptor,
        service: &api::ServiceRef,
        synced_at: i64,
    ) -> Option<Manifest> {
        let chain = chain_backup(d)?;
        let source_keys: Vec<&str> = d.files.iter().map(|f| f.key.as_str()).collect();
        let keys = layout::backup_file_keys(&service.target_prefix, &d.backup_id, &source_keys);
        Some(Manifest {
            format: FORMAT,
            service_id: service.service_id.clone(),
            tenant_id: service.tenant_id.clone(),
            instance_id: d.instance_id.clone(),
            engine: engine_from_api(service.engine).or_else(|| engine_from_rds(d.engine))?,
            backup_id: chain.backup_id,
            kind: chain.kind,
            data_start: chain.data_start,
            data_end: chain.data_end,
            position: chain.position,
            files: d
                .files
                .iter()
                .zip(keys)
                .map(|(f, key)| ManifestFile {
                    key,
                    source_key: f.key.clone(),
                    size: f.size,
                    sha256: f.sha256.clone(),
                    encryption: None,
                })
                .collect(),
            synced_at,
            // Checked by `validate` before any copy; unknown reads as none.
            backup_format: format_from_rds(d.format).ok().flatten(),
        })
    }

    fn kind_filter(kind: BackupKind) -> api::BackupKindFilter {
        match kind {
            BackupKind::Full => api::BackupKindFilter::Full,
            BackupKind::Log => api::BackupKindFilter::Log,
        }
    }

    pub fn plan_to_proto(
        target_region: &str,
        plan: &RestorePlan,
        files: &[PlanFile],
    ) -> api::RestorePlan {
        api::RestorePlan {
            target_region: target_region.to_string(),
            files: files
                .iter()
                .map(|p| api::PlanFile {
                    key: p.file.key.clone(),
                    size: p.file.size,
                    sha256: p.file.sha256.clone(),
                    kind: kind_filter(p.kind) as i32,
                    backup_id: p.backup_id.clone(),
                })
                .collect(),
            stop_at: Some(timestamp(plan.stop_at)),
            full_backup_id: plan.full_backup_id.clone(),
            log_backup_ids: plan.log_backup_ids.clone(),
        }
    }

    pub fn window_to_proto(w: &RestoreWindow) -> api::RestoreWindow {
        api::RestoreWindow {
            earliest: Some(timestamp(w.earliest)),
            latest: Some(timestamp(w.latest)),
            gaps: w
                .gaps
                .iter()
                .map(|g| api::Gap {
                    after: Some(timestamp(g.after)),
                    resumes_at: g.resumes_at.map(timestamp),
                    reason: g.reason.clone(),
                })
                .collect(),
        }
    }

    pub fn synced_to_proto(m: &Manifest, manifest_key: &str) -> api::SyncedBackup {
        api::SyncedBackup {
            backup_id: m.backup_id.clone(),
            kind: kind_filter(m.kind) as i32,
            data_start_time: Some(timestamp(m.data_start)),
            data_end_time: Some(timestamp(m.data_end)),
            bytes: m.bytes(),
            files: m.files.len() as u32,
            synced_at: Some(timestamp(m.synced_at)),
            manifest_key: manifest_key.to_string(),
        }
    }
}
