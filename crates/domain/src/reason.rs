//! The stable reasons of refused requests: what a client may branch on
//! (`google.rpc.ErrorInfo.reason`, domain [`DOMAIN`]) instead of parsing the
//! English message. A name, once published, never changes meaning; README's
//! "Error reasons" table lists them all.

/// `google.rpc.ErrorInfo.domain` of every xregion error.
pub const DOMAIN: &str = "xregion.dev";

/// One list of the reasons: each variant beside its published name, from
/// which the enum, [`Reason::ALL`] and [`Reason::as_str`] are generated, so a
/// new reason is added in one place.
macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$doc])* $variant,)+
        }

        impl Reason {
            pub const ALL: [Reason; [$($name),+].len()] = [$(Reason::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $name,)+
                }
            }
        }
    };
}

reasons! {
    // INVALID_ARGUMENT, by the field at fault.
    InvalidArgument => "INVALID_ARGUMENT",
    InvalidId => "INVALID_ID",
    InvalidEngine => "INVALID_ENGINE",
    InvalidRegion => "INVALID_REGION",
    InvalidRetention => "INVALID_RETENTION",
    InvalidTime => "INVALID_TIME",
    InvalidKind => "INVALID_KIND",
    InvalidPageToken => "INVALID_PAGE_TOKEN",
    InvalidUpdateMask => "INVALID_UPDATE_MASK",
    // NOT_FOUND
    ServiceNotFound => "SERVICE_NOT_FOUND",
    InstanceNotFound => "INSTANCE_NOT_FOUND",
    NotFound => "NOT_FOUND",
    // ALREADY_EXISTS
    ServiceExists => "SERVICE_EXISTS",
    RequestIdReused => "REQUEST_ID_REUSED",
    // FAILED_PRECONDITION
    InstanceDeleted => "INSTANCE_DELETED",
    EngineMismatch => "ENGINE_MISMATCH",
    ServiceNotLive => "SERVICE_NOT_LIVE",
    ConcurrentChange => "CONCURRENT_CHANGE",
    NoRestorePoint => "NO_RESTORE_POINT",
    FailedPrecondition => "FAILED_PRECONDITION",
    // the other codes
    Unauthenticated => "UNAUTHENTICATED",
    PermissionDenied => "PERMISSION_DENIED",
    Unavailable => "UNAVAILABLE",
    Internal => "INTERNAL",
    Unimplemented => "UNIMPLEMENTED",
}

impl Reason {
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
