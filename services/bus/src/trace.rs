//! Trace context across the bus: the W3C `traceparent` of the span that published a message
//! travels with it (a NATS header, or beside the entry in-process), and the span that consumes
//! it continues the trace. Without an OpenTelemetry exporter these are no-ops.

use opentelemetry::trace::TraceContextExt;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const HEADER: &str = "traceparent";

/// The `traceparent` of `span`, if it is being traced.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut carrier));
    carrier.remove(HEADER)
}

/// The `traceparent` of the current span.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// Makes `span` a child of the remote span `traceparent` names.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(traceparent) = traceparent {
        let carrier = HashMap::from([(HEADER.to_owned(), traceparent.to_owned())]);
        let context = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
        let _ = span.set_parent(context);
    }
}

/// Links `span` to the span `traceparent` names (a batch serving many traces).
pub fn link(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(traceparent) = traceparent {
        let carrier = HashMap::from([(HEADER.to_owned(), traceparent.to_owned())]);
        let context = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
        span.add_link(context.span().span_context().clone());
    }
}
