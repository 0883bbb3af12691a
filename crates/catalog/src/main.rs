use clap::Parser;
use xregion_catalog::CatalogConfig;
use xregion_common::CommonArgs;

/// The xregion catalog: the SQL catalog and its event outbox.
#[derive(Parser)]
#[command(name = "xregion-catalog", version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    xregion_runtime::run_service::<CatalogConfig, _, _, _>(
        "xregion-catalog",
        &cli.common,
        vec![],
        |cx| xregion_catalog::run(cx.config, cx.client, cx.ns, cx.health, cx.shutdown),
    )
    .await?;
    Ok(())
}
