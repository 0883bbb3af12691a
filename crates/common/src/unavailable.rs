//! Whether an error means a dependency is unavailable (retry for as long as
//! it lasts) rather than that the message being handled is at fault.

/// An object store that does not answer, answers with a server error, or
/// refuses us (credentials, permissions) is unavailable: no message is at
/// fault. A missing object, a failed precondition or an invalid path are
/// about the request itself.
pub fn store_unavailable(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::Generic { .. }
            | object_store::Error::JoinError { .. }
            | object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_object_is_not_an_outage() {
        let missing = object_store::Error::NotFound {
            path: "a".into(),
            source: "gone".into(),
        };
        assert!(!store_unavailable(&missing));
        let down = object_store::Error::Generic {
            store: "S3",
            source: "connection refused".into(),
        };
        assert!(store_unavailable(&down));
        // Expired or revoked credentials: an operator fixes them, the
        // messages wait.
        let refused = object_store::Error::Unauthenticated {
            path: "a".into(),
            source: "expired token".into(),
        };
        assert!(store_unavailable(&refused));
    }
}
