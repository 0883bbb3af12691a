//! OpenTelemetry as users configure it: every service exports to the
//! `OTEL_EXPORTER_OTLP_ENDPOINT` it is given, names itself after its binary
//! when `OTEL_SERVICE_NAME` is absent, carries `OTEL_RESOURCE_ATTRIBUTES`,
//! and a caller's `traceparent` on CreateSyncService is continued through
//! the catalog, the watcher's seeding and the worker's copy to the catalog
//! recording BackupSynced: one trace, received by an in-process OTLP
//! receiver.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use xregion_bus::EventSubject;
use xregion_domain::Engine;
use xregion_tests::api::{as_a, create_request};
use xregion_tests::sync::{fast_sync_without_cleanup, SyncEnv};
use xregion_tests::{wait_until, Stack, StackOptions, WAIT};

/// One span as the receiver got it, with its process's resource.
#[derive(Debug, Clone)]
struct Received {
    trace_id: String,
    name: String,
    attributes: Vec<(String, String)>,
    resource: Vec<(String, String)>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        find(&self.attributes, key)
    }

    fn service(&self) -> &str {
        find(&self.resource, "service.name").unwrap_or_default()
    }
}

fn find<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// An OTLP/gRPC trace receiver keeping every span it is sent.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let resource = pairs(&rs.resource.map(|r| r.attributes).unwrap_or_default());
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                spans.push(Received {
                    trace_id: hex::encode(&span.trace_id),
                    name: span.name,
                    attributes: pairs(&span.attributes),
                    resource: resource.clone(),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Receiver {
    /// Serves on a random local port; returns the endpoint to export to.
    async fn start(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let incoming = tonic::transport::server::TcpIncoming::from_listener(listener, true, None)
            .map_err(|e| anyhow::anyhow!("otlp receiver: {e}"))?;
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming),
        );
        Ok(format!("http://{addr}"))
    }

    fn trace(&self, trace_id: &str) -> Vec<Received> {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }
}

#[tokio::test]
async fn one_trace_runs_from_create_sync_service_to_backup_synced() -> anyhow::Result<()> {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await?;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
        // Spans leave every 100 ms instead of every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        // Whatever the machine sets, the defaults are under test.
        ("OTEL_SERVICE_NAME", ""),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
        ("OTEL_SDK_DISABLED", ""),
        ("OTEL_TRACES_EXPORTER", ""),
    ];
    let (stack, env) = SyncEnv::start(StackOptions {
        env: env.map(|(k, v)| (k.to_string(), v.to_string())).to_vec(),
        ..fast_sync_without_cleanup()
    })
    .await?;
    let ns = stack.ns();

    // The FULL is in the inventory before the service exists, so its copy
    // is queued by seeding (in the caller's trace), not by the upstream's
    // event (in a trace of its own).
    let mut chain = env
        .chain("traced", Engine::Mysql, 1_760_000_000_000)
        .await?;
    let full = env
        .upstream
        .write_backup(&env.source, &chain.full(1000))
        .await?;
    env.upstream.backup_created(&full).await?;
    for durable in ["catalog-upstream", "watcher-backups"] {
        env.probe
            .wait_consumer_idle(&ns.upstream_stream(), durable)
            .await?;
    }

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = as_a(create_request("traced"));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01").parse()?,
    );
    let svc = env
        .api
        .clone()
        .create_sync_service(request)
        .await?
        .into_inner();
    env.wait_running(&svc.id, 1).await?;

    let synced = ns.event_subject(EventSubject::BackupSynced);
    let services = [
        "xregion-api-gateway",
        "xregion-catalog",
        "xregion-backup-watcher",
        "xregion-transfer-worker",
    ];
    let all_jobs = ns.transfers_filter_all();
    let transfers = all_jobs.trim_end_matches('>');
    let worker_handled = |s: &Received| {
        s.service() == "xregion-transfer-worker"
            && s.name == "handle"
            && s.attribute("subject")
                .is_some_and(|t| t.starts_with(transfers))
    };
    // The worker's job span closes (and is exported) after it published
    // BackupSynced: the catalog may have recorded it first.
    let spans = wait_until("the trace through BackupSynced", WAIT, || async {
        let spans = receiver.trace(trace_id);
        let seen: BTreeSet<&str> = spans.iter().map(Received::service).collect();
        let recorded = spans.iter().any(|s| {
            s.service() == "xregion-catalog" && s.attribute("subject") == Some(synced.as_str())
        });
        let missing: Vec<&str> = services
            .iter()
            .copied()
            .filter(|s| !seen.contains(s))
            .chain((!recorded).then_some("the catalog's BackupSynced"))
            .chain((!spans.iter().any(worker_handled)).then_some("the worker's job span"))
            .collect();
        match missing.is_empty() {
            true => Ok(Some(spans)),
            false => Err(anyhow::anyhow!("missing {missing:?} in {spans:#?}")),
        }
    })
    .await?;

    // Each hop is where it should be: the gateway's request, the catalog's
    // RPC, the watcher's seeding, the worker's job, the catalog's recording.
    let has = |service: &str, what: &dyn Fn(&Received) -> bool| {
        spans.iter().any(|s| s.service() == service && what(s))
    };
    assert!(has("xregion-api-gateway", &|s| {
        s.attribute("rpc.method")
            .is_some_and(|m| m.ends_with("/CreateSyncService"))
    }));
    assert!(has("xregion-catalog", &|s| {
        s.name == "rpc" && s.attribute("method") == Some("CreateSyncService")
    }));
    assert!(has("xregion-backup-watcher", &|s| s.name == "seed"));
    // Every process says where it runs, from OTEL_RESOURCE_ATTRIBUTES.
    for span in &spans {
        assert_eq!(
            find(&span.resource, "deployment.environment"),
            Some("test"),
            "{span:?}"
        );
    }
    Ok(())
}

