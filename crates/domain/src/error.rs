use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }

    /// The request field at fault, for a `BadRequest` field violation.
    pub fn field(&self) -> &'static str {
        match self {
            Self::InvalidArgument { field, .. } => field,
        }
    }

    /// What is wrong with the field, without its name.
    pub fn description(&self) -> &str {
        match self {
            Self::InvalidArgument { reason, .. } => reason,
        }
    }

    /// The stable reason a client may branch on.
    pub fn reason(&self) -> crate::Reason {
        crate::Reason::for_field(self.field())
    }
}

pub type Result<T> = std::result::Result<T, DomainError>;
