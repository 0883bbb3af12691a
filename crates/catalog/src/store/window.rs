//! The restore window kept in the service's row (`window_state`), as the
//! JSON of [`WindowState`].

use sqlx::AnyConnection;
use xregion_domain::chain::WindowState;

use super::query::{execute, fetch_value};
use crate::error::Result;

/// The stored state; `None` when there is none yet (a row from before
/// migration 2) or it cannot be read: the caller recomputes either way.
pub async fn get(conn: &mut AnyConnection, service_id: &str) -> Result<Option<WindowState>> {
    let query =
        sqlx::query("SELECT window_state FROM services WHERE service_id = $1").bind(service_id);
    let Some(json) = fetch_value::<Option<String>>(conn, query).await?.flatten() else {
        return Ok(None);
    };
    match serde_json::from_str(&json) {
        Ok(state) => Ok(Some(state)),
        Err(error) => {
            tracing::warn!(%service_id, %error, "stored restore window unreadable, recomputed");
            Ok(None)
        }
    }
}

pub async fn set(conn: &mut AnyConnection, service_id: &str, state: &WindowState) -> Result<()> {
    let json = serde_json::to_string(state)
        .map_err(|e| crate::error::CatalogError::Corrupt(format!("window state: {e}")))?;
    let query = sqlx::query("UPDATE services SET window_state = $1 WHERE service_id = $2")
        .bind(json)
        .bind(service_id);
    execute(conn, query).await?;
    Ok(())
}
