use clap::Parser;
use xregion_api_gateway::GatewayConfig;
use xregion_common::CommonArgs;

/// The xregion gRPC gateway.
#[derive(Parser)]
#[command(name = "xregion-api-gateway", version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// gRPC listen address (overrides `gateway.listen`).
    #[arg(long)]
    grpc_listen: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let extra = cli
        .grpc_listen
        .iter()
        .map(|l| ("gateway.listen".to_string(), l.clone()))
        .collect();
    xregion_runtime::run_service::<GatewayConfig, _, _, _>(
        "xregion-api-gateway",
        &cli.common,
        extra,
        |cx| xregion_api_gateway::run(cx.config, cx.client, cx.ns, cx.health, cx.shutdown),
    )
    .await?;
    Ok(())
}
