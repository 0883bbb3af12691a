//! Where an instance's backup files may lie in its source region's store: an
//! optional per-region key prefix template such as `{instance}/` or
//! `{tenant}/{instance}/`. A descriptor listing a file outside the prefix is
//! refused, so a descriptor of one instance cannot make xregion copy another
//! instance's (or tenant's) files. The catalog checks it when it records a
//! backup; the transfer worker can check it again before it reads anything.

use crate::error::{DomainError, Result};
use crate::ids;

const INSTANCE: &str = "{instance}";
const TENANT: &str = "{tenant}";

/// A validated template. The rendered prefix is a folder: a key lies inside
/// it only when it continues after a `/`, so `{instance}` for `db-1` does not
/// admit `db-10/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceKeyPrefix {
    template: String,
}

impl SourceKeyPrefix {
    /// Accepts plain segments and the placeholders `{instance}` and
    /// `{tenant}`; the template must name the instance (a prefix shared by
    /// every instance would constrain nothing).
    pub fn parse(template: &str) -> Result<Self> {
        let invalid = |reason: String| DomainError::invalid("source_key_prefix", reason);
        let trimmed = template.strip_suffix('/').unwrap_or(template);
        if trimmed.is_empty() || trimmed.starts_with('/') {
            return Err(invalid(format!(
                "{template:?} must be a relative folder such as \"{{instance}}/\""
            )));
        }
        for segment in trimmed.split('/') {
            let rest = segment.replace(INSTANCE, "").replace(TENANT, "");
            let unsafe_segment = segment.is_empty() || segment == "." || segment == "..";
            if unsafe_segment
                || rest.contains(['{', '}', '\\'])
                || rest.chars().any(char::is_control)
            {
                return Err(invalid(format!(
                    "{template:?}: segment {segment:?} is not allowed (only plain names, {INSTANCE} and {TENANT})"
                )));
            }
        }
        if !trimmed.contains(INSTANCE) {
            return Err(invalid(format!("{template:?} must contain {INSTANCE}")));
        }
        Ok(Self {
            template: trimmed.to_string(),
        })
    }

    pub fn template(&self) -> &str {
        &self.template
    }

    /// The folder of `instance`'s files, with the trailing slash.
    pub fn render(&self, tenant: &str, instance: &str) -> String {
        format!(
            "{}/",
            self.template
                .replace(INSTANCE, instance)
                .replace(TENANT, tenant)
        )
    }

    /// Checks that every key lies below the instance's folder. Ids are
    /// checked first, so a placeholder value cannot smuggle a `/` or `..` in.
    pub fn check<'k>(
        &self,
        tenant: &str,
        instance: &str,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<()> {
        ids::validate_id("tenant_id", tenant)?;
        ids::validate_id("instance_id", instance)?;
        let folder = self.render(tenant, instance);
        for key in keys {
            let escapes = key
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..");
            if escapes || !key.starts_with(&folder) || key.len() == folder.len() {
                return Err(DomainError::invalid(
                    "files",
                    format!("file {key:?} lies outside the instance's source folder {folder:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// [`SourceKeyPrefix::check`] for an optional template: no template, no
/// constraint.
pub fn check_source_keys<'k>(
    template: Option<&SourceKeyPrefix>,
    tenant: &str,
    instance: &str,
    keys: impl IntoIterator<Item = &'k str>,
) -> Result<()> {
    match template {
        Some(t) => t.check(tenant, instance, keys),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn templates_are_validated() {
        for good in [
            "{instance}/",
            "{instance}",
            "rds/{tenant}/{instance}/",
            "x-{instance}/",
        ] {
            assert!(SourceKeyPrefix::parse(good).is_ok(), "{good}");
        }
        for (bad, says) in [
            ("", "relative folder"),
            ("/", "relative folder"),
            ("/{instance}/", "relative folder"),
            ("{tenant}/", "must contain"),
            ("{instance}/../x", "not allowed"),
            ("{instance}//x", "not allowed"),
            ("{inst}/", "not allowed"),
            ("{instance}/{region}", "not allowed"),
        ] {
            let err = SourceKeyPrefix::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn keys_must_lie_below_the_instance_folder() {
        let p = SourceKeyPrefix::parse("{instance}/").unwrap();
        assert!(p.check("t", "db-1", ["db-1/full/b/data.xbstream"]).is_ok());
        for outside in [
            "db-10/full/b/data",
            "db-2/full/b/data",
            "db-1",
            "db-1/",
            "descriptors/db-1/b.pb",
            "t/db-1/svc-x/backups/b/data",
        ] {
            let err = p.check("t", "db-1", ["db-1/ok", outside]).unwrap_err();
            assert!(err.to_string().contains("outside"), "{outside}: {err}");
        }
        let by_tenant = SourceKeyPrefix::parse("rds/{tenant}/{instance}").unwrap();
        assert_eq!(by_tenant.render("t1", "i1"), "rds/t1/i1/");
        assert!(by_tenant.check("t1", "i1", ["rds/t1/i1/f"]).is_ok());
        assert!(by_tenant.check("t2", "i1", ["rds/t1/i1/f"]).is_err());
        assert!(
            p.check("t", "../x", ["../x/f"]).is_err(),
            "ids are checked before they are substituted"
        );
        assert!(check_source_keys(None, "t", "i", ["anywhere"]).is_ok());
    }

    proptest! {
        /// A key accepted for one instance is never accepted for another.
        #[test]
        fn an_accepted_key_belongs_to_one_instance(
            a in "[a-z][a-z0-9-]{0,8}",
            b in "[a-z][a-z0-9-]{0,8}",
            rest in "[a-z]{1,4}(/[a-z]{1,4}){0,2}",
        ) {
            prop_assume!(a != b);
            let p = SourceKeyPrefix::parse("{instance}/").unwrap();
            let key = format!("{a}/{rest}");
            prop_assert!(p.check("t", &a, [key.as_str()]).is_ok());
            prop_assert!(p.check("t", &b, [key.as_str()]).is_err());
        }
    }
}
