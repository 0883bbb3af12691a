//! The strict id grammar shared by every id that becomes part of a NATS
//! subject, an object key or a SQL value: tenants, instances, regions,
//! services, backups.
//!
//! Grammar: 1..=64 characters from `[A-Za-z0-9_-]`, starting with a letter or
//! digit. Dots are excluded because ids are NATS subject tokens; slashes,
//! `..` and whitespace are excluded because ids are object-key segments.

use crate::error::{DomainError, Result};

pub const MAX_ID_LEN: usize = 64;

/// Checks `value` against the id grammar, naming `field` in the error.
pub fn validate_id(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_ID_LEN} characters"),
        ));
    }
    if !value.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(DomainError::invalid(
            field,
            "must start with a letter or digit",
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(DomainError::invalid(
            field,
            format!("must contain only letters, digits, '-' and '_' (found {bad:?})"),
        ));
    }
    Ok(())
}

pub fn is_valid_id(value: &str) -> bool {
    validate_id("id", value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_typical_ids() {
        for id in ["cn-north-1", "rm-2ze8", "svc_01HX", "a", "0"] {
            assert!(is_valid_id(id), "{id}");
        }
    }

    #[test]
    fn rejects_unsafe_ids() {
        let long = "a".repeat(MAX_ID_LEN + 1);
        for id in [
            "",
            "a/b",
            "..",
            "a..b",
            "a b",
            "a.b",
            "-a",
            "é",
            "a\n",
            long.as_str(),
        ] {
            assert!(!is_valid_id(id), "{id:?}");
        }
    }

    #[test]
    fn error_names_the_field() {
        let err = validate_id("source_instance_id", "a/b").unwrap_err();
        assert!(err.to_string().contains("source_instance_id"));
    }

    proptest! {
        #[test]
        fn valid_ids_are_safe_path_and_subject_tokens(id in "[A-Za-z0-9][A-Za-z0-9_-]{0,63}") {
            prop_assert!(is_valid_id(&id));
            prop_assert!(!id.contains('/') && !id.contains('.') && !id.contains(' '));
        }

        #[test]
        fn anything_with_a_separator_is_rejected(a in "[a-z]{1,5}", sep in "[./ *>]", b in "[a-z]{1,5}") {
            let id = format!("{a}{sep}{b}");
            prop_assert!(!is_valid_id(&id));
        }
    }
}
