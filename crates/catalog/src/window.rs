//! A service's restore window after a copy was added or forgotten: extended
//! from the stored state when the domain says how
//! ([`xregion_domain::chain::extend_window`], the same cost however many
//! copies the service has), otherwise recomputed from every copy.

use sqlx::AnyConnection;
use xregion_domain::chain::{extend_window, window_state, ChainBackup, RestoreWindow};

use crate::error::Result;
use crate::store::services::ServiceRow;
use crate::store::{synced, window};

/// Updates the stored state once `added` is recorded (`None`: a copy was
/// forgotten, which always recomputes) and returns the window. The caller
/// holds the service's row lock and has written the copy's row.
pub(crate) async fn updated(
    conn: &mut AnyConnection,
    svc: &ServiceRow,
    added: Option<&ChainBackup>,
) -> Result<Option<RestoreWindow>> {
    let extended = match added {
        Some(backup) => window::get(conn, &svc.service_id)
            .await?
            .and_then(|state| extend_window(svc.engine, &state, backup)),
        None => None,
    };
    let how = if extended.is_some() {
        "extended"
    } else {
        "recomputed"
    };
    let state = match extended {
        Some(state) => state,
        None => {
            let all = synced::for_service(conn, &svc.service_id).await?;
            let chain: Vec<ChainBackup> = all.iter().map(|r| r.manifest.chain_backup()).collect();
            tracing::debug!(service_id = %svc.service_id, copies = chain.len(), "restore window recomputed from every copy");
            window_state(svc.engine, &chain)
        }
    };
    metrics::counter!(crate::metrics::WINDOW_UPDATES, "how" => how).increment(1);
    window::set(conn, &svc.service_id, &state).await?;
    Ok(state.window)
}
