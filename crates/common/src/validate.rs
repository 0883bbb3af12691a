//! Limits of a configuration, checked once when it is loaded, so a bad value
//! stops the service at start with the key named instead of being clamped
//! somewhere deep in a service.

use std::time::Duration;

use crate::units::ByteSize;

/// A value outside its limits, named by its key path (`worker.part_size_mib`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{key}` {reason}")]
pub struct Invalid {
    pub key: String,
    pub reason: String,
}

impl Invalid {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Implemented by every configuration the loader reads; `load` calls it.
/// What the types already guarantee (`NonZero*`, unsigned) needs no check.
pub trait Validate {
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }
}

/// `d` must not be zero (an interval or timeout of zero spins or fails at once).
pub fn positive(key: &str, d: Duration) -> Result<(), Invalid> {
    if d.is_zero() {
        return Err(Invalid::new(key, "must be greater than 0"));
    }
    Ok(())
}

/// `d` must be at least `min`; `shown` is `min` as the key counts it (`"3 s"`).
pub fn at_least(key: &str, d: Duration, min: Duration, shown: &str) -> Result<(), Invalid> {
    if d < min {
        return Err(Invalid::new(key, format!("must be at least {shown}")));
    }
    Ok(())
}

/// `d` must be at most `max`; `shown` is `max` as the key counts it.
pub fn at_most(key: &str, d: Duration, max: Duration, shown: &str) -> Result<(), Invalid> {
    if d > max {
        return Err(Invalid::new(key, format!("must be at most {shown}")));
    }
    Ok(())
}

/// `size` must be at least `min`.
pub fn size_at_least(key: &str, size: ByteSize, min: ByteSize) -> Result<(), Invalid> {
    if size < min {
        return Err(Invalid::new(
            key,
            format!("must be at least {min}, got {size}"),
        ));
    }
    Ok(())
}

/// `share` must be a fraction in `0..=1`.
pub fn share(key: &str, share: f64) -> Result<(), Invalid> {
    if !(0.0..=1.0).contains(&share) {
        return Err(Invalid::new(
            key,
            format!("must be between 0 and 1, got {share}"),
        ));
    }
    Ok(())
}

/// `value` must be a finite amount that is not negative (prices).
pub fn non_negative(key: &str, value: f64) -> Result<(), Invalid> {
    if !value.is_finite() || value < 0.0 {
        return Err(Invalid::new(key, format!("must be 0 or more, got {value}")));
    }
    Ok(())
}

/// `value` must be one of `allowed`.
pub fn one_of(key: &str, value: &str, allowed: &[&str]) -> Result<(), Invalid> {
    if !allowed.contains(&value) {
        return Err(Invalid::new(
            key,
            format!("must be one of {}, got {value:?}", allowed.join(", ")),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_check_names_the_key() {
        let zero = positive("watcher.reconcile_interval_secs", Duration::ZERO).unwrap_err();
        assert_eq!(
            zero.to_string(),
            "`watcher.reconcile_interval_secs` must be greater than 0"
        );
        assert!(positive("k", Duration::from_millis(1)).is_ok());
        let short = at_least(
            "w.ack",
            Duration::from_secs(2),
            Duration::from_secs(3),
            "3 s",
        );
        assert_eq!(
            short.unwrap_err().to_string(),
            "`w.ack` must be at least 3 s"
        );
        let small = size_at_least("w.part", ByteSize::from_mib(4), ByteSize::from_mib(5));
        assert!(small
            .unwrap_err()
            .to_string()
            .contains("at least 5 MiB, got 4 MiB"));
        assert!(share("c.share", 1.0).is_ok() && share("c.share", 0.0).is_ok());
        assert!(share("c.share", 1.5).is_err() && share("c.share", f64::NAN).is_err());
        assert!(non_negative("p", 0.0).is_ok() && non_negative("p", -0.1).is_err());
        assert!(non_negative("p", f64::INFINITY).is_err());
        let other = one_of("t.format", "xml", &["human", "json"]).unwrap_err();
        assert!(other.to_string().contains("human, json"), "{other}");
    }
}
