//! `xregion drill`: a disaster-recovery drill. Restores the instance from the
//! target store alone into a throwaway MariaDB server, checks that it
//! answers and what it holds, reports whether it worked and how long it
//! took, and removes the server. Nobody trusts a backup never restored.

use std::time::{Duration, Instant};

use serde::Serialize;
use xregion_domain::BackupFormat;

use crate::mariadb_physical;
use crate::mariadb_server::{self, private_dir, Server};
use crate::render::{self, say, Output};
use crate::restore::{self, PlanJson, RestoreArgs, TargetArgs};

/// Restores the downloaded plan into a server of its own below `dir`: a
/// physical FULL becomes the server's datadir, an SQL dump is loaded into
/// a new one. Returns the server and how long it took to start.
fn restore_into_server(
    plan: &PlanJson,
    dir: &std::path::Path,
    files: &std::path::Path,
) -> anyhow::Result<(Server, Duration)> {
    let datadir = dir.join("data");
    if plan.full_format == BackupFormat::Xbstream {
        let (server, timings) = mariadb_physical::restore_running(plan, &datadir, files)?;
        eprintln!("physical restore: {timings}");
        return Ok((server, timings.start));
    }
    mariadb_server::install(&datadir)?;
    let step = Instant::now();
    let server = Server::start(&datadir, dir)?;
    let ready = step.elapsed();
    restore::apply_to_mariadb(plan, &server.login)?;
    Ok((server, ready))
}

/// What monitoring reads (`--output json`): one object.
#[derive(Debug, Serialize)]
struct DrillReport {
    success: bool,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_start_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tables: Option<u64>,
    /// The point restored (the plan's stop), RFC 3339 and unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    restored_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restored_to_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn run(target: TargetArgs, out: Output) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = private_dir(&std::env::temp_dir(), "xregion-drill")?;
    let outcome = async {
        let files = dir.join("files");
        // Download only; what follows depends on the FULL's format.
        let restored_to = restore::run(RestoreArgs {
            target,
            into: files.clone(),
            mariadb_socket: None,
            mariadb_datadir: None,
            database: None,
        })
        .await?;
        let plan: PlanJson = serde_json::from_slice(&std::fs::read(files.join("plan.json"))?)?;
        let (server, server_ready) = restore_into_server(&plan, &dir, &files)?;
        let tables: u64 = server.query(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema NOT IN ('mysql','information_schema','performance_schema','sys')",
        )?
        .parse()
        .unwrap_or(0);
        // The restore time ends when the database answers: stopping the
        // server and removing the copy is no part of it.
        let answered = started.elapsed();
        anyhow::Ok((server_ready, tables, restored_to, answered))
    }
    .await;
    let seconds = match &outcome {
        Ok((.., answered)) => answered.as_secs_f64(),
        Err(_) => started.elapsed().as_secs_f64(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let report = match &outcome {
        Ok((ready, tables, restored_to, _)) => DrillReport {
            success: true,
            seconds,
            server_start_seconds: Some(ready.as_secs_f64()),
            tables: Some(*tables),
            restored_to: chrono::DateTime::from_timestamp_millis(*restored_to)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            restored_to_ms: Some(*restored_to),
            error: None,
        },
        Err(e) => DrillReport {
            success: false,
            seconds,
            server_start_seconds: None,
            tables: None,
            restored_to: None,
            restored_to_ms: None,
            error: Some(capped(&format!("{e:#}"))),
        },
    };
    match (out, &report.tables) {
        (Output::Json, _) => render::json_line(&report),
        (Output::Table, Some(tables)) => {
            say!("drill succeeded in {seconds:.1} s: the database answered with {tables} tables")
        }
        (Output::Table, None) => say!(
            "drill FAILED after {seconds:.1} s: {}",
            report.error.as_deref().unwrap_or_default()
        ),
    }
    outcome.map(|_| ())
}

/// A drill's error is kept to this many characters (the catalog keeps no
/// more): a tool's endless output must not hide the report's last line.
const MAX_ERROR_CHARS: usize = 1000;

fn capped(error: &str) -> String {
    crate::mariadb_physical::cap(error, MAX_ERROR_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_error_is_capped() {
        assert_eq!(capped("short"), "short");
        let long = "é".repeat(5000);
        assert_eq!(capped(&long).chars().count(), MAX_ERROR_CHARS + 1);
    }
}