/// Spans still queued when a service stops are exported on the way out,
/// to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (over the general endpoint),
/// under `OTEL_SERVICE_NAME` (over a `service.name` attribute).
// Multi-threaded: `terminate` blocks its thread while the service stops,
// and the receiver (and the client's connection) must keep being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_spans_are_flushed_at_stop_under_the_configured_name() -> anyhow::Result<()> {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await?;
    let closed = format!("http://127.0.0.1:{}", xregion_tests::net::free_port()?);
    let env = [
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", closed.as_str()),
        ("OTEL_SERVICE_NAME", "edge"),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=not-this"),
        // Nothing leaves on the schedule during the test: only the flush
        // at stop can deliver the spans.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ("OTEL_SDK_DISABLED", ""),
        ("OTEL_TRACES_EXPORTER", ""),
    ];
    let mut stack = Stack::start(StackOptions {
        env: env.map(|(k, v)| (k.to_string(), v.to_string())).to_vec(),
        ..StackOptions::api_only()
    })
    .await?;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let mut request = as_a(xregion_proto::xregion::v1::ListSyncServicesRequest::default());
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-b7ad6b7169203331-01").parse()?,
    );
    stack.grpc().await?.list_sync_services(request).await?;
    assert!(
        receiver.trace(trace_id).is_empty(),
        "spans left before the stop: the schedule delay was not honoured"
    );

    let status = stack
        .service("api-gateway")?
        .terminate(std::time::Duration::from_secs(20))?;
    assert!(status.success(), "gateway stopped with {status}");
    let spans = wait_until("the gateway's spans flushed at stop", WAIT, || async {
        let spans = receiver.trace(trace_id);
        let gateway = spans.iter().any(|s| {
            s.attribute("rpc.method")
                .is_some_and(|m| m.ends_with("/ListSyncServices"))
        });
        Ok(gateway.then_some(spans))
    })
    .await?;
    for span in &spans {
        assert_eq!(span.service(), "edge", "{span:?}");
    }
    Ok(())
}
