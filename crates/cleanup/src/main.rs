use clap::Parser;
use xregion_cleanup::CleanupConfig;
use xregion_common::CommonArgs;

/// The xregion cleanup: removes data in target regions.
#[derive(Parser)]
#[command(name = "xregion-cleanup", version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    xregion_runtime::run_service::<CleanupConfig, _, _, _>(
        "xregion-cleanup",
        &cli.common,
        vec![],
        xregion_cleanup::run,
    )
    .await?;
    Ok(())
}
