//! Builds the gateway and serves gRPC until shutdown.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use xregion_bus::{CatalogClient, Namespace};
use xregion_common::Regions;
use xregion_proto::xregion::v1::cross_region_backup_service_server::CrossRegionBackupServiceServer;
use xregion_telemetry::Health;

use crate::auth::Authenticator;
use crate::config::GatewayConfig;
use crate::gateway::Gateway;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("grpc server: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

pub async fn run(
    config: GatewayConfig,
    client: async_nats::Client,
    ns: Namespace,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let auth = Authenticator::new(&config.gateway.tokens).map_err(RunError::Config)?;
    if config.gateway.tokens.is_empty() {
        tracing::warn!("no tokens configured: every call will be UNAUTHENTICATED");
    }
    let regions =
        Regions::build(&config.common.regions).map_err(|e| RunError::Config(e.to_string()))?;
    let catalog = CatalogClient::new(
        client.clone(),
        ns.clone(),
        Duration::from_secs(config.common.bus.request_timeout_secs.max(1)),
    );
    let gateway = Gateway {
        auth,
        catalog,
        regions,
        nats: client.clone(),
        ns,
    };

    let (mut reporter, health_service) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<CrossRegionBackupServiceServer<Gateway>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(xregion_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| RunError::Config(e.to_string()))?;

    let listener = tokio::net::TcpListener::bind(&config.gateway.listen)
        .await
        .map_err(|source| RunError::Bind {
            addr: config.gateway.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| RunError::Bind {
        addr: config.gateway.listen.clone(),
        source,
    })?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    health.set_ready(true);
    tracing::info!(%addr, "gateway ready");
    let stop = shutdown.clone();
    let served = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(CrossRegionBackupServiceServer::new(gateway))
        .serve_with_incoming_shutdown(incoming, async move { stop.cancelled().await });
    let result = served.await;
    health.set_ready(false);
    reporter
        .set_not_serving::<CrossRegionBackupServiceServer<Gateway>>()
        .await;
    let _ = client.flush().await;
    tracing::info!("gateway stopped");
    Ok(result?)
}
