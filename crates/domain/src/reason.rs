//! The stable reasons of refused requests: what a client may branch on
//! (`google.rpc.ErrorInfo.reason`, domain [`DOMAIN`]) instead of parsing the
//! English message. A name, once published, never changes meaning; README's
//! "Error reasons" table lists them all.

/// `google.rpc.ErrorInfo.domain` of every xregion error.
pub const DOMAIN: &str = "xregion.dev";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    // INVALID_ARGUMENT, by the field at fault.
    InvalidArgument,
    InvalidId,
    InvalidEngine,
    InvalidRegion,
    InvalidRetention,
    InvalidTime,
    InvalidKind,
    InvalidPageToken,
    InvalidUpdateMask,
    // NOT_FOUND
    ServiceNotFound,
    InstanceNotFound,
    NotFound,
    // ALREADY_EXISTS
    ServiceExists,
    RequestIdReused,
    // FAILED_PRECONDITION
    InstanceDeleted,
    EngineMismatch,
    ServiceNotLive,
    ConcurrentChange,
    NoRestorePoint,
    FailedPrecondition,
    // the other codes
    Unauthenticated,
    PermissionDenied,
    Unavailable,
    Internal,
    Unimplemented,
}

impl Reason {
    pub const ALL: [Reason; 25] = [
        Reason::InvalidArgument,
        Reason::InvalidId,
        Reason::InvalidEngine,
        Reason::InvalidRegion,
        Reason::InvalidRetention,
        Reason::InvalidTime,
        Reason::InvalidKind,
        Reason::InvalidPageToken,
        Reason::InvalidUpdateMask,
        Reason::ServiceNotFound,
        Reason::InstanceNotFound,
        Reason::NotFound,
        Reason::ServiceExists,
        Reason::RequestIdReused,
        Reason::InstanceDeleted,
        Reason::EngineMismatch,
        Reason::ServiceNotLive,
        Reason::ConcurrentChange,
        Reason::NoRestorePoint,
        Reason::FailedPrecondition,
        Reason::Unauthenticated,
        Reason::PermissionDenied,
        Reason::Unavailable,
        Reason::Internal,
        Reason::Unimplemented,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidArgument => "INVALID_ARGUMENT",
            Reason::InvalidId => "INVALID_ID",
            Reason::InvalidEngine => "INVALID_ENGINE",
            Reason::InvalidRegion => "INVALID_REGION",
            Reason::InvalidRetention => "INVALID_RETENTION",
            Reason::InvalidTime => "INVALID_TIME",
            Reason::InvalidKind => "INVALID_KIND",
            Reason::InvalidPageToken => "INVALID_PAGE_TOKEN",
            Reason::InvalidUpdateMask => "INVALID_UPDATE_MASK",
            Reason::ServiceNotFound => "SERVICE_NOT_FOUND",
            Reason::InstanceNotFound => "INSTANCE_NOT_FOUND",
            Reason::NotFound => "NOT_FOUND",
            Reason::ServiceExists => "SERVICE_EXISTS",
            Reason::RequestIdReused => "REQUEST_ID_REUSED",
            Reason::InstanceDeleted => "INSTANCE_DELETED",
            Reason::EngineMismatch => "ENGINE_MISMATCH",
            Reason::ServiceNotLive => "SERVICE_NOT_LIVE",
            Reason::ConcurrentChange => "CONCURRENT_CHANGE",
            Reason::NoRestorePoint => "NO_RESTORE_POINT",
            Reason::FailedPrecondition => "FAILED_PRECONDITION",
            Reason::Unauthenticated => "UNAUTHENTICATED",
            Reason::PermissionDenied => "PERMISSION_DENIED",
            Reason::Unavailable => "UNAVAILABLE",
            Reason::Internal => "INTERNAL",
            Reason::Unimplemented => "UNIMPLEMENTED",
        }
    }

    pub fn parse(text: &str) -> Option<Reason> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The reason of an invalid value of `field` (a request field's name).
    pub fn for_field(field: &str) -> Reason {
        match field {
            "retention_days" => Reason::InvalidRetention,
            "page_token" => Reason::InvalidPageToken,
            "update_mask" => Reason::InvalidUpdateMask,
            "engine" => Reason::InvalidEngine,
            "kind" => Reason::InvalidKind,
            "source_region" | "target_region" | "region" => Reason::InvalidRegion,
            "restore_time" | "from" | "to" => Reason::InvalidTime,
            f if f == "id" || f.ends_with("_id") || f.ends_with("_ids") => Reason::InvalidId,
            _ => Reason::InvalidArgument,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_upper_snake_distinct_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            let name = r.as_str();
            assert!(
                name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{name}"
            );
            assert!(seen.insert(name), "{name} twice");
            assert_eq!(Reason::parse(name), Some(r));
        }
        assert_eq!(Reason::parse("nope"), None);
    }

    #[test]
    fn fields_name_their_reason() {
        assert_eq!(
            Reason::for_field("retention_days"),
            Reason::InvalidRetention
        );
        assert_eq!(Reason::for_field("service_id"), Reason::InvalidId);
        assert_eq!(Reason::for_field("target_region"), Reason::InvalidRegion);
        assert_eq!(Reason::for_field("page_token"), Reason::InvalidPageToken);
        assert_eq!(Reason::for_field("discovered"), Reason::InvalidArgument);
    }
}
