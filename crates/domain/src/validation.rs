//! Validation of a create request, independent of transport.

use crate::engine::Engine;
use crate::error::{DomainError, Result};
use crate::ids::validate_id;

pub const DEFAULT_RETENTION_DAYS: u32 = 7;
pub const MAX_RETENTION_DAYS: u32 = 1825;
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateServiceInput<'a> {
    pub engine: Option<Engine>,
    pub source_region: &'a str,
    pub source_instance_id: &'a str,
    pub target_region: &'a str,
    pub retention_days: Option<u32>,
    pub request_id: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCreate {
    pub engine: Engine,
    pub retention_days: u32,
}

/// Checks every field; `region_exists` says whether a region is configured.
pub fn validate_create(
    input: &CreateServiceInput<'_>,
    region_exists: impl Fn(&str) -> bool,
) -> Result<ValidCreate> {
    let engine = input
        .engine
        .ok_or_else(|| DomainError::invalid("engine", "must be MYSQL or SQLSERVER"))?;
    validate_id("source_region", input.source_region)?;
    validate_id("target_region", input.target_region)?;
    validate_id("source_instance_id", input.source_instance_id)?;
    if !input.request_id.is_empty() {
        validate_id("request_id", input.request_id)?;
    }
    if !region_exists(input.source_region) {
        return Err(DomainError::invalid(
            "source_region",
            format!("region {:?} is not configured", input.source_region),
        ));
    }
    if !region_exists(input.target_region) {
        return Err(DomainError::invalid(
            "target_region",
            format!("region {:?} is not configured", input.target_region),
        ));
    }
    if input.source_region == input.target_region {
        return Err(DomainError::invalid(
            "target_region",
            "must differ from source_region",
        ));
    }
    let retention_days = validate_retention(input.retention_days)?;
    Ok(ValidCreate {
        engine,
        retention_days,
    })
}

pub fn validate_retention(days: Option<u32>) -> Result<u32> {
    match days {
        None => Ok(DEFAULT_RETENTION_DAYS),
        Some(d) if (1..=MAX_RETENTION_DAYS).contains(&d) => Ok(d),
        Some(d) => Err(DomainError::invalid(
            "retention_days",
            format!("{d} is outside 1..={MAX_RETENTION_DAYS}"),
        )),
    }
}

/// 0 means the default; above the maximum means the maximum (AIP-158: a
/// page may hold fewer items than asked for, and the token leads on).
pub fn page_size(size: u32) -> u32 {
    match size {
        0 => DEFAULT_PAGE_SIZE,
        s => s.min(MAX_PAGE_SIZE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> CreateServiceInput<'static> {
        CreateServiceInput {
            engine: Some(Engine::Mysql),
            source_region: "r1",
            source_instance_id: "i1",
            target_region: "r2",
            retention_days: None,
            request_id: "",
        }
    }

    fn regions(r: &str) -> bool {
        matches!(r, "r1" | "r2" | "r3")
    }

    fn field_of(err: DomainError) -> &'static str {
        match err {
            DomainError::InvalidArgument { field, .. } => field,
        }
    }

    #[test]
    fn defaults_retention_to_seven_days() {
        assert_eq!(
            validate_create(&input(), regions).unwrap().retention_days,
            7
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(CreateServiceInput<'static>, &str)> = vec![
            (
                CreateServiceInput {
                    engine: None,
                    ..input()
                },
                "engine",
            ),
            (
                CreateServiceInput {
                    source_region: "nope",
                    ..input()
                },
                "source_region",
            ),
            (
                CreateServiceInput {
                    target_region: "nope",
                    ..input()
                },
                "target_region",
            ),
            (
                CreateServiceInput {
                    target_region: "r1",
                    ..input()
                },
                "target_region",
            ),
            (
                CreateServiceInput {
                    source_instance_id: "../x",
                    ..input()
                },
                "source_instance_id",
            ),
            (
                CreateServiceInput {
                    retention_days: Some(0),
                    ..input()
                },
                "retention_days",
            ),
            (
                CreateServiceInput {
                    retention_days: Some(1826),
                    ..input()
                },
                "retention_days",
            ),
            (
                CreateServiceInput {
                    request_id: "a b",
                    ..input()
                },
                "request_id",
            ),
        ];
        for (case, field) in cases {
            assert_eq!(
                field_of(validate_create(&case, regions).unwrap_err()),
                field
            );
        }
    }

    #[test]
    fn page_sizes_default_and_clamp() {
        assert_eq!(page_size(0), 100);
        assert_eq!(page_size(7), 7);
        assert_eq!(page_size(1000), 1000);
        assert_eq!(page_size(1001), 1000);
        assert_eq!(page_size(u32::MAX), 1000);
    }
}
