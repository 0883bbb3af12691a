/// Why a service process could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] xregion_common::Error),
    #[error(transparent)]
    Telemetry(#[from] xregion_telemetry::Error),
    #[error(transparent)]
    Bus(#[from] xregion_bus::BusError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The error of a service's `run`: it could not be built, or one of its
/// core tasks stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Bus(#[from] xregion_bus::BusError),
    #[error(transparent)]
    Config(#[from] xregion_common::Error),
    #[error("a core task stopped unexpectedly")]
    TaskFailed,
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl ServiceError {
    /// A service's own error, kept with its source.
    pub fn other(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Other(Box::new(error))
    }
}
