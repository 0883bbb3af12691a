//! OpenTelemetry as users configure it: the standard `OTEL_*` variables
//! decide whether spans are exported, where to, and which resource they
//! describe; `telemetry.otlp_endpoint` is the fallback when no variable
//! names an endpoint.

use std::time::Duration;

use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::resource::{
    EnvResourceDetector, ResourceDetector, TelemetryResourceDetector,
};
use opentelemetry_sdk::Resource;

use crate::error::{Error, Result};

const SERVICE_NAME: &str = "service.name";

/// Where spans are exported, if anywhere, from what `env` says and the
/// configured endpoint: `OTEL_SDK_DISABLED=true` or
/// `OTEL_TRACES_EXPORTER=none` export nothing; otherwise
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, then `OTEL_EXPORTER_OTLP_ENDPOINT`,
/// then `telemetry.otlp_endpoint`. An empty value counts as unset, so
/// `OTEL_EXPORTER_OTLP_ENDPOINT=` in a manifest does not point at nothing.
pub fn exporter_endpoint(
    env: impl Fn(&str) -> Option<String>,
    configured: Option<&str>,
) -> Option<String> {
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    if var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none")) {
        return None;
    }
    var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .or_else(|| {
            configured
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(String::from)
        })
}

/// How long one export may take: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, then
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds as the specification says;
/// 10 s when unset, empty or not a number.
pub fn export_timeout(env: impl Fn(&str) -> Option<String>) -> Duration {
    let millis = |name: &str| env(name).and_then(|v| v.trim().parse::<u64>().ok());
    millis("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        .or_else(|| millis("OTEL_EXPORTER_OTLP_TIMEOUT"))
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// The OTLP/gRPC exporter to `endpoint`. The channel is built here because
/// the exporter, given only an endpoint, would prefer a set but empty
/// `OTEL_EXPORTER_OTLP_ENDPOINT` over it and fail; it still reads
/// `OTEL_EXPORTER_OTLP_HEADERS`.
pub fn span_exporter(endpoint: &str, timeout: Duration) -> Result<SpanExporter> {
    use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
    let channel = tonic::transport::Channel::from_shared(endpoint.to_string())
        .map_err(|e| Error::Otlp(format!("endpoint {endpoint}: {e}")))?
        .timeout(timeout)
        .connect_lazy();
    SpanExporter::builder()
        .with_tonic()
        .with_channel(channel)
        .with_timeout(timeout)
        .build()
        .map_err(|e| Error::Otlp(e.to_string()))
}

/// The resource every span of this process carries: the SDK's own
/// attributes, `OTEL_RESOURCE_ATTRIBUTES`, and a `service.name` that is
/// `OTEL_SERVICE_NAME`, else the one in `OTEL_RESOURCE_ATTRIBUTES`, else
/// the binary's name (the SDK would say `unknown_service`).
pub fn resource(binary: &str) -> Resource {
    let detected = Resource::from_detectors(
        Duration::ZERO,
        vec![
            Box::new(TelemetryResourceDetector) as Box<dyn ResourceDetector>,
            Box::new(EnvResourceDetector::new()),
        ],
    );
    let name = service_name(std::env::var("OTEL_SERVICE_NAME").ok(), &detected, binary);
    detected.merge(&Resource::new([KeyValue::new(SERVICE_NAME, name)]))
}

/// `service.name` by the specification's precedence, with the binary's name
/// as the default.
fn service_name(from_env: Option<String>, detected: &Resource, binary: &str) -> Value {
    from_env
        .filter(|n| !n.trim().is_empty())
        .map(Value::from)
        .or_else(|| detected.get(Key::new(SERVICE_NAME)))
        .unwrap_or_else(|| Value::from(binary.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn traces_endpoint_wins_over_the_general_one_and_the_config() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4317"),
        ];
        assert_eq!(
            exporter_endpoint(env(&vars), Some("http://config:4317")).as_deref(),
            Some("http://traces:4317")
        );
        let vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4317")];
        assert_eq!(
            exporter_endpoint(env(&vars), Some("http://config:4317")).as_deref(),
            Some("http://all:4317")
        );
        assert_eq!(
            exporter_endpoint(env(&[]), Some("http://config:4317")).as_deref(),
            Some("http://config:4317")
        );
    }

    #[test]
    fn no_endpoint_empty_values_or_disabled_sdk_export_nothing() {
        assert_eq!(exporter_endpoint(env(&[]), None), None);
        assert_eq!(exporter_endpoint(env(&[]), Some(" ")), None);
        let empty = [("OTEL_EXPORTER_OTLP_ENDPOINT", "")];
        assert_eq!(exporter_endpoint(env(&empty), None), None);
        for (var, value) in [
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            let vars = [
                (var, value),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4317"),
            ];
            assert_eq!(
                exporter_endpoint(env(&vars), Some("http://c:1")),
                None,
                "{var}"
            );
        }
        let vars = [
            ("OTEL_SDK_DISABLED", "false"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4317"),
        ];
        assert!(exporter_endpoint(env(&vars), None).is_some());
    }

    #[tokio::test]
    async fn the_resolved_endpoint_is_used_even_when_the_general_variable_is_set_but_empty() {
        // Only this test sets the variable; the others read injected maps.
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", "");
        let built = span_exporter("http://127.0.0.1:4317", Duration::from_secs(1));
        std::env::remove_var("OTEL_EXPORTER_OTLP_ENDPOINT");
        assert!(built.is_ok(), "{:?}", built.err());
        assert!(span_exporter("not a uri", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn export_timeout_is_in_milliseconds_traces_first_and_ten_seconds_otherwise() {
        let both = [
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "7000"),
        ];
        assert_eq!(export_timeout(env(&both)), Duration::from_millis(2500));
        let general = [("OTEL_EXPORTER_OTLP_TIMEOUT", "7000")];
        assert_eq!(export_timeout(env(&general)), Duration::from_secs(7));
        let junk = [("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")];
        assert_eq!(export_timeout(env(&junk)), Duration::from_secs(10));
        assert_eq!(export_timeout(env(&[])), Duration::from_secs(10));
    }

    #[test]
    fn service_name_is_the_variable_then_the_attribute_then_the_binary() {
        let detected = Resource::new([KeyValue::new(SERVICE_NAME, "from-attributes")]);
        let none = Resource::empty();
        let name = |env: Option<&str>, r: &Resource| {
            service_name(env.map(String::from), r, "xregion-catalog").to_string()
        };
        assert_eq!(name(Some("from-env"), &detected), "from-env");
        assert_eq!(name(None, &detected), "from-attributes");
        assert_eq!(name(Some(" "), &detected), "from-attributes");
        assert_eq!(name(None, &none), "xregion-catalog");
    }
}
