//! `xregion-rds-sim`: plays the upstream RDS control plane against a running
//! xregion (same configuration file as the services).
//!
//!   xregion-rds-sim --config xregion.toml demo
//!   xregion-rds-sim --config xregion.toml delete-instance --instance mysql-shop-1 --tenant tenant-a --region cn-east-2

use clap::{Parser, Subcommand};
use xregion_common::CommonArgs;
use xregion_rds_sim::demo::{self, DemoArgs, SimConfig};

#[derive(Parser)]
#[command(
    name = "xregion-rds-sim",
    version,
    about = "Simulates the upstream RDS control plane: instances, backups and their events"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Two tenants, instances of both engines in every region, producing
    /// FULL and LOG backups (hours of history first, fast).
    Demo(DemoArgs),
    /// Announce that an instance was deleted upstream.
    DeleteInstance {
        #[arg(long)]
        instance: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        region: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let config: SimConfig =
        xregion_common::load(cli.common.config.as_deref(), &cli.common.overrides())?;
    if cli.common.dump_config {
        print!("{}", xregion_common::config::dump(&config)?);
        return Ok(());
    }
    let shutdown = xregion_common::shutdown::on_signal();
    match cli.command {
        Cmd::Demo(args) => demo::run(&config, &args, shutdown).await,
        Cmd::DeleteInstance {
            instance,
            tenant,
            region,
        } => {
            let (upstream, _) = demo::connect(&config).await?;
            upstream
                .instance_deleted(&instance, &tenant, &region, demo::now_ms())
                .await?;
            println!("InstanceDeleted published for {instance}");
            Ok(())
        }
    }
}
