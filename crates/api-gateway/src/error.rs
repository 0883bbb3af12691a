//! The one mapping from errors to gRPC status codes.

use tonic::{Code, Status};
use xregion_bus::BusError;
use xregion_proto::xregion::v1::ErrorCode;

pub fn code_of(code: ErrorCode) -> Code {
    match code {
        ErrorCode::InvalidArgument => Code::InvalidArgument,
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::AlreadyExists => Code::AlreadyExists,
        ErrorCode::FailedPrecondition => Code::FailedPrecondition,
        ErrorCode::Unauthenticated => Code::Unauthenticated,
        ErrorCode::PermissionDenied => Code::PermissionDenied,
        ErrorCode::Unavailable => Code::Unavailable,
        ErrorCode::Unspecified => Code::Unimplemented,
        ErrorCode::Internal => Code::Internal,
    }
}

pub fn status(err: BusError) -> Status {
    match err {
        BusError::Remote { code, message } => Status::new(code_of(code), message),
        BusError::Timeout { .. } | BusError::NoResponders { .. } | BusError::Connect { .. } => {
            Status::unavailable(format!("catalog unavailable: {err}"))
        }
        other => {
            tracing::error!(error = %other, "gateway internal error");
            Status::internal(other.to_string())
        }
    }
}

pub fn invalid(err: xregion_domain::DomainError) -> Status {
    Status::invalid_argument(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_codes_keep_their_meaning() {
        let s = status(BusError::Remote {
            code: ErrorCode::AlreadyExists,
            message: "x has svc-1".into(),
        });
        assert_eq!(s.code(), Code::AlreadyExists);
        assert_eq!(s.message(), "x has svc-1");
        assert_eq!(
            status(BusError::NoResponders { method: "m".into() }).code(),
            Code::Unavailable
        );
    }
}
