//! The one mapping from errors to gRPC status codes. Tenants see what they
//! can act on (the field, the state, the id); the insides of a failure
//! (database messages, store endpoints, buckets and keys, subjects) are
//! logged here with a reference the tenant's message carries, never sent.
//!
//! Every status made here carries `google.rpc.ErrorInfo` (a stable reason,
//! domain `xregion.dev`) and, for an invalid field, `google.rpc.BadRequest`
//! with its field violation, so that clients branch on data, not English.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use xregion_bus::BusError;
use xregion_domain::reason::DOMAIN;
use xregion_domain::{DomainError, Reason};
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

/// The reason of a status whose sender named none.
fn reason_of(code: Code) -> Reason {
    match code {
        Code::InvalidArgument | Code::OutOfRange => Reason::InvalidArgument,
        Code::NotFound => Reason::NotFound,
        Code::AlreadyExists => Reason::ServiceExists,
        Code::FailedPrecondition => Reason::FailedPrecondition,
        Code::Unauthenticated => Reason::Unauthenticated,
        Code::PermissionDenied => Reason::PermissionDenied,
        Code::Unavailable | Code::DeadlineExceeded => Reason::Unavailable,
        Code::Unimplemented => Reason::Unimplemented,
        _ => Reason::Internal,
    }
}

/// A status with its details: `field` (empty for none) becomes a
/// `BadRequest` field violation described by `description`.
fn detailed(
    code: Code,
    message: String,
    reason: Reason,
    field: &str,
    description: &str,
    metadata: HashMap<String, String>,
) -> Status {
    let mut details = ErrorDetails::with_error_info(reason.as_str(), DOMAIN, metadata);
    if !field.is_empty() {
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(code, message, details)
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
    let metadata = HashMap::from([("reference".to_string(), reference.to_string())]);
    detailed(
        code,
        format!("{summary} (ref {reference})"),
        reason_of(code),
        "",
        "",
        metadata,
    )
}

pub fn status(err: BusError) -> Status {
    match err {
        BusError::Remote {
            code,
            message,
            reason,
            field,
        } => match code_of(code) {
            c @ (Code::Internal | Code::Unavailable) => summarised(c, &message),
            c => {
                let reason = Reason::parse(&reason).unwrap_or_else(|| reason_of(c));
                detailed(c, message.clone(), reason, &field, &message, HashMap::new())
            }
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

/// A request field the gateway itself found invalid.
pub fn invalid(err: DomainError) -> Status {
    detailed(
        Code::InvalidArgument,
        err.to_string(),
        err.reason(),
        err.field(),
        err.description(),
        HashMap::new(),
    )
}

/// A request without credentials the gateway accepts.
pub fn unauthenticated(why: impl Into<String>) -> Status {
    detailed(
        Code::Unauthenticated,
        why.into(),
        Reason::Unauthenticated,
        "",
        "",
        HashMap::new(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn remote_codes_keep_their_meaning() {
        let s = status(BusError::Remote {
            code: ErrorCode::AlreadyExists,
            message: "x has svc-1".into(),
            reason: String::new(),
            field: String::new(),
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
                reason: String::new(),
                field: String::new(),
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

    #[test]
    fn a_remote_invalid_field_becomes_a_field_violation() {
        let s = status(BusError::Remote {
            code: ErrorCode::InvalidArgument,
            message: "invalid retention_days: 0 is outside 1..=1825".into(),
            reason: "INVALID_RETENTION".into(),
            field: "retention_days".into(),
        });
        assert_eq!(s.code(), Code::InvalidArgument);
        let details = s.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("INVALID_RETENTION", DOMAIN)
        );
        let violations = &details.bad_request().unwrap().field_violations;
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "retention_days");
        assert!(violations[0].description.contains("1..=1825"));
    }

    #[test]
    fn every_status_names_a_reason() {
        // A catalog that names no reason (an older one) still gets one.
        let s = status(BusError::Remote {
            code: ErrorCode::NotFound,
            message: "gone".into(),
            reason: String::new(),
            field: String::new(),
        });
        assert_eq!(s.get_details_error_info().unwrap().reason, "NOT_FOUND");
        assert!(s.get_details_bad_request().is_none());
        let s = status(BusError::Remote {
            code: ErrorCode::NotFound,
            message: "gone".into(),
            reason: "SERVICE_NOT_FOUND".into(),
            field: String::new(),
        });
        assert_eq!(
            s.get_details_error_info().unwrap().reason,
            "SERVICE_NOT_FOUND"
        );
        let s = status(BusError::Timeout { method: "m".into() });
        let info = s.get_details_error_info().unwrap();
        assert_eq!(info.reason, "UNAVAILABLE");
        assert!(s.message().contains(&info.metadata["reference"]));
        let s = unauthenticated("missing authorization");
        assert_eq!(
            s.get_details_error_info().unwrap().reason,
            "UNAUTHENTICATED"
        );
    }

    #[test]
    fn a_gateway_check_names_its_field() {
        let s = invalid(DomainError::invalid("service_id", "must not be empty"));
        assert_eq!(s.get_details_error_info().unwrap().reason, "INVALID_ID");
        let bad = s.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "service_id");
        assert_eq!(bad.field_violations[0].description, "must not be empty");
        assert_eq!(s.message(), "invalid service_id: must not be empty");
    }
}
