use clap::Parser;
use xregion_backup_watcher::WatcherConfig;
use xregion_common::CommonArgs;

/// The xregion backup-watcher: decides what must be copied.
#[derive(Parser)]
#[command(name = "xregion-backup-watcher", version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    xregion_runtime::run_service::<WatcherConfig, _, _, _>(
        "xregion-backup-watcher",
        &cli.common,
        vec![],
        xregion_backup_watcher::run,
    )
    .await?;
    Ok(())
}
