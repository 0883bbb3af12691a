//! Exit status by error class, decided here and nowhere else, so that a
//! script can tell "no such service" from "try again later" without parsing
//! messages.

use std::io::ErrorKind;

use tonic::Code;
use tonic_types::StatusExt;

use crate::profiles::ProfileError;

/// Shown at the end of `xregion --help`; README's CLI section says the same.
pub const EXIT_STATUS_HELP: &str = "Exit status:
  0  success
  1  any other error (a failed restore or drill, a TLS or local failure)
  2  usage: unknown command or flag, a value that does not parse, a bad
     config file or an unknown profile
  3  not found (NOT_FOUND)
  4  the request cannot succeed as it is (INVALID_ARGUMENT, FAILED_PRECONDITION,
     OUT_OF_RANGE, ALREADY_EXISTS)
  5  unavailable, try again (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
     ABORTED, the endpoint refuses connections, `wait` timed out)
  6  not allowed (UNAUTHENTICATED, PERMISSION_DENIED)";

/// Why a command failed, as far as a script needs to know.
///
/// Usage errors (2) are mostly clap's: it exits before any command runs;
/// a bad config file or profile is found later and classed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    Other = 1,
    Usage = 2,
    NotFound = 3,
    Invalid = 4,
    Unavailable = 5,
    Denied = 6,
}

/// What the server (or the local `wait` deadline) said: the typed cause that
/// [`ExitClass::of`] looks for in an error chain.
#[derive(Debug)]
pub enum CliError {
    /// The server's answer.
    Api(tonic::Status),
    /// A local deadline (`wait --timeout-secs`) passed.
    Timeout(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // "CODE: message [REASON]", the server's words, then one line
            // per field violation (google.rpc details, when sent).
            CliError::Api(s) => {
                write!(f, "{:?}: {}", s.code(), s.message())?;
                if let Some(info) = s.get_details_error_info() {
                    write!(f, " [{}]", info.reason)?;
                }
                for v in s
                    .get_details_bad_request()
                    .map(|b| b.field_violations)
                    .unwrap_or_default()
                {
                    write!(f, "\n  field {}: {}", v.field, v.description)?;
                }
                Ok(())
            }
            CliError::Timeout(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for CliError {}

impl From<tonic::Status> for CliError {
    fn from(status: tonic::Status) -> Self {
        CliError::Api(status)
    }
}

impl ExitClass {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The class of a gRPC status code.
    pub fn of_code(code: Code) -> Self {
        match code {
            Code::NotFound => ExitClass::NotFound,
            Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::AlreadyExists => ExitClass::Invalid,
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted => ExitClass::Unavailable,
            Code::Unauthenticated | Code::PermissionDenied => ExitClass::Denied,
            Code::Ok
            | Code::Cancelled
            | Code::Unknown
            | Code::Unimplemented
            | Code::Internal
            | Code::DataLoss => ExitClass::Other,
        }
    }

    /// The class of an error: the first cause in its chain that says more
    /// than "something failed" decides.
    pub fn of(error: &anyhow::Error) -> Self {
        error
            .chain()
            .find_map(|cause| {
                // A bad config file or profile is a usage error, like a bad flag.
                if cause.downcast_ref::<ProfileError>().is_some() {
                    return Some(ExitClass::Usage);
                }
                // A key not given or not usable: the restore cannot succeed
                // as asked; a key that does not open, or altered bytes, is a
                // failed restore.
                if let Some(e) = cause.downcast_ref::<xregion_crypt::CryptError>() {
                    use xregion_crypt::CryptError as C;
                    return Some(match e {
                        C::MissingKey { .. } | C::BadKey { .. } | C::BadKeyId(_) => {
                            ExitClass::Invalid
                        }
                        _ => ExitClass::Other,
                    });
                }
                if let Some(e) = cause.downcast_ref::<CliError>() {
                    return Some(match e {
                        CliError::Api(status) => Self::of_code(status.code()),
                        CliError::Timeout(_) => ExitClass::Unavailable,
                    });
                }
                // A server that is not there (as opposed to one that is
                // there but not trusted: a TLS failure stays "other").
                let io = cause.downcast_ref::<std::io::Error>()?;
                matches!(
                    io.kind(),
                    ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::NotConnected
                        | ErrorKind::TimedOut
                )
                .then_some(ExitClass::Unavailable)
            })
            .unwrap_or(ExitClass::Other)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_class_has_its_number() {
        for (code, status) in [
            (Code::NotFound, 3),
            (Code::InvalidArgument, 4),
            (Code::FailedPrecondition, 4),
            (Code::AlreadyExists, 4),
            (Code::Unavailable, 5),
            (Code::DeadlineExceeded, 5),
            (Code::Unauthenticated, 6),
            (Code::PermissionDenied, 6),
            (Code::Internal, 1),
            (Code::Unknown, 1),
        ] {
            assert_eq!(ExitClass::of_code(code).code(), status, "{code:?}");
            let line = format!("{status}  ");
            assert!(EXIT_STATUS_HELP.contains(&line), "{status} undocumented");
        }
    }

    #[test]
    fn the_status_decides_even_below_context() {
        let e = anyhow::Error::from(CliError::from(tonic::Status::not_found("svc-x")))
            .context("getting svc-x");
        assert_eq!(ExitClass::of(&e), ExitClass::NotFound);
        assert!(format!("{e:#}").contains("NotFound: svc-x"), "{e:#}");
        let mut details = tonic_types::ErrorDetails::with_error_info(
            "INVALID_RETENTION",
            "xregion.dev",
            std::collections::HashMap::new(),
        );
        details.add_bad_request_violation("retention_days", "0 is outside 1..=1825");
        let invalid = anyhow::Error::from(CliError::from(tonic::Status::with_error_details(
            Code::InvalidArgument,
            "invalid retention_days: 0 is outside 1..=1825",
            details,
        )));
        assert_eq!(ExitClass::of(&invalid), ExitClass::Invalid);
        assert_eq!(
            format!("{invalid:#}"),
            "InvalidArgument: invalid retention_days: 0 is outside 1..=1825 [INVALID_RETENTION]\n  \
             field retention_days: 0 is outside 1..=1825"
        );
        let timeout = anyhow::Error::from(CliError::Timeout("svc-x did not reach".into()));
        assert_eq!(ExitClass::of(&timeout), ExitClass::Unavailable);
        assert_eq!(
            ExitClass::of(&anyhow::anyhow!("disk full")),
            ExitClass::Other
        );
        let profile = anyhow::Error::from(ProfileError::Parse {
            path: "config.toml".into(),
            message: "unknown key".into(),
        })
        .context("loading the profile");
        assert_eq!(ExitClass::of(&profile).code(), 2);
        assert!(EXIT_STATUS_HELP.contains("2  usage"));
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable() {
        // Port 1 on loopback: nothing listens there, the kernel refuses.
        let e = crate::connect::channel("http://127.0.0.1:1", &Default::default())
            .await
            .unwrap_err();
        assert_eq!(ExitClass::of(&e), ExitClass::Unavailable, "{e:#}");
    }
}
