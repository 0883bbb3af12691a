use thiserror::Error;
use xregion_proto::xregion::v1::ErrorCode;

#[derive(Debug, Error)]
pub enum BusError {
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("jetstream {op}: {reason}")]
    JetStream { op: &'static str, reason: String },
    #[error("publish to {subject}: {reason}")]
    Publish { subject: String, reason: String },
    #[error("request {method}: no catalog answered in time")]
    Timeout { method: String },
    #[error("request {method}: no catalog is running")]
    NoResponders { method: String },
    #[error("request {method}: {reason}")]
    Request { method: String, reason: String },
    #[error("{message}")]
    Remote { code: ErrorCode, message: String },
    #[error("decode {what}: {reason}")]
    Decode { what: &'static str, reason: String },
}

impl BusError {
    pub(crate) fn js(op: &'static str, err: impl std::fmt::Display) -> Self {
        Self::JetStream {
            op,
            reason: err.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, BusError>;
