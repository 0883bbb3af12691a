//! Unix milliseconds to a UTC calendar date and time of day, without a date
//! library: the one conversion behind every text that names a time (RFC 3339
//! in messages, T-SQL `STOPAT`).

/// A UTC date (proleptic Gregorian) and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcParts {
    pub year: i64,
    /// 1..=12
    pub month: i64,
    /// 1..=31
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub milli: i64,
}

/// The UTC date and time of unix `ms`; any `i64`, before 1970 included,
/// without overflow.
pub fn utc_parts(ms: i64) -> UtcParts {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days since 1970-01-01 to a civil date (H. Hinnant's civil_from_days).
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = (yoe + era * 400).saturating_add(i64::from(month <= 2));
    UtcParts {
        year,
        month,
        day,
        hour: rest / 3_600_000,
        minute: rest / 60_000 % 60,
        second: rest / 1000 % 60,
        milli: rest % 1000,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_days() {
        let p = utc_parts(951_782_400_001);
        assert_eq!(
            (p.year, p.month, p.day, p.hour, p.minute, p.second, p.milli),
            (2000, 2, 29, 0, 0, 0, 1)
        );
        let p = utc_parts(-1);
        assert_eq!(
            (p.year, p.month, p.day, p.hour, p.minute, p.second, p.milli),
            (1969, 12, 31, 23, 59, 59, 999)
        );
    }

    proptest! {
        #[test]
        fn parts_are_in_range_and_the_next_day_follows(ms in any::<i64>()) {
            let p = utc_parts(ms);
            prop_assert!((1..=12).contains(&p.month));
            prop_assert!((1..=31).contains(&p.day));
            prop_assert!((0..24).contains(&p.hour));
            prop_assert!((0..60).contains(&p.minute) && (0..60).contains(&p.second));
            prop_assert!((0..1000).contains(&p.milli));
            if let Some(next) = ms.checked_add(86_400_000) {
                let n = utc_parts(next);
                let rolled = (n.year, n.month, n.day) == (p.year, p.month, p.day + 1)
                    || (n.day == 1 && (n.month == p.month + 1 && n.year == p.year
                        || n.month == 1 && p.month == 12 && n.year == p.year + 1));
                prop_assert!(rolled, "{p:?} then {n:?}");
            }
        }
    }
}
