use thiserror::Error;

/// What can stop a cleanup step; each is retried on the next sweep or
/// delivery, and nothing is deleted on an error.
#[derive(Debug, Error)]
pub enum CleanupError {
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("catalog: {0}")]
    Catalog(#[from] xregion_bus::BusError),
    #[error("{0}")]
    Target(#[from] xregion_common::Error),
}

pub type Result<T> = std::result::Result<T, CleanupError>;
