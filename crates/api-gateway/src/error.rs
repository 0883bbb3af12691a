//! The one mapping from errors to gRPC status codes. Tenants see what they
//! can act on (the field, the state, the id); the insides of a failure
//! (database messages, store endpoints, buckets and keys, subjects) are
//! logged here with a reference the tenant's message carries, never sent.

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

/// A summary for the tenant; the details go to the log under a reference.
fn summarised(code: Code, details: &str) -> Status {
    let reference = uuid::Uuid::new_v4().simple().to_string();
    let reference = &reference[..12];
    let summary = if code == Code::Unavailable {
        tracing::warn!(%reference, error = %details, "service unavailable");
        "service temporarily unavailable, retry later"
    } else {
        tracing::error!(%reference, error = %details, "internal error");
        "internal error"
    };
    Status::new(code, format!("{summary} (ref {reference})"))
}

pub fn status(err: BusError) -> Status {
    match err {
        BusError::Remote { code, message } => match code_of(code) {
            c @ (Code::Internal | Code::Unavailable) => summarised(c, &message),
            c => Status::new(c, message),
        },
        other if other.is_unavailable() => {
            summarised(Code::Unavailable, &format!("catalog unavailable: {other}"))
        }
        other => summarised(Code::Internal, &other.to_string()),
    }
}

/// An infrastructure failure of the gateway itself (e.g. a NATS subscribe).
pub fn unavailable(what: &str, err: impl std::fmt::Display) -> Status {
    summarised(Code::Unavailable, &format!("{what}: {err}"))
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

    #[test]
    fn internal_details_never_reach_the_tenant() {
        let leaky = "error returned from database: duplicate key value violates unique \
                     constraint \"services_pkey\"; s3://xregion-b/tenant-b/x at http://10.0.0.7:3900";
        for code in [ErrorCode::Internal, ErrorCode::Unavailable] {
            let s = status(BusError::Remote {
                code,
                message: leaky.into(),
            });
            assert_eq!(s.code(), code_of(code));
            for secret in ["database", "services_pkey", "s3://", "10.0.0.7", "tenant-b"] {
                assert!(!s.message().contains(secret), "{code:?}: {}", s.message());
            }
            assert!(s.message().contains("(ref "), "{}", s.message());
        }
        let s = status(BusError::NoResponders {
            method: "tsecret.catalog.v1.GetSyncService".into(),
        });
        assert!(!s.message().contains("tsecret"), "{}", s.message());
    }
}
