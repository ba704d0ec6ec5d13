//! Logs (tracing, text or JSON) and the Prometheus recorder.

use crate::{LogFormat, settings::OtlpProtocol};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Flushes the trace exporter when dropped (at exit).
pub struct TracingGuard(Option<opentelemetry_sdk::trace::SdkTracerProvider>);

impl Drop for TracingGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Logs to stderr (text or JSON, filtered by `HERALD_LOG`), and trace spans to an OTLP
/// collector when `otlp` names one. `service` is the OpenTelemetry service name.
pub fn init_tracing(format: LogFormat, otlp: Option<(&str, OtlpProtocol)>, service: &str) -> TracingGuard {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    let filter = tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let (fmt_text, fmt_json) = match format {
        LogFormat::Text => (Some(fmt), None),
        LogFormat::Json => (
            None,
            Some(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr)),
        ),
    };
    let provider = otlp.and_then(
        |(endpoint, protocol)| match tracer_provider(endpoint, protocol, service) {
            Ok(provider) => Some(provider),
            Err(err) => {
                eprintln!("herald: tracing export disabled: {err:#}");
                None
            }
        },
    );
    let otel = provider.as_ref().map(|provider| {
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer().with_tracer(provider.tracer("herald"))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_text)
        .with(fmt_json)
        .with(otel)
        .try_init();
    TracingGuard(provider)
}

fn tracer_provider(
    endpoint: &str,
    protocol: OtlpProtocol,
    service: &str,
) -> anyhow::Result<opentelemetry_sdk::trace::SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig;
    let protocol = match protocol {
        OtlpProtocol::Protobuf => opentelemetry_otlp::Protocol::HttpBinary,
        OtlpProtocol::Json => opentelemetry_otlp::Protocol::HttpJson,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The process's one Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            // delivery lag also needs minutes: the events stream drops what waits past an hour
            let lag_buckets = [
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0, 900.0, 1800.0,
                3600.0,
            ];
            let handle = PrometheusBuilder::new()
                .set_buckets(&buckets)
                .expect("valid buckets")
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("herald_delivery_lag_seconds".into()),
                    &lag_buckets,
                )
                .expect("valid buckets")
                .install_recorder()
                .expect("one recorder per process");
            crate::catalogue::register();
            handle
        })
        .clone()
}
