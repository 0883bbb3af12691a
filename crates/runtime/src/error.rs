/// Why a service could not start, or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] xregion_common::Error),
    #[error(transparent)]
    Telemetry(#[from] xregion_telemetry::Error),
    #[error(transparent)]
    Bus(#[from] xregion_bus::BusError),
    #[error("a core task stopped unexpectedly")]
    TaskFailed,
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// What a service's `run` returns: the same errors as the process's.
pub type ServiceError = Error;

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A service's own error, kept with its source.
    pub fn other(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Other(Box::new(error))
    }
}
