//! The one place where subjects, stream names and durable names are built.
//!
//! With namespace `xregion` and upstream namespace `rds`:
//! - streams `XREGION_EVENTS`, `XREGION_TRANSFERS`, `XREGION_DEADLETTER`, `RDS_EVENTS`
//! - events `xregion.events.<entity>.<event>`
//! - jobs `xregion.transfer.<target_region>.<lane>`
//! - progress `xregion.progress.<service_id>.<backup_id>` (core NATS)
//! - JSON mirrors of both `xregion.json.events.…`, `xregion.json.progress.…`
//!   (core NATS)
//! - catalog requests `xregion.catalog.v1.<Method>`, internal ones
//!   `xregion.catalog.internal.v1.<Method>`
//! - dead letters `xregion.deadletter.<durable>`
//! - upstream `rds.<region>.instance.created|deleted`, `rds.<region>.backup.created`

use xregion_domain::Lane;

use crate::error::{BusError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
    upstream: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSubject {
    ServiceCreated,
    ServiceDeleted,
    ServicePurged,
    ServiceStateChanged,
    LagExceeded,
    LagRecovered,
    BackupSynced,
    BackupFailed,
    BackupExpired,
    SweepHalted,
    DrillCompleted,
}

impl EventSubject {
    pub const ALL: [EventSubject; 11] = [
        EventSubject::ServiceCreated,
        EventSubject::ServiceDeleted,
        EventSubject::ServicePurged,
        EventSubject::ServiceStateChanged,
        EventSubject::LagExceeded,
        EventSubject::LagRecovered,
        EventSubject::BackupSynced,
        EventSubject::BackupFailed,
        EventSubject::BackupExpired,
        EventSubject::SweepHalted,
        EventSubject::DrillCompleted,
    ];

    /// The subject tokens after `<ns>.events.`; also how the outbox stores it.
    pub fn tokens(self) -> &'static str {
        match self {
            EventSubject::ServiceCreated => "service.created",
            EventSubject::ServiceDeleted => "service.deleted",
            EventSubject::ServicePurged => "service.purged",
            EventSubject::ServiceStateChanged => "service.state",
            EventSubject::LagExceeded => "service.lag.exceeded",
            EventSubject::LagRecovered => "service.lag.recovered",
            EventSubject::BackupSynced => "backup.synced",
            EventSubject::BackupFailed => "backup.failed",
            EventSubject::BackupExpired => "backup.expired",
            EventSubject::SweepHalted => "cleanup.sweep.halted",
            EventSubject::DrillCompleted => "service.drill.completed",
        }
    }
}

impl EventSubject {
    pub fn from_tokens(tokens: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.tokens() == tokens)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamEvent {
    InstanceCreated,
    InstanceDeleted,
    BackupCreated,
}

impl UpstreamEvent {
    fn tokens(self) -> &'static str {
        match self {
            UpstreamEvent::InstanceCreated => "instance.created",
            UpstreamEvent::InstanceDeleted => "instance.deleted",
            UpstreamEvent::BackupCreated => "backup.created",
        }
    }
}

/// Names of the catalog's request/reply methods.
pub mod methods {
    pub const LIST_ELIGIBLE_INSTANCES: &str = "ListEligibleInstances";
    pub const CREATE_SYNC_SERVICE: &str = "CreateSyncService";
    pub const GET_SYNC_SERVICE: &str = "GetSyncService";
    pub const LIST_SYNC_SERVICES: &str = "ListSyncServices";
    pub const DELETE_SYNC_SERVICE: &str = "DeleteSyncService";
    pub const UPDATE_SYNC_SERVICE: &str = "UpdateSyncService";
    pub const LIST_SYNCED_BACKUPS: &str = "ListSyncedBackups";
    pub const GET_RESTORE_WINDOW: &str = "GetRestoreWindow";
    pub const GET_RESTORE_PLAN: &str = "GetRestorePlan";
    pub const GET_USAGE: &str = "GetUsage";
    pub const PING: &str = "Ping";
    // Internal.
    pub const PENDING_BACKUPS: &str = "PendingBackups";
    pub const LIVE_SERVICES: &str = "LiveServices";
    pub const MARK_SEEDING: &str = "MarkSeeding";
    pub const SERVICE_STATES: &str = "ServiceStates";
    pub const EXPIRE_BACKUP: &str = "ExpireBackup";
    pub const RECORD_DRILL: &str = "RecordDrill";

    /// Methods only services call, never on a tenant's behalf: which ones is
    /// said by their request types (`CatalogMethod::INTERNAL`).
    pub use crate::contract::is_internal;
}

