//! Builds the gateway and serves gRPC until shutdown.

use xregion_bus::Bus;
use xregion_common::Regions;
use xregion_proto::xregion::v1::cross_region_backup_service_server::CrossRegionBackupServiceServer;
use xregion_runtime::{Context, ServiceError, ServiceHost, Stage};

use crate::auth::reload::{self, LoadError};
use crate::config::GatewayConfig;
use crate::gateway::Gateway;
use crate::tls::{self, TlsError};

/// How often an idle connection is pinged (HTTP/2) and probed (TCP).
const HTTP2_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(30);
/// A ping unanswered this long closes the connection and its streams.
const HTTP2_KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("authentication: {0}")]
    Auth(#[from] LoadError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("gateway.tls: the certificate, key or client CA cannot be used: {0}")]
    TlsIdentity(tonic::transport::Error),
    #[error(
        "refusing plaintext gRPC on {addr}, which is not a loopback address: bearer tokens \
         would cross the network in the clear; set gateway.tls.cert_file and \
         gateway.tls.key_file, or gateway.allow_plaintext = true behind a TLS-terminating proxy"
    )]
    PlaintextRefused { addr: std::net::SocketAddr },
    #[error(
        "refusing the dashboard on {addr}, which is not a loopback address: it is plain \
         HTTP and the page sends bearer tokens; put it behind a TLS-terminating proxy and set \
         gateway.allow_plaintext = true, or listen on 127.0.0.1"
    )]
    DashboardPlaintextRefused { addr: std::net::SocketAddr },
    #[error("grpc server: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

pub async fn run(cx: Context<GatewayConfig>) -> Result<(), ServiceError> {
    let (config, bus, mut host) = cx.parts();
    let mut served = serve(&config, &bus, &mut host)
        .await
        .map_err(ServiceError::other)?;
    let result = host.run().await;
    served
        .reporter
        .set_not_serving::<CrossRegionBackupServiceServer<Gateway>>()
        .await;
    result
}

/// What stays behind once the server is declared: the health reporter,
/// which says NOT_SERVING when the gateway stops.
struct Served {
    reporter: tonic_health::server::HealthReporter,
}

async fn serve(
    config: &GatewayConfig,
    bus: &Bus,
    host: &mut ServiceHost,
) -> Result<Served, RunError> {
    let settings = &config.gateway;
    let tls = tls::server_config(&settings.tls)?;
    let (auth, reloader) = reload::load(settings)?;
    let jwt_on = auth.accepts_jwt();
    if settings.tokens.is_empty() && !reloader.watches_files() {
        tracing::warn!("no tokens configured: every call will be UNAUTHENTICATED");
    }
    let regions =
        Regions::build(&config.common.regions).map_err(|e| RunError::Config(e.to_string()))?;
    let gateway = std::sync::Arc::new(Gateway {
        auth,
        catalog: bus.catalog(),
        regions,
        nats: bus.client().clone(),
        ns: bus.namespace().clone(),
        watches: crate::watch_slots::WatchSlots::new(
            settings.max_watches_per_tenant.get(),
            settings.max_watches.get(),
        ),
    });

    let (mut reporter, health_service) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<CrossRegionBackupServiceServer<Gateway>>()
        .await;
    // Both versions: grpcurl speaks v1, Python's grpcio reflection,
    // Postman and grpcui still speak v1alpha.
    let public = crate::reflection::public_descriptors(xregion_proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| RunError::Config(format!("descriptors: {e}")))?;
    let reflection = || {
        tonic_reflection::server::Builder::configure().register_file_descriptor_set(public.clone())
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| RunError::Config(e.to_string()))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| RunError::Config(e.to_string()))?;

    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(|source| RunError::Bind {
            addr: settings.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| RunError::Bind {
        addr: settings.listen.clone(),
        source,
    })?;
    // Keepalive pings find clients that vanished without closing their
    // streams, so their watches end and give their slots back.
    let mut server = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(HTTP2_KEEPALIVE))
        .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
        .tcp_keepalive(Some(HTTP2_KEEPALIVE))
        .trace_fn(crate::traceparent::request_span);
    let tls_on = tls.is_some();
    match tls {
        Some(tls) => server = server.tls_config(tls).map_err(RunError::TlsIdentity)?,
        None if !tls::plaintext_allowed(addr, settings.allow_plaintext) => {
            return Err(RunError::PlaintextRefused { addr })
        }
        None => {}
    }
    let mut reloader = reloader;
    host.every("auth-reload", settings.reload_interval, move || {
        reloader.poll();
        std::future::ready(())
    });
    // tonic sets TCP_NODELAY only on listeners it binds itself. Without it
    // a reply of a few KiB (a page of services, a restore plan) waits for
    // the client's delayed ACK: ~40 ms each (docs/benchmarks.md, fleet).
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |conn| {
            if let Ok(stream) = &conn {
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::warn!(%error, "tcp_nodelay not set on a connection");
                }
            }
            conn
        },
    );
    let router = server
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(CrossRegionBackupServiceServer::from_arc(gateway.clone()));
    host.spawn(Stage::Intake, "grpc", move |stop| {
        router.serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
    });
    if !settings.dashboard_listen.is_empty() {
        serve_dashboard(
            &settings.dashboard_listen,
            settings.allow_plaintext,
            gateway,
            host,
        )
        .await?;
    }
    tracing::info!(
        %addr,
        tls = tls_on,
        mtls = settings.tls.client_ca_file.is_some(),
        jwt = jwt_on,
        "gateway listening"
    );
    Ok(Served { reporter })
}

/// The web dashboard on its own listener (plain HTTP, hence loopback
/// unless asked for), over the same gateway as gRPC.
async fn serve_dashboard(
    listen: &str,
    allow_plaintext: bool,
    gateway: std::sync::Arc<Gateway>,
    host: &mut ServiceHost,
) -> Result<(), RunError> {
    let bind_error = |source| RunError::Bind {
        addr: listen.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    if !tls::plaintext_allowed(addr, allow_plaintext) {
        return Err(RunError::DashboardPlaintextRefused { addr });
    }
    host.spawn(Stage::Intake, "dashboard", move |stop| {
        let router = crate::dashboard::router(gateway, stop.clone());
        crate::dashboard::serve(listener, router, stop)
    });
    tracing::info!(%addr, url = %format!("http://{addr}/"), "dashboard listening");
    Ok(())
}
