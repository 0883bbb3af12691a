//! `xregion admin`: operator commands that talk to NATS directly rather than
//! to the tenant-scoped gRPC API: the dead-letter stream and bandwidth limits.

mod bandwidth;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;
use xregion_bus::deadletter::{self, DeadLetter};
use xregion_bus::Namespace;

use crate::render::{self, say, Output, Row};

#[derive(Args)]
pub struct AdminArgs {
    /// NATS server of the deployment.
    #[arg(
        long,
        global = true,
        env = "XREGION_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// Namespace of the deployment (prefix of its subjects and streams).
    #[arg(
        long,
        global = true,
        env = "XREGION_NAMESPACE",
        default_value = "xregion"
    )]
    pub namespace: String,
    /// Prefix of the upstream RDS subjects.
    #[arg(
        long,
        global = true,
        env = "XREGION_UPSTREAM_NAMESPACE",
        default_value = "rds"
    )]
    pub upstream_namespace: String,
    /// NATS user (the deployment's `operator`); its password from
    /// `--nats-password-file`.
    #[arg(long, global = true, env = "XREGION_NATS_USER")]
    pub nats_user: Option<String>,
    /// File holding the NATS user's password.
    #[arg(long, global = true, env = "XREGION_NATS_PASSWORD_FILE")]
    pub nats_password_file: Option<PathBuf>,
    /// Instead of user and password: a `.creds` file.
    #[arg(long, global = true, env = "XREGION_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// PEM CA that signs the NATS server's certificate (makes TLS required).
    #[arg(long, global = true, env = "XREGION_NATS_CA")]
    pub nats_ca: Option<PathBuf>,
    /// PEM client certificate and key, for a server that verifies clients.
    #[arg(long, global = true, env = "XREGION_NATS_CERT", requires = "nats_key")]
    pub nats_cert: Option<PathBuf>,
    #[arg(long, global = true, env = "XREGION_NATS_KEY", requires = "nats_cert")]
    pub nats_key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

impl AdminArgs {
    /// The flags as the services' bus settings, so both read credentials
    /// and TLS files the same way.
    fn bus(&self) -> xregion_common::BusConfig {
        let mut bus = xregion_common::BusConfig {
            url: self.nats_url.clone(),
            user: self.nats_user.clone(),
            password_file: self.nats_password_file.clone(),
            creds_file: self.nats_creds.clone(),
            ..Default::default()
        };
        bus.tls.ca_file = self.nats_ca.clone();
        bus.tls.cert_file = self.nats_cert.clone();
        bus.tls.key_file = self.nats_key.clone();
        bus
    }
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Messages a consumer gave up on: list them, replay them once fixed.
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
    /// Bandwidth limits of region pairs, followed by every worker at runtime.
    #[command(subcommand)]
    Bandwidth(bandwidth::BandwidthCommand),
}

#[derive(Subcommand)]
pub enum DeadLetterCommand {
    /// Every dead letter: sequence, consumer, original subject, attempts,
    /// time and reason.
    List,
    /// Republish dead letters to their original subjects (payload and
    /// headers as they were) and remove them from the dead-letter stream.
    Replay {
        /// The dead letter's sequence, as `list` shows it (repeatable).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        seq: Vec<u64>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
    },
}

pub async fn run(args: AdminArgs, out: Output) -> anyhow::Result<()> {
    let ns = Namespace::new(&args.namespace, &args.upstream_namespace)?;
    let credentials = xregion_bus::Credentials::from_config(&args.bus())?;
    let client = xregion_bus::connect_with(
        &args.nats_url,
        "xregion-cli-admin",
        &credentials,
        Duration::from_secs(5),
    )
    .await?;
    let js = xregion_bus::async_nats::jetstream::new(client);
    match args.command {
        AdminCommand::Bandwidth(command) => bandwidth::run(&js, &ns, command, out).await?,
        AdminCommand::DeadLetters(DeadLetterCommand::List) => {
            let entries = deadletter::list(&js, &ns).await?;
            let rows: Vec<DeadLetterRow> = entries.iter().map(Into::into).collect();
            render::list(&rows, out);
        }
        AdminCommand::DeadLetters(DeadLetterCommand::Replay { seq, all }) => {
            let seqs = if all {
                deadletter::list(&js, &ns)
                    .await?
                    .iter()
                    .map(|e| e.seq)
                    .collect()
            } else {
                seq
            };
            let mut replayed = Vec::new();
            for s in seqs {
                let r = deadletter::replay(&js, &ns, s).await?;
                if out == Output::Table {
                    say!("replayed {} to {}", r.seq, r.subject);
                }
                replayed.push(Replayed {
                    seq: r.seq,
                    subject: r.subject,
                });
            }
            if out == Output::Json {
                render::json(&replayed);
            }
        }
    }
    Ok(())
}

/// One dead letter as `list` shows it (the payload only by its size).
#[derive(Debug, Serialize)]
struct DeadLetterRow {
    seq: u64,
    consumer: String,
    subject: String,
    reason: String,
    attempts: u32,
    time: String,
    bytes: usize,
}

impl From<&DeadLetter> for DeadLetterRow {
    fn from(e: &DeadLetter) -> Self {
        DeadLetterRow {
            seq: e.seq,
            consumer: e.durable.clone(),
            subject: e.original_subject.clone(),
            reason: e.reason.clone(),
            attempts: e.attempts,
            time: chrono::DateTime::from_timestamp_millis(e.dead_lettered_at_ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            bytes: e.payload.len(),
        }
    }
}

impl Row for DeadLetterRow {
    const HEADERS: &'static [&'static str] =
        &["SEQ", "CONSUMER", "SUBJECT", "ATTEMPTS", "TIME", "REASON"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.seq.to_string(),
            self.consumer.clone(),
            self.subject.clone(),
            self.attempts.to_string(),
            self.time.clone(),
            self.reason.clone(),
        ]
    }
}

/// A dead letter sent back to its original subject.
#[derive(Debug, Serialize)]
struct Replayed {
    seq: u64,
    subject: String,
}
