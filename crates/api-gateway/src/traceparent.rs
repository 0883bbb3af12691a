//! Continues the caller's trace: a W3C `traceparent` (and `tracestate`) in
//! an incoming gRPC request's metadata becomes the parent of the request's
//! span, so a client's trace runs on through the catalog, the watcher and
//! the worker. A request without one starts a trace of its own.

use opentelemetry::propagation::Extractor;
use tonic::codegen::http;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct Metadata<'a>(&'a http::HeaderMap);

impl Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The span of one gRPC request, for `Server::trace_fn`: tonic polls the
/// handler inside it, so each method's own span is its child.
pub fn request_span(request: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!("grpc request", rpc.method = %request.uri().path());
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&Metadata(request.headers())));
    span.set_parent(parent);
    span
}
