use thiserror::Error;
use xregion_proto::xregion::v1::ErrorCode;

#[derive(Debug, Error)]
pub enum BusError {
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("NATS settings: {reason}")]
    Config { reason: String },
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
    /// The catalog's refusal: its code, message, stable reason (empty when
    /// it gave none) and the request field at fault (empty when none).
    #[error("{message}")]
    Remote {
        code: ErrorCode,
        message: String,
        reason: String,
        field: String,
    },
    #[error("decode {what}: {reason}")]
    Decode { what: &'static str, reason: String },
    /// A region's object store, for what the bus records about it (uploads).
    #[error("object store, {op}: {reason}")]
    Store { op: &'static str, reason: String },
}

impl BusError {
    /// Whether NATS or the catalog behind it is unavailable (not answering,
    /// not connected, or saying so), as opposed to this request being wrong:
    /// a consumer retries the former for as long as it lasts
    /// ([`crate::Outcome::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::JetStream { .. }
            | Self::Publish { .. }
            | Self::Timeout { .. }
            | Self::NoResponders { .. }
            | Self::Request { .. }
            | Self::Store { .. } => true,
            Self::Remote { code, .. } => *code == ErrorCode::Unavailable,
            Self::InvalidName { .. } | Self::Decode { .. } | Self::Config { .. } => false,
        }
    }

    pub(crate) fn js(op: &'static str, err: impl std::fmt::Display) -> Self {
        Self::JetStream {
            op,
            reason: err.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, BusError>;
