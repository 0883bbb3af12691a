//! `xregion`: the operator's command line over the gRPC API.

mod admin;
mod api;
mod args;
mod commands;
mod connect;
mod drill;
mod exit;
mod manual;
mod mariadb_apply;
mod mariadb_cnf;
mod mariadb_physical;
mod mariadb_place;
mod mariadb_server;
mod profiles;
mod render;
mod restore;
mod views;

use clap::{CommandFactory, Parser, Subcommand};

use commands::{backups, regions, services, usage, watch};
use render::Output;

const EXAMPLES: &str = "Examples:
  export XREGION_TOKEN=demo-token-a
  xregion regions
  xregion instances --engine mysql --region cn-north-1
  xregion create --engine mysql --source-region cn-north-1 --instance mysql-prod-1 --target-region cn-east-2
  xregion list
  xregion watch <service-id>
  xregion window <service-id>
  xregion wait <service-id> --state running
  xregion update <service-id> --retention-days 30
  xregion plan <service-id> --time 2026-11-26T09:30:00Z
  xregion plan <service-id> --time latest
  xregion list --output json
  xregion --endpoint https://gw.example:50051 --ca-cert ca.pem list
  xregion admin dead-letters list --nats-url nats://127.0.0.1:4222 --namespace xregion
  xregion admin dead-letters replay --seq 3
  xregion drill --region-store s3://bucket --store-option aws_endpoint=… --instance mysql-prod-1
  xregion restore --region-store s3://bucket --store-option aws_endpoint=http://… --instance mysql-prod-1 --time latest --into ./restore
  xregion completions bash > /etc/bash_completion.d/xregion
  xregion man --out-dir /usr/local/share/man/man1";

fn after_help() -> String {
    format!("{EXAMPLES}\n\n{}", exit::EXIT_STATUS_HELP)
}

#[derive(Parser)]
#[command(name = "xregion", version, about = "Manage xregion cross-region backup sync services", after_help = after_help())]
pub struct Cli {
    /// gRPC endpoint of the api-gateway (`https://` for TLS); overrides the
    /// profile's [default: http://127.0.0.1:50051].
    #[arg(long, global = true, env = "XREGION_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Config file with `[profiles.<name>]` (endpoint, ca_file, token_file)
    /// [default: ~/.config/xregion/config.toml].
    #[arg(long, global = true, env = "XREGION_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Profile of the config file to use (else its `current`, else `default`).
    #[arg(long, global = true, env = "XREGION_PROFILE")]
    pub profile: Option<String>,
    /// Bearer token.
    #[arg(long, global = true, env = "XREGION_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: connect::TlsArgs,
    /// Output format of read commands (lists are JSON arrays; `watch`
    /// prints one JSON object per line).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Configured regions.
    Regions,
    /// Your instances in a region that have no sync service yet.
    Instances(regions::InstancesArgs),
    /// Enrol an instance: copy its backups to the target region.
    Create(services::CreateArgs),
    /// Your sync services, with state, latest data time point and lag.
    List(services::ListArgs),
    /// One sync service.
    Get { id: String },
    /// Change a sync service's retention (nothing is deleted by the change).
    Update(services::UpdateArgs),
    /// Delete a sync service and its data in the target region.
    Delete { id: String },
    /// Synced backups of a service.
    Backups { id: String },
    /// The restore window of a service: earliest, latest, gaps.
    Window { id: String },
    /// The files to restore a service's database at a time.
    Plan(backups::PlanArgs),
    /// Live progress and state changes of one service, or of all yours.
    Watch(watch::WatchArgs),
    /// Usage of a service per day.
    Usage { id: String },
    /// Disaster recovery from the target region's store alone (no control
    /// plane): download and verify the files of the plan for a time.
    Restore(restore::RestoreArgs),
    /// Disaster-recovery drill: restore into a throwaway MariaDB server from
    /// the target store alone, check it answers, report time and outcome.
    Drill {
        #[command(flatten)]
        target: restore::TargetArgs,
    },
    /// Wait until a service reaches a state (for scripts).
    Wait(services::WaitArgs),
    /// Operator commands over NATS (not the tenant API): dead letters, bandwidth limits.
    Admin(admin::AdminArgs),
    /// Print the shell completion script (no server or config needed).
    Completions(manual::CompletionsArgs),
    /// Print the man pages of xregion and every subcommand, or write one file
    /// each with `--out-dir` (no server or config needed).
    Man(manual::ManArgs),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli).await {
        eprintln!("error: {error:#}");
        std::process::exit(exit::ExitClass::of(&error).code());
    }
}

/// Runs the command; only the API commands connect to the gateway.
async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = cli.output;
    let given = profiles::Given {
        config: cli.config.clone(),
        profile: cli.profile.clone(),
        endpoint: cli.endpoint.clone(),
        token: cli.token.clone(),
        ca_cert: cli.tls.ca_cert.clone(),
    };
    // Resolved only by commands that talk to the gateway, so a broken
    // config file does not stop `completions`, `restore` or `admin`.
    let (given, flags_tls) = (&given, &cli.tls);
    let api = move || async move {
        let resolved = profiles::resolve(given, profiles::default_path().as_deref())?;
        let token = resolved
            .token
            .as_ref()
            .map(profiles::Token::read)
            .transpose()?;
        let tls = connect::TlsArgs {
            ca_cert: resolved.ca_cert,
            ..flags_tls.clone()
        };
        api::connect(&api::Target {
            endpoint: &resolved.endpoint,
            token: token.as_deref(),
            tls: &tls,
        })
        .await
    };
    match cli.command {
        Command::Regions => regions::regions(api().await?, out).await,
        Command::Instances(args) => regions::instances(api().await?, args, out).await,
        Command::Create(args) => services::create(api().await?, args, out).await,
        Command::List(args) => services::list(api().await?, args, out).await,
        Command::Get { id } => services::get(api().await?, id, out).await,
        Command::Update(args) => services::update(api().await?, args, out).await,
        Command::Delete { id } => services::delete(api().await?, id, out).await,
        Command::Wait(args) => services::wait(api().await?, args, out).await,
        Command::Backups { id } => backups::backups(api().await?, id, out).await,
        Command::Window { id } => backups::window(api().await?, id, out).await,
        Command::Plan(args) => backups::plan(api().await?, args, out).await,
        Command::Usage { id } => usage::usage(api().await?, id, out).await,
        Command::Watch(args) => watch::watch(api().await?, args, out).await,
        Command::Restore(args) => restore::run(args).await.map(drop),
        Command::Drill { target } => drill::run(target, out).await,
        Command::Admin(args) => admin::run(args, out).await,
        Command::Completions(args) => {
            manual::completions(Cli::command(), &args, &mut std::io::stdout())
        }
        Command::Man(args) => manual::man(Cli::command(), &args, &mut std::io::stdout()),
    }
}
