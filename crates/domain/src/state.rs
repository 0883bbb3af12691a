use serde::{Deserialize, Serialize};

/// Lifecycle of a sync service.
///
/// CREATING → SEEDING → RUNNING ⇄ DEGRADED, and any live state → DELETING →
/// DELETED. DELETED is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ServiceState {
    Creating,
    Seeding,
    Running,
    Degraded,
    Deleting,
    Deleted,
}

impl ServiceState {
    pub const ALL: [ServiceState; 6] = [
        ServiceState::Creating,
        ServiceState::Seeding,
        ServiceState::Running,
        ServiceState::Degraded,
        ServiceState::Deleting,
        ServiceState::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Creating => "CREATING",
            ServiceState::Seeding => "SEEDING",
            ServiceState::Running => "RUNNING",
            ServiceState::Degraded => "DEGRADED",
            ServiceState::Deleting => "DELETING",
            ServiceState::Deleted => "DELETED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A live service still owns its instance: no second service may be
    /// created for it.
    pub fn is_live(self) -> bool {
        !matches!(self, ServiceState::Deleting | ServiceState::Deleted)
    }

    pub fn can_transition_to(self, next: ServiceState) -> bool {
        use ServiceState::*;
        match (self, next) {
            (a, b) if a == b => true,
            (Deleted, _) => false,
            (_, Deleting) => true,
            (Deleting, Deleted) => true,
            (Deleting, _) => false,
            (_, Deleted) => false,
            (Creating, Seeding | Running | Degraded) => true,
            (Seeding, Running | Degraded) => true,
            (Running, Degraded) | (Degraded, Running) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ServiceState::ALL {
            assert_eq!(ServiceState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn deleted_is_final_and_deleting_only_leads_to_deleted() {
        for s in ServiceState::ALL {
            if s != ServiceState::Deleted {
                assert!(!ServiceState::Deleted.can_transition_to(s));
            }
            let ok = ServiceState::Deleting.can_transition_to(s);
            assert_eq!(
                ok,
                matches!(s, ServiceState::Deleting | ServiceState::Deleted)
            );
        }
    }

    #[test]
    fn happy_path_is_allowed() {
        use ServiceState::*;
        for (a, b) in [
            (Creating, Seeding),
            (Seeding, Running),
            (Running, Degraded),
            (Degraded, Running),
            (Running, Deleting),
            (Deleting, Deleted),
        ] {
            assert!(a.can_transition_to(b), "{a:?} -> {b:?}");
        }
        assert!(!Running.can_transition_to(Creating));
        // Live exactly while the service still syncs (it holds its instance).
        for s in ServiceState::ALL {
            assert_eq!(
                s.is_live(),
                matches!(s, Creating | Seeding | Running | Degraded),
                "{s:?}"
            );
        }
    }
}