fn validate_token(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BusError::InvalidName {
            name: name.to_string(),
            reason: "a namespace is lower-case letters, digits, '-' and '_'",
        })
    }
}

impl Namespace {
    pub fn new(prefix: &str, upstream: &str) -> Result<Self> {
        validate_token(prefix)?;
        validate_token(upstream)?;
        Ok(Self {
            prefix: prefix.to_string(),
            upstream: upstream.to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The first token of upstream subjects (`rds`).
    pub fn upstream_prefix(&self) -> &str {
        &self.upstream
    }

    fn stream(prefix: &str, suffix: &str) -> String {
        format!("{}_{suffix}", prefix.to_ascii_uppercase().replace('-', "_"))
    }

    pub fn events_stream(&self) -> String {
        Self::stream(&self.prefix, "EVENTS")
    }

    pub fn transfers_stream(&self) -> String {
        Self::stream(&self.prefix, "TRANSFERS")
    }

    pub fn dead_letter_stream(&self) -> String {
        Self::stream(&self.prefix, "DEADLETTER")
    }

    /// The key-value bucket of runtime limits (bandwidth).
    pub fn limits_bucket(&self) -> String {
        Self::stream(&self.prefix, "LIMITS")
    }

    /// The key-value bucket of multipart uploads in progress, so a
    /// redelivered transfer resumes after its last completed part.
    pub fn uploads_bucket(&self) -> String {
        Self::stream(&self.prefix, "UPLOADS")
    }

    /// The key-value bucket in which each transfer-worker announces the
    /// bandwidth lanes it is copying on, so a lane's limit is split among
    /// the workers using it.
    pub fn workers_bucket(&self) -> String {
        Self::stream(&self.prefix, "WORKERS")
    }

    /// Key of one worker's presence on a bandwidth lane:
    /// `<bandwidth key>.<worker id>` (a worker id has no dot).
    pub fn worker_presence_key(bandwidth_key: &str, worker_id: &str) -> String {
        format!("{bandwidth_key}.{worker_id}")
    }

    /// The bandwidth key and worker id of a presence key.
    pub fn presence_of(key: &str) -> Option<(&str, &str)> {
        key.rsplit_once('.')
            .filter(|(lane, worker)| lane.starts_with("bw.") && !worker.is_empty())
    }

    /// The key-value bucket of leases: which replica runs a loop that must
    /// run once per deployment (the watcher's reconciliation, cleanup's
    /// sweep). Its values expire after the lease TTL.
    pub fn leases_bucket(&self) -> String {
        Self::stream(&self.prefix, "LEASES")
    }

    /// Key of one lease: `<service>.<loop>`.
    pub fn lease_key(service: &str, name: &str) -> String {
        format!("{service}.{name}")
    }

    /// Key of one file's upload state: `<service>.<backup>.<file index>`.
    pub fn upload_key(service_id: &str, backup_id: &str, file_index: usize) -> String {
        let service = Self::service_uploads_prefix(service_id);
        format!("{service}{backup_id}.{file_index}")
    }

    /// Key of one file's ENCRYPTED upload state: the plain key with a
    /// `.sealed` suffix, so a worker that predates encryption never finds
    /// (and appends plaintext parts to) an encrypted upload, while the
    /// service's prefix still covers it.
    pub fn sealed_upload_key(service_id: &str, backup_id: &str, file_index: usize) -> String {
        format!(
            "{}.sealed",
            Self::upload_key(service_id, backup_id, file_index)
        )
    }

    /// The service and backup an upload key (plain or sealed) belongs to.
    pub fn upload_key_owner(key: &str) -> Option<(&str, &str)> {
        let key = key.strip_suffix(".sealed").unwrap_or(key);
        let mut parts = key.split('.');
        let (service, backup, index) = (parts.next()?, parts.next()?, parts.next()?);
        let index_ok = !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit());
        (parts.next().is_none() && index_ok).then_some((service, backup))
    }

    /// What every upload key of one service starts with.
    pub fn service_uploads_prefix(service_id: &str) -> String {
        format!("{service_id}.")
    }

    /// Key of the bandwidth limit, in bytes per second, between two regions:
    /// for the full lane, or (`log`) for the log lane.
    pub fn bandwidth_key(source_region: &str, target_region: &str, log: bool) -> String {
        if log {
            format!("bw.{source_region}.{target_region}.log")
        } else {
            format!("bw.{source_region}.{target_region}")
        }
    }

    pub fn upstream_stream(&self) -> String {
        Self::stream(&self.upstream, "EVENTS")
    }

    pub fn event_subject(&self, event: EventSubject) -> String {
        format!("{}.events.{}", self.prefix, event.tokens())
    }

    pub fn events_filter(&self) -> String {
        format!("{}.events.>", self.prefix)
    }

    pub fn transfer_subject(&self, target_region: &str, lane: Lane) -> String {
        format!("{}.transfer.{target_region}.{}", self.prefix, lane.as_str())
    }

    /// Jobs of one lane, for one target region or (None) for all.
    pub fn transfer_filter(&self, target_region: Option<&str>, lane: Lane) -> String {
        format!(
            "{}.transfer.{}.{}",
            self.prefix,
            target_region.unwrap_or("*"),
            lane.as_str()
        )
    }

    pub fn transfers_filter_all(&self) -> String {
        format!("{}.transfer.>", self.prefix)
    }

    pub fn progress_subject(&self, service_id: &str, backup_id: &str) -> String {
        format!("{}.progress.{service_id}.{backup_id}", self.prefix)
    }

    /// Progress of one service, or (None) of every service.
    pub fn progress_filter(&self, service_id: Option<&str>) -> String {
        match service_id {
            Some(id) => format!("{}.progress.{id}.*", self.prefix),
            None => format!("{}.progress.*.*", self.prefix),
        }
    }

    /// Whether a subject is a progress report (`<ns>.progress.<svc>.<backup>`).
    pub fn is_progress_subject(&self, subject: &str) -> bool {
        subject
            .strip_prefix(&self.prefix)
            .and_then(|r| r.strip_prefix(".progress."))
            .and_then(|r| r.split_once('.'))
            .is_some_and(|(s, b)| !s.is_empty() && !b.is_empty() && !b.contains('.'))
    }

    /// The JSON mirror of an event or progress subject: `<ns>.json.` before
    /// what follows the namespace (`xregion.json.events.backup.synced`,
    /// `xregion.json.progress.<svc>.<backup>`); core NATS, never stored.
    pub fn json_subject(&self, subject: &str) -> String {
        let rest = subject.strip_prefix(&self.prefix).unwrap_or(subject);
        format!("{}.json{rest}", self.prefix)
    }

    /// Every JSON mirror subject.
    pub fn json_filter(&self) -> String {
        format!("{}.json.>", self.prefix)
    }

    /// Where a catalog method is called: tenant methods on
    /// `<ns>.catalog.v1.<Method>`, internal ones on
    /// `<ns>.catalog.internal.v1.<Method>`.
    pub fn catalog_subject(&self, method: &str) -> String {
        if methods::is_internal(method) {
            format!("{}.catalog.internal.v1.{method}", self.prefix)
        } else {
            format!("{}.catalog.v1.{method}", self.prefix)
        }
    }

    /// Every catalog subject, tenant and internal: what the catalog serves.
    pub fn catalog_filter(&self) -> String {
        format!("{}.catalog.>", self.prefix)
    }

    pub fn catalog_queue_group(&self) -> String {
        format!("{}-catalog", self.prefix)
    }

    /// The method name of a catalog request subject, and whether the subject
    /// is the internal one.
    pub fn catalog_method<'a>(&self, subject: &'a str) -> Option<(&'a str, bool)> {
        let rest = subject.strip_prefix(&self.prefix)?;
        if let Some(method) = rest.strip_prefix(".catalog.internal.v1.") {
            return Some((method, true));
        }
        rest.strip_prefix(".catalog.v1.").map(|m| (m, false))
    }

    pub fn dead_letter_subject(&self, durable: &str) -> String {
        format!("{}.deadletter.{durable}", self.prefix)
    }

    pub fn dead_letters_filter(&self) -> String {
        format!("{}.deadletter.>", self.prefix)
    }

    pub fn upstream_subject(&self, region: &str, event: UpstreamEvent) -> String {
        format!("{}.{region}.{}", self.upstream, event.tokens())
    }

    /// One upstream event kind in every region.
    pub fn upstream_filter(&self, event: UpstreamEvent) -> String {
        format!("{}.*.{}", self.upstream, event.tokens())
    }

    pub fn upstream_filter_all(&self) -> String {
        format!("{}.>", self.upstream)
    }

    /// Durable consumer names carry the namespace so deployments sharing a
    /// server never share a consumer.
    pub fn durable(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Which upstream event a subject carries.
    pub fn upstream_event_of(&self, subject: &str) -> Option<UpstreamEvent> {
        let rest = subject.strip_prefix(&self.upstream)?.strip_prefix('.')?;
        let (_region, tokens) = rest.split_once('.')?;
        [
            UpstreamEvent::InstanceCreated,
            UpstreamEvent::InstanceDeleted,
            UpstreamEvent::BackupCreated,
        ]
        .into_iter()
        .find(|e| e.tokens() == tokens)
    }

    /// Which xregion event a subject carries.
    pub fn event_of(&self, subject: &str) -> Option<EventSubject> {
        let tokens = subject
            .strip_prefix(&self.prefix)?
            .strip_prefix(".events.")?;
        EventSubject::from_tokens(tokens)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_names_match_the_design() {
        let ns = Namespace::new("xregion", "rds").unwrap();
        for (name, designed) in [
            (ns.events_stream(), "XREGION_EVENTS"),
            (ns.transfers_stream(), "XREGION_TRANSFERS"),
            (ns.upstream_stream(), "RDS_EVENTS"),
            (
                ns.event_subject(EventSubject::BackupSynced),
                "xregion.events.backup.synced",
            ),
            (
                ns.transfer_subject("cn-east-2", Lane::Log),
                "xregion.transfer.cn-east-2.log",
            ),
            (ns.progress_subject("s1", "b1"), "xregion.progress.s1.b1"),
            (
                ns.catalog_subject(methods::GET_SYNC_SERVICE),
                "xregion.catalog.v1.GetSyncService",
            ),
            (
                ns.upstream_subject("r1", UpstreamEvent::BackupCreated),
                "rds.r1.backup.created",
            ),
            (
                ns.catalog_subject(methods::LIVE_SERVICES),
                "xregion.catalog.internal.v1.LiveServices",
            ),
            (ns.durable("transfer-log"), "xregion-transfer-log"),
            (ns.limits_bucket(), "XREGION_LIMITS"),
            (ns.leases_bucket(), "XREGION_LEASES"),
            (Namespace::lease_key("cleanup", "sweep"), "cleanup.sweep"),
            (ns.workers_bucket(), "XREGION_WORKERS"),
            (
                Namespace::worker_presence_key("bw.a.b.log", "w1"),
                "bw.a.b.log.w1",
            ),
            (Namespace::bandwidth_key("a", "b", true), "bw.a.b.log"),
            (
                ns.json_subject("xregion.events.backup.synced"),
                "xregion.json.events.backup.synced",
            ),
            (
                ns.json_subject("xregion.progress.s1.b1"),
                "xregion.json.progress.s1.b1",
            ),
            (ns.json_filter(), "xregion.json.>"),
        ] {
            assert_eq!(name, designed);
        }
    }

    #[test]
    fn parses_subjects_back() {
        let ns = Namespace::new("t-1", "up").unwrap();
        assert_eq!(ns.events_stream(), "T_1_EVENTS");
        assert_eq!(
            ns.catalog_method("t-1.catalog.v1.Ping"),
            Some(("Ping", false))
        );
        assert_eq!(
            ns.catalog_method("t-1.catalog.internal.v1.LiveServices"),
            Some(("LiveServices", true))
        );
        assert_eq!(ns.catalog_method("other.catalog.v1.Ping"), None);
        assert_eq!(
            ns.upstream_event_of("up.r1.instance.deleted"),
            Some(UpstreamEvent::InstanceDeleted)
        );
        assert_eq!(
            ns.event_of("t-1.events.service.lag.recovered"),
            Some(EventSubject::LagRecovered)
        );
        assert_eq!(ns.event_of("t-1.events.nope"), None);
        assert!(ns.is_progress_subject("t-1.progress.s1.b1"));
        for not in [
            "t-1.progress.s1",
            "t-1.progress.s1.b1.x",
            "t-1.progress..b1",
            "up.progress.s1.b1",
        ] {
            assert!(!ns.is_progress_subject(not), "{not}");
        }
    }

    #[test]
    fn presence_keys_parse_back_to_lane_and_worker() {
        for lane in ["bw.a.b", "bw.a.b.log"] {
            let key = Namespace::worker_presence_key(lane, "0f3a");
            assert_eq!(Namespace::presence_of(&key), Some((lane, "0f3a")));
        }
        assert_eq!(Namespace::presence_of("other.w1"), None);
        assert_eq!(Namespace::presence_of("bw.a.b."), None);
    }

    #[test]
    fn rejects_bad_namespaces() {
        for bad in ["", "A", "a.b", "a b", "a>"] {
            assert!(Namespace::new(bad, "rds").is_err(), "{bad}");
        }
    }
}
