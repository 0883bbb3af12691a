use thiserror::Error;
use xregion_bus::RpcError;
use xregion_domain::Reason;
use xregion_proto::xregion::v1::ErrorCode;

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error(transparent)]
    Invalid(#[from] xregion_domain::DomainError),
    /// Each refusal carries the stable reason the tenant sees
    /// (`google.rpc.ErrorInfo`) with its message.
    #[error("{1}")]
    NotFound(Reason, String),
    #[error("{1}")]
    AlreadyExists(Reason, String),
    #[error("{1}")]
    FailedPrecondition(Reason, String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("bus: {0}")]
    Bus(#[from] xregion_bus::BusError),
    #[error("decode: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("target store: {0}")]
    Store(#[from] object_store::Error),
}

pub type Result<T> = std::result::Result<T, CatalogError>;

impl CatalogError {
    /// A refusal with no more specific reason than its code (the internal
    /// callers' checks: descriptors, copies, events).
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::FailedPrecondition(Reason::FailedPrecondition, message.into())
    }

    /// Whether the database or NATS is unavailable, as opposed to the
    /// message being at fault: consumers retry the former for as long as it
    /// lasts instead of dead-lettering it. Database errors count as an outage
    /// unless they are about the data (a constraint, a bad value) or a bug
    /// in a statement, which would fail the same way every time.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database(e) => database_unavailable(e),
            Self::Bus(e) => e.is_unavailable(),
            Self::Store(e) => xregion_common::unavailable::store_unavailable(e),
            Self::Invalid(_)
            | Self::NotFound(..)
            | Self::AlreadyExists(..)
            | Self::FailedPrecondition(..)
            | Self::Corrupt(_)
            | Self::Decode(_) => false,
        }
    }
}

fn database_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLSTATE classes about the data or the statement: 22 data
            // exception, 23 constraint violation, 42 syntax or access rule.
            // SQLite reports numeric codes; only busy/locked are an outage.
            if code.len() == 5 {
                !matches!(&code[..2], "22" | "23" | "42")
            } else {
                matches!(
                    code.parse::<u32>().map(|c| c & 0xff),
                    Ok(5) | Ok(6) | Ok(10) | Ok(13)
                )
            }
        }
        _ => false,
    }
}

impl From<CatalogError> for RpcError {
    fn from(err: CatalogError) -> Self {
        let (code, reason) = match &err {
            CatalogError::Invalid(e) => (ErrorCode::InvalidArgument, e.reason()),
            CatalogError::Decode(_) => (ErrorCode::InvalidArgument, Reason::InvalidArgument),
            CatalogError::NotFound(r, _) => (ErrorCode::NotFound, *r),
            CatalogError::AlreadyExists(r, _) => (ErrorCode::AlreadyExists, *r),
            CatalogError::FailedPrecondition(r, _) => (ErrorCode::FailedPrecondition, *r),
            CatalogError::Database(_) | CatalogError::Bus(_) | CatalogError::Store(_) => {
                (ErrorCode::Unavailable, Reason::Unavailable)
            }
            CatalogError::Corrupt(_) => (ErrorCode::Internal, Reason::Internal),
        };
        if matches!(code, ErrorCode::Unavailable | ErrorCode::Internal) {
            tracing::error!(error = %err, "catalog request failed");
        }
        let field = match &err {
            CatalogError::Invalid(e) => e.field(),
            _ => "",
        };
        RpcError::new(code, err.to_string())
            .with_reason(reason)
            .with_field(field)
    }
}
