//! `xregion admin bandwidth`: the bandwidth limits of region pairs, which
//! every transfer-worker of the deployment follows at runtime (the LIMITS
//! key-value bucket; a value changed here is in force within a second,
//! without a restart, and wins over the configuration file).

use clap::Subcommand;
use futures::StreamExt;
use serde::Serialize;
use xregion_bus::async_nats::jetstream::{self, kv};
use xregion_bus::Namespace;

use crate::render::{self, say, Output, Row};

#[derive(Subcommand)]
pub enum BandwidthCommand {
    /// Every limit in force: source and target region, lane, bytes per second.
    List,
    /// Limits a region pair's FULL lane (or, with --log, its LOG lane).
    Set {
        #[command(flatten)]
        pair: Pair,
        /// Bytes per second, which each worker applies to its own copies of
        /// the pair (not yet shared across workers).
        #[arg(value_parser = clap::value_parser!(u64).range(1..))]
        bytes_per_sec: u64,
    },
    /// Lifts a region pair's limit on the FULL lane (or, with --log, the LOG lane).
    Lift {
        #[command(flatten)]
        pair: Pair,
    },
}

#[derive(clap::Args)]
pub struct Pair {
    /// Source region id.
    #[arg(long, value_parser = region_id)]
    source: String,
    /// Target region id.
    #[arg(long, value_parser = region_id)]
    target: String,
    /// The LOG lane instead of the FULL lane.
    #[arg(long)]
    log: bool,
}

impl Pair {
    fn key(&self) -> String {
        Namespace::bandwidth_key(&self.source, &self.target, self.log)
    }
}

/// A region id becomes part of a key: no dots, wildcards or spaces.
fn region_id(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| s.to_string())
        .ok_or_else(|| format!("{s:?} is not a region id (letters, digits, - and _)"))
}

#[derive(Debug, Serialize, PartialEq, Eq)]
struct LimitRow {
    source: String,
    target: String,
    lane: &'static str,
    bytes_per_sec: u64,
}

impl LimitRow {
    /// `bw.<source>.<target>[.log]` and its value; anything else is not a
    /// limit this version knows.
    fn parse(key: &str, value: &[u8]) -> Option<Self> {
        let mut parts = key.strip_prefix("bw.")?.split('.');
        let (source, target) = (parts.next()?, parts.next()?);
        let lane = match parts.next() {
            None => "full",
            Some("log") => "log",
            Some(_) => return None,
        };
        let bytes_per_sec = std::str::from_utf8(value).ok()?.trim().parse().ok()?;
        (parts.next().is_none() && bytes_per_sec > 0).then(|| LimitRow {
            source: source.into(),
            target: target.into(),
            lane,
            bytes_per_sec,
        })
    }
}

impl Row for LimitRow {
    const HEADERS: &'static [&'static str] = &["SOURCE", "TARGET", "LANE", "BYTES/S"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.source.clone(),
            self.target.clone(),
            self.lane.into(),
            self.bytes_per_sec.to_string(),
        ]
    }
}

pub async fn run(
    js: &jetstream::Context,
    ns: &Namespace,
    command: BandwidthCommand,
    out: Output,
) -> anyhow::Result<()> {
    let bucket = ns.limits_bucket();
    // The workers create the bucket; without one no worker has started.
    let limits = js.get_key_value(&bucket).await.map_err(|e| {
        anyhow::anyhow!("no bandwidth limits bucket {bucket} (has a transfer-worker started?): {e}")
    });
    match command {
        BandwidthCommand::List => {
            let rows = match limits {
                Ok(kv) => list(&kv).await?,
                Err(_) => Vec::new(),
            };
            render::list(&rows, out);
        }
        BandwidthCommand::Set {
            pair,
            bytes_per_sec,
        } => {
            limits?
                .put(pair.key(), bytes_per_sec.to_string().into())
                .await?;
            say!("{} → {}: {bytes_per_sec} bytes/s", pair.source, pair.target);
        }
        BandwidthCommand::Lift { pair } => {
            limits?.delete(pair.key()).await?;
            say!("{} → {}: unlimited", pair.source, pair.target);
        }
    }
    Ok(())
}

async fn list(kv: &kv::Store) -> anyhow::Result<Vec<LimitRow>> {
    let mut rows = Vec::new();
    let mut keys = kv.keys().await?;
    while let Some(key) = keys.next().await {
        let key = key?;
        if let Some(value) = kv.get(&key).await? {
            rows.extend(LimitRow::parse(&key, &value));
        }
    }
    rows.sort_by(|a, b| (&a.source, &a.target, a.lane).cmp(&(&b.source, &b.target, b.lane)));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_as_limits_and_others_are_skipped() {
        let full = LimitRow::parse("bw.r1.r2", b"1000");
        assert_eq!(
            full,
            Some(LimitRow {
                source: "r1".into(),
                target: "r2".into(),
                lane: "full",
                bytes_per_sec: 1000
            })
        );
        assert_eq!(
            LimitRow::parse("bw.r1.r2.log", b" 5 ").map(|r| r.lane),
            Some("log")
        );
        for (key, value) in [
            ("bw.r1.r2", &b"fast"[..]),
            ("bw.r1.r2", b"0"),
            ("bw.r1", b"10"),
            ("bw.r1.r2.x", b"10"),
            ("bw.r1.r2.log.x", b"10"),
            ("other", b"10"),
        ] {
            assert_eq!(LimitRow::parse(key, value), None, "{key} {value:?}");
        }
    }

    #[test]
    fn region_ids_cannot_break_the_key() {
        assert!(region_id("eu-west_1").is_ok());
        for bad in ["", "r1.r2", "r*", "r>", "r 1"] {
            assert!(region_id(bad).is_err(), "{bad:?}");
        }
    }
}
