use clap::Parser;
use xregion_common::CommonArgs;
use xregion_transfer_worker::WorkerConfig;

/// The xregion transfer-worker: moves backup bytes between regions.
#[derive(Parser)]
#[command(name = "xregion-transfer-worker", version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    xregion_runtime::run_service::<WorkerConfig, _, _, _>(
        "xregion-transfer-worker",
        &cli.common,
        vec![],
        xregion_transfer_worker::run,
    )
    .await?;
    Ok(())
}
