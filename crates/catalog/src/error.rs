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
    #[error("a core task of the catalog stopped unexpectedly")]
    TaskFailed,
    #[error("decode: {0}")]
    Decode(#[from] prost::DecodeError),
}

pub type Result<T> = std::result::Result<T, CatalogError>;

impl From<CatalogError> for RpcError {
    fn from(err: CatalogError) -> Self {
        let code = match &err {
            CatalogError::Invalid(_) | CatalogError::Decode(_) => ErrorCode::InvalidArgument,
            CatalogError::NotFound(_) => ErrorCode::NotFound,
            CatalogError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            CatalogError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            CatalogError::Database(_) | CatalogError::Bus(_) => ErrorCode::Unavailable,
            CatalogError::Corrupt(_) | CatalogError::TaskFailed => ErrorCode::Internal,
        };
        if matches!(code, ErrorCode::Unavailable | ErrorCode::Internal) {
            tracing::error!(error = %err, "catalog request failed");
        }
        RpcError::new(code, err.to_string())
    }
}
