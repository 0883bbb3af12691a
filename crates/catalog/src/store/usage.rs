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
