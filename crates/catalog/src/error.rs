use thiserror::Error;
use xregion_bus::RpcError;
use xregion_proto::xregion::v1::ErrorCode;

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error(transparent)]
    Invalid(#[from] xregion_domain::DomainError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
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
            | Self::NotFound(_)
            | Self::AlreadyExists(_)
            | Self::FailedPrecondition(_)
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
        let code = match &err {
            CatalogError::Invalid(_) | CatalogError::Decode(_) => ErrorCode::InvalidArgument,
            CatalogError::NotFound(_) => ErrorCode::NotFound,
            CatalogError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            CatalogError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            CatalogError::Database(_) | CatalogError::Bus(_) | CatalogError::Store(_) => {
                ErrorCode::Unavailable
            }
            CatalogError::Corrupt(_) => ErrorCode::Internal,
        };
        if matches!(code, ErrorCode::Unavailable | ErrorCode::Internal) {
            tracing::error!(error = %err, "catalog request failed");
        }
        RpcError::new(code, err.to_string())
    }
}
