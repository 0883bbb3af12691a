//! `xregion`: the operator's command line over the gRPC API.

mod admin;
mod commands;
mod connect;
mod drill;
mod mariadb_apply;
mod render;
mod restore;

use clap::{Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "Examples:
  export XREGION_TOKEN=demo-token-a
  xregion regions
  xregion instances --engine mysql --region cn-north-1
  xregion create --engine mysql --source-region cn-north-1 --instance mysql-prod-1 --target-region cn-east-2
  xregion list
  xregion watch <service-id>
  xregion window <service-id>
  xregion wait <service-id> --state running
  xregion plan <service-id> --time 2026-11-26T09:30:00Z
  xregion plan <service-id> --time latest
  xregion list --output json
  xregion --endpoint https://gw.example:50051 --ca-cert ca.pem list
  xregion admin dead-letters list --nats-url nats://127.0.0.1:4222 --namespace xregion
  xregion admin dead-letters replay --seq 3
  xregion drill --region-store s3://bucket --store-option aws_endpoint=… --instance mysql-prod-1
  xregion restore --region-store s3://bucket --store-option aws_endpoint=http://… --instance mysql-prod-1 --time latest --into ./restore";

#[derive(Parser)]
#[command(name = "xregion", version, about = "Manage xregion cross-region backup sync services", after_help = EXAMPLES)]
pub struct Cli {
    /// gRPC endpoint of the api-gateway (`https://` for TLS).
    #[arg(
        long,
        global = true,
        env = "XREGION_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    pub endpoint: String,
    /// Bearer token.
    #[arg(long, global = true, env = "XREGION_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: connect::TlsArgs,
    /// Output format of read commands.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Mysql,
    Sqlserver,
}

#[derive(Subcommand)]
pub enum Command {
    /// Configured regions.
    Regions,
    /// Your instances in a region that have no sync service yet.
    Instances {
        #[arg(long, value_enum)]
        engine: EngineArg,
        #[arg(long)]
        region: String,
    },
    /// Enrol an instance: copy its backups to the target region.
    Create {
        #[arg(long, value_enum)]
        engine: EngineArg,
        #[arg(long)]
        source_region: String,
        #[arg(long)]
        instance: String,
        #[arg(long)]
        target_region: String,
        /// Days of restorable history to keep (1-1825, default 7).
        #[arg(long)]
        retention_days: Option<u32>,
        /// Makes a retry return the same service.
        #[arg(long, default_value = "")]
        request_id: String,
        /// Print only the new service's id (for scripts).
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Your sync services, with state, latest data time point and lag.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        include_deleted: bool,
    },
    /// One sync service.
    Get { id: String },
    /// Delete a sync service and its data in the target region.
    Delete { id: String },
    /// Synced backups of a service.
    Backups { id: String },
    /// The restore window of a service: earliest, latest, gaps.
    Window { id: String },
    /// The files to restore a service's database at a time.
    Plan {
        id: String,
        /// RFC 3339 (2026-11-26T09:30:00Z), `latest` or `earliest`.
        #[arg(long)]
        time: String,
    },
    /// Live progress and state changes of one service, or of all yours.
    Watch { id: Option<String> },
    /// Usage of a service per day.
    Usage { id: String },
    /// Disaster recovery from the target region's store alone (no control
    /// plane): download and verify the files of the plan for a time.
    Restore {
        #[command(flatten)]
        target: restore::TargetArgs,
        /// Folder to download into; `plan.json` is written there.
        #[arg(long)]
        into: std::path::PathBuf,
        /// Also restore into this fresh MariaDB server (its socket): load
        /// the FULL, replay binlogs up to the time.
        #[arg(long)]
        mariadb_socket: Option<std::path::PathBuf>,
    },
    /// Disaster-recovery drill: restore into a throwaway MariaDB server from
    /// the target store alone, check it answers, report time and outcome.
    Drill {
        #[command(flatten)]
        target: restore::TargetArgs,
    },
    /// Wait until a service reaches a state (for scripts).
    Wait {
        id: String,
        #[arg(long, default_value = "running")]
        state: String,
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
    /// Operator commands over NATS (not the tenant API): dead letters.
    Admin(admin::AdminArgs),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Admin(args) => {
            if let Err(error) = admin::run(args, cli.output == Output::Json).await {
                eprintln!("error: {error:#}");
                std::process::exit(1);
            }
            return;
        }
        Command::Drill { target } => {
            let args = restore::RestoreArgs {
                target,
                into: Default::default(),
                mariadb_socket: None,
            };
            if drill::run(args, cli.output == Output::Json).await.is_err() {
                std::process::exit(1);
            }
            return;
        }
        Command::Restore {
            target,
            into,
            mariadb_socket,
        } => {
            if let Err(error) = restore::run(restore::RestoreArgs {
                target,
                into,
                mariadb_socket,
            })
            .await
            {
                eprintln!("error: {error:#}");
                std::process::exit(1);
            }
            return;
        }
        _ => {}
    }
    if let Err(error) = commands::run(cli).await {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
