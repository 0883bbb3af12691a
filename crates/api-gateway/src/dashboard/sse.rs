//! The live feed: the gateway's watch (the tenant's progress, state, synced
//! and failed events) as `text/event-stream`. The page reads it with
//! `fetch()` so the token travels in the `Authorization` header: an
//! `EventSource` cannot set headers, and a token in a URL ends up in logs
//! and history.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{stream, StreamExt};
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::cross_region_backup_service_server::CrossRegionBackupService;

use super::{grpc, json, ApiError, Dashboard};

/// Proxies and load balancers drop a silent connection; a comment line
/// this often keeps it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn events(State(d): State<Dashboard>, headers: HeaderMap) -> Result<Response, ApiError> {
    // Authenticated and subscribed before the first byte: a bad token is a
    // 401, not a stream that ends at once.
    let request = grpc(&headers, pb::WatchSyncServiceRequest::default());
    let watch = d.gateway.watch_sync_service(request).await?.into_inner();
    // "ready" says the subscription is in place: what happens from now on
    // reaches the page.
    let ready = stream::once(async { Event::default().event("ready").data("{}") });
    let live = watch
        .take_while(|item| std::future::ready(item.is_ok()))
        .filter_map(|item| async move {
            let (name, data) = json::event(&item.ok()?)?;
            Some(Event::default().event(name).data(data.to_string()))
        });
    let stop = d.stop.clone();
    let feed = ready
        .chain(live)
        .take_until(async move { stop.cancelled().await })
        .map(Ok::<_, Infallible>);
    Ok(Sse::new(feed)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}
