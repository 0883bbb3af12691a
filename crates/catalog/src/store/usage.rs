//! Usage per service and UTC day, metered from the first copy on.

use sqlx::AnyConnection;

use crate::error::Result;

pub fn utc_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

pub async fn add_transfer(
    conn: &mut AnyConnection,
    service_id: &str,
    at: i64,
    bytes: i64,
    objects: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO usage_days (service_id, day, bytes_transferred, objects_transferred) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (service_id, day) DO UPDATE SET bytes_transferred = usage_days.bytes_transferred + $3, \
         objects_transferred = usage_days.objects_transferred + $4",
    )
    .bind(service_id)
    .bind(utc_day(at))
    .bind(bytes)
    .bind(objects)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_utc() {
        assert_eq!(super::utc_day(0), "1970-01-01");
        assert_eq!(super::utc_day(1_700_000_000_000), "2023-11-14");
    }
}

/// The service's stored bytes at the end of the day of `at` (the latest
/// value written that day wins).
pub async fn set_stored(
    conn: &mut AnyConnection,
    service_id: &str,
    at: i64,
    bytes_stored: i64,
) -> Result<()> {
    sqlx::query("UPDATE usage_days SET bytes_stored = $1 WHERE service_id = $2 AND day = $3")
        .bind(bytes_stored)
        .bind(service_id)
        .bind(utc_day(at))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub day: String,
    pub bytes_transferred: i64,
    pub objects_transferred: i64,
    pub bytes_stored: i64,
}

pub async fn days(
    conn: &mut AnyConnection,
    service_id: &str,
    from_day: &str,
    to_day: &str,
) -> Result<Vec<UsageRow>> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT day, bytes_transferred, objects_transferred, bytes_stored FROM usage_days \
         WHERE service_id = $1 AND day >= $2 AND day <= $3 ORDER BY day",
    )
    .bind(service_id)
    .bind(from_day)
    .bind(to_day)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UsageRow {
                day: r.try_get("day")?,
                bytes_transferred: r.try_get("bytes_transferred")?,
                objects_transferred: r.try_get("objects_transferred")?,
                bytes_stored: r.try_get("bytes_stored")?,
            })
        })
        .collect()
}
