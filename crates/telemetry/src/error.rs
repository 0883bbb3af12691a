use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("log filter: {0}")]
    Filter(String),
    #[error("otlp exporter: {0}")]
    Otlp(String),
    #[error("metrics recorder: {0}")]
    Metrics(String),
    #[error("tracing subscriber: {0}")]
    Subscriber(String),
    #[error("http endpoint {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;
