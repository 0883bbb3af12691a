//! `xregion watch`: live progress and events. For people, progress bars
//! and a line per event; for scripts (`-o json`), one JSON object per line
//! (NDJSON). When the gateway goes away (UNAVAILABLE, or the stream ends)
//! the watch connects again and resumes after the last event it showed, so
//! no event is lost or shown twice; progress in between is not replayed.

use std::io::IsTerminal as _;
use std::time::Duration;

use futures::StreamExt;
use xregion_proto::xregion::v1 as pb;
use xregion_proto::WATCH_CURSOR_HEADER;

use crate::api::Api;
use crate::exit::CliError;
use crate::render::{self, say, Output};

use super::watch_bars::TtyBars;
use super::watch_view::{Bars, WatchLine};

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// One service; all of yours when left out.
    pub id: Option<String>,
    /// Replay every event after this cursor (a `cursor` a watch printed
    /// with `-o json`), then go on live.
    #[arg(long, value_name = "CURSOR")]
    pub resume_after: Option<String>,
}

/// Waits between attempts to reconnect: doubling up to the cap.
const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(5);

pub async fn watch(mut api: Api, args: WatchArgs, out: Output) -> anyhow::Result<()> {
    let what = args.id.clone().unwrap_or_else(|| "all".into());
    let mut cursor = args.resume_after.unwrap_or_default();
    let mut bars = Bars::default();
    // indicatif bars only for a person at a terminal; otherwise the plain
    // lines, byte for byte as before.
    let mut tty =
        (matches!(out, Output::Table) && std::io::stdout().is_terminal()).then(TtyBars::new);
    let mut connected_once = false;
    let mut retry = FIRST_RETRY;
    loop {
        let req = pb::WatchSyncServiceRequest {
            service_id: args.id.clone().unwrap_or_default(),
            resume_after: cursor.clone(),
        };
        let mut stream = match api.watch_sync_service(req).await.map_err(CliError::from) {
            Ok(response) => {
                // Where the watch starts, until an event says more.
                if let Some(start) = response.metadata().get(WATCH_CURSOR_HEADER) {
                    cursor = start.to_str().unwrap_or_default().to_string();
                }
                response.into_inner()
            }
            // The first call's failures are the caller's to see; later the
            // gateway may be restarting, which shows as UNAVAILABLE or as a
            // transport error (UNKNOWN) while its port comes back.
            Err(e) if connected_once && broken(&e) => {
                eprintln!("watch: {e}; retrying in {retry:?}");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(MAX_RETRY);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        retry = FIRST_RETRY;
        // Printed once the server follows the events: every later one is shown.
        if !connected_once {
            match out {
                Output::Json => render::json_line(&WatchLine::Watching(what.clone())),
                Output::Table => say!("watching {what} (Ctrl-C to stop)"),
            }
        } else {
            eprintln!("watch: reconnected after {}", shown(&cursor));
        }
        connected_once = true;
        let ended = loop {
            let event = match stream.next().await {
                Some(Ok(e)) => e,
                Some(Err(status)) => break CliError::from(status),
                None => break CliError::from(tonic::Status::unavailable("stream ended")),
            };
            if let Some(e) = event.event {
                match out {
                    Output::Json => render::json_line(&WatchLine::json(e, &event.cursor)),
                    Output::Table => match tty.as_mut() {
                        Some(tty) => tty.show(e),
                        None => bars.show(e),
                    },
                }
            }
            if !event.cursor.is_empty() {
                cursor = event.cursor;
            }
        };
        if !broken(&ended) {
            return Err(ended.into());
        }
        eprintln!("watch: {ended}; reconnecting");
    }
}

/// Whether a stream that was flowing ended by the connection's fault (a
/// gateway killed mid-stream shows as UNKNOWN or INTERNAL h2 errors), not
/// by an answer about the request, which connecting again would repeat.
fn broken(e: &CliError) -> bool {
    use crate::exit::ExitClass;
    match e {
        CliError::Api(s) => {
            s.code() != tonic::Code::Unimplemented
                && !matches!(
                    ExitClass::of_code(s.code()),
                    ExitClass::NotFound | ExitClass::Invalid | ExitClass::Denied
                )
        }
        CliError::Timeout(_) => false,
    }
}

fn shown(cursor: &str) -> &str {
    if cursor.is_empty() {
        "a gateway that sent no cursor"
    } else {
        cursor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_connection_is_retried_and_an_answer_about_the_request_is_not() {
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::Unknown,
            tonic::Code::Internal,
        ] {
            assert!(
                broken(&CliError::Api(tonic::Status::new(code, "h2"))),
                "{code:?}"
            );
        }
        for code in [
            tonic::Code::InvalidArgument,
            tonic::Code::FailedPrecondition,
            tonic::Code::Unauthenticated,
            tonic::Code::NotFound,
        ] {
            assert!(
                !broken(&CliError::Api(tonic::Status::new(code, "no"))),
                "{code:?}"
            );
        }
    }
}
