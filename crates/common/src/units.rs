//! Typed durations and sizes behind the integer keys configurations have
//! always used (`*_secs`, `*_ms`, `*_hours`, `*_days`, `*_mib`): the key
//! names and the accepted values stay, the Rust side gets `Duration` and
//! [`ByteSize`]. Use with `#[serde(rename = "<key>", with = "units::secs")]`.
//! Serialising writes the same integers back, so `--dump-config` output
//! loads again.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A size in bytes. Configured in whole MiB (`*_mib` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(u64);

impl ByteSize {
    pub const MIB: u64 = 1024 * 1024;

    pub const fn from_bytes(bytes: u64) -> Self {
        Self(bytes)
    }

    pub const fn from_mib(mib: u64) -> Self {
        Self(mib.saturating_mul(Self::MIB))
    }

    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// The size as a `usize` (saturating on 32-bit targets), for buffers.
    pub fn bytes_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }

    /// Whole MiB, rounded down.
    pub const fn mib(self) -> u64 {
        self.0 / Self::MIB
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.checked_rem(Self::MIB) == Some(0) {
            write!(f, "{} MiB", self.mib())
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// A non-zero literal for defaults; inside `const { }` a zero does not compile.
pub const fn non_zero_usize(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => panic!("zero is not a non-zero default"),
    }
}

/// A non-zero literal for defaults; inside `const { }` a zero does not compile.
pub const fn non_zero_u32(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("zero is not a non-zero default"),
    }
}

/// Whole seconds as the `i64` the wire and the catalog use (saturating).
pub fn secs_i64(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Milliseconds as the `i64` timestamps are compared with (saturating).
pub fn millis_i64(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// An integer count of `unit_secs`-second units; too large is an error, not
/// a silent wrap.
fn from_units<'de, D: Deserializer<'de>>(d: D, unit_secs: u64) -> Result<Duration, D::Error> {
    let n = u64::deserialize(d)?;
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| de::Error::custom(format!("{n} is too large")))
}

/// `*_secs` keys: whole seconds.
pub mod secs {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        from_units(d, 1)
    }
}

/// `*_ms` keys: milliseconds.
pub mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// `*_ms` keys holding a list of delays.
pub mod millis_list {
    use super::*;

    pub fn serialize<S: Serializer>(list: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        list.iter()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Ok(Vec::<u64>::deserialize(d)?
            .into_iter()
            .map(Duration::from_millis)
            .collect())
    }
}

/// `*_hours` keys: whole hours.
pub mod hours {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs() / 3600)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        from_units(d, 3600)
    }
}

/// `*_days` keys: whole days.
pub mod days {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs() / 86_400)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        from_units(d, 86_400)
    }
}

/// `*_mib` keys: whole MiB.
pub mod mib {
    use super::*;

    pub fn serialize<S: Serializer>(size: &ByteSize, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(size.mib())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        let n = u64::deserialize(d)?;
        n.checked_mul(ByteSize::MIB)
            .map(ByteSize::from_bytes)
            .ok_or_else(|| de::Error::custom(format!("{n} MiB is too large")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(rename = "wait_secs", with = "secs")]
        wait: Duration,
        #[serde(rename = "tick_ms", with = "millis")]
        tick: Duration,
        #[serde(rename = "backoff_ms", with = "millis_list")]
        backoff: Vec<Duration>,
        #[serde(rename = "grace_hours", with = "hours")]
        grace: Duration,
        #[serde(rename = "age_days", with = "days")]
        age: Duration,
        #[serde(rename = "part_mib", with = "mib")]
        part: ByteSize,
    }

    const TEXT: &str = "wait_secs = 30\ntick_ms = 250\nbackoff_ms = [500, 2000]\n\
                        grace_hours = 24\nage_days = 30\npart_mib = 8\n";

    #[test]
    fn integer_keys_become_typed_values() {
        let s: Sample = toml::from_str(TEXT).unwrap();
        assert_eq!(s.wait, Duration::from_secs(30));
        assert_eq!(s.tick, Duration::from_millis(250));
        assert_eq!(
            s.backoff,
            [Duration::from_millis(500), Duration::from_secs(2)]
        );
        assert_eq!(s.grace, Duration::from_secs(24 * 3600));
        assert_eq!(s.age, Duration::from_secs(30 * 86_400));
        assert_eq!(s.part.bytes(), 8 * 1024 * 1024);
    }

    #[test]
    fn typed_values_write_the_same_integers_back() {
        let s: Sample = toml::from_str(TEXT).unwrap();
        let text = toml::to_string(&s).unwrap();
        assert_eq!(toml::from_str::<Sample>(&text).unwrap(), s);
        assert!(text.contains("grace_hours = 24"), "{text}");
        assert!(text.contains("part_mib = 8"), "{text}");
    }

    #[test]
    fn overflowing_and_negative_values_are_errors() {
        let huge = TEXT.replace("grace_hours = 24", &format!("grace_hours = {}", u64::MAX));
        let err = toml::from_str::<Sample>(&huge).unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
        let negative = TEXT.replace("wait_secs = 30", "wait_secs = -1");
        assert!(toml::from_str::<Sample>(&negative).is_err());
    }

    #[test]
    fn byte_sizes_show_in_mib_when_whole() {
        assert_eq!(ByteSize::from_mib(5).to_string(), "5 MiB");
        assert_eq!(ByteSize::from_bytes(10).to_string(), "10 bytes");
        assert_eq!(ByteSize::from_mib(5).bytes_usize(), 5 * 1024 * 1024);
        assert_eq!(secs_i64(Duration::from_secs(7)), 7);
        assert_eq!(millis_i64(Duration::from_secs(7)), 7000);
        assert_eq!(const { non_zero_usize(3) }.get(), 3);
    }
}
