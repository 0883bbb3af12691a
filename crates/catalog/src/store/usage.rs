//! Usage per service and UTC day, metered from the first copy on.

use sqlx::AnyConnection;

use super::query::{execute, fetch_all, fetch_value, from_columns};
use crate::error::Result;

pub fn utc_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

/// [`utc_day`] for a query bound: times outside years 0000-9999 clamp to
/// bounds that sort before or after every day, so a far-future `from`
/// selects nothing instead of everything.
pub fn day_bound(ms: i64) -> String {
    use chrono::Datelike;
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) if (0..=9999).contains(&t.year()) => t.format("%Y-%m-%d").to_string(),
        _ if ms > 0 => "9999-99-99".into(),
        _ => "0000-00-00".into(),
    }
}

/// A copy recorded or expired, in the row of the day of `at`: what it
/// transferred (nothing for an expiry) is added, and the service's stored
/// bytes set (the latest value written that day wins). Creates the day's
/// row when the day had none (a day with only expiries still stores
/// something). One statement, as a copy's transaction runs it every time.
pub async fn record_change(
    conn: &mut AnyConnection,
    service_id: &str,
    at: i64,
    transferred: Transferred,
    bytes_stored: i64,
) -> Result<()> {
    let query = sqlx::query(
        "INSERT INTO usage_days (service_id, day, bytes_transferred, objects_transferred, bytes_stored) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (service_id, day) DO UPDATE SET bytes_transferred = usage_days.bytes_transferred + $3, \
         objects_transferred = usage_days.objects_transferred + $4, bytes_stored = $5",
    )
    .bind(service_id)
    .bind(utc_day(at))
    .bind(transferred.bytes)
    .bind(transferred.objects)
    .bind(bytes_stored);
    execute(conn, query).await?;
    Ok(())
}

/// What one change of a service's copies moved across regions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transferred {
    pub bytes: i64,
    pub objects: i64,
}

/// The stored bytes at the end of the last recorded day before `day`
/// (0 when there is none): what a day without any row still stores.
pub async fn stored_before(conn: &mut AnyConnection, service_id: &str, day: &str) -> Result<i64> {
    let query = sqlx::query(
        "SELECT bytes_stored FROM usage_days WHERE service_id = $1 AND day < $2 \
         ORDER BY day DESC LIMIT 1",
    )
    .bind(service_id)
    .bind(day);
    Ok(fetch_value::<i64>(conn, query).await?.unwrap_or(0))
}

/// Every day from `first` to `last` (inclusive, `YYYY-MM-DD`): recorded days
/// as they are, days without a row with no transfer and the stored bytes of
/// the day before (`carried` before the first row). Days before the first
/// recorded one are left out (nothing was stored yet).
pub fn fill_days(rows: &[UsageRow], carried: i64, first: &str, last: &str) -> Vec<UsageRow> {
    use chrono::NaiveDate;
    let parse = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    let start = match (parse(first), rows.first().and_then(|r| parse(&r.day))) {
        (Some(f), _) if carried > 0 => Some(f),
        (Some(f), Some(r)) => Some(f.max(r)),
        (None, r) => r,
        (Some(_), None) => None,
    };
    let (Some(mut day), Some(end)) = (start, parse(last)) else {
        return rows.to_vec();
    };
    let mut out = Vec::new();
    let mut stored = carried;
    let mut next = rows.iter().peekable();
    while day <= end {
        let name = day.format("%Y-%m-%d").to_string();
        match next.next_if(|r| r.day == name) {
            Some(r) => {
                stored = r.bytes_stored;
                out.push(r.clone());
            }
            None => out.push(UsageRow {
                day: name,
                bytes_transferred: 0,
                objects_transferred: 0,
                bytes_stored: stored,
            }),
        }
        let Some(following) = day.succ_opt() else {
            break;
        };
        day = following;
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub day: String,
    pub bytes_transferred: i64,
    pub objects_transferred: i64,
    pub bytes_stored: i64,
}

from_columns!(UsageRow {
    day,
    bytes_transferred,
    objects_transferred,
    bytes_stored
});

pub async fn days(
    conn: &mut AnyConnection,
    service_id: &str,
    from_day: &str,
    to_day: &str,
) -> Result<Vec<UsageRow>> {
    let query = sqlx::query(
        "SELECT day, bytes_transferred, objects_transferred, bytes_stored FROM usage_days \
         WHERE service_id = $1 AND day >= $2 AND day <= $3 ORDER BY day",
    )
    .bind(service_id)
    .bind(from_day)
    .bind(to_day);
    fetch_all(conn, query).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc() {
        assert_eq!(super::utc_day(0), "1970-01-01");
        assert_eq!(super::utc_day(1_700_000_000_000), "2023-11-14");
    }

    fn row(day: &str, transferred: i64, stored: i64) -> UsageRow {
        UsageRow {
            day: day.into(),
            bytes_transferred: transferred,
            objects_transferred: i64::from(transferred > 0),
            bytes_stored: stored,
        }
    }

    #[test]
    fn query_bounds_clamp_outside_four_digit_years() {
        assert_eq!(day_bound(1_700_000_000_000), "2023-11-14");
        assert_eq!(day_bound(i64::MAX), "9999-99-99");
        assert_eq!(day_bound(300_000_000_000_000), "9999-99-99");
        assert_eq!(day_bound(i64::MIN), "0000-00-00");
        assert_eq!(day_bound(-70_000_000_000_000), "0000-00-00");
    }

    #[test]
    fn days_without_rows_keep_the_stored_bytes() {
        let rows = [row("2026-01-02", 10, 10), row("2026-01-05", 0, 4)];
        let filled = fill_days(&rows, 0, "2026-01-01", "2026-01-06");
        assert_eq!(
            filled,
            [
                row("2026-01-02", 10, 10),
                row("2026-01-03", 0, 10),
                row("2026-01-04", 0, 10),
                row("2026-01-05", 0, 4),
                row("2026-01-06", 0, 4),
            ]
        );
        // Stored bytes carried in from before the range.
        let filled = fill_days(&rows[1..], 10, "2026-01-04", "2026-01-05");
        assert_eq!(filled, [row("2026-01-04", 0, 10), row("2026-01-05", 0, 4)]);
        assert!(fill_days(&[], 0, "2026-01-01", "2026-01-09").is_empty());
    }
}
