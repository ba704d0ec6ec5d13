//! `/healthz` (the process lives), `/readyz` (it can serve: bus connected, store answering, not
//! draining) and `/metrics` (Prometheus text), on the public address or on an admin address.

use crate::Shared;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use herald_bus::Bus;
use herald_protocol::AppId;
use herald_store::DirectoryStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What readiness looks at: the bus, the store (one app read) and whether the gateway drains.
#[derive(Clone)]
pub struct Probes {
    pub bus: Arc<dyn Bus>,
    pub directory: Arc<dyn DirectoryStore>,
    pub draining: Arc<AtomicBool>,
}

impl axum::extract::FromRef<Arc<Shared>> for Probes {
    fn from_ref(shared: &Arc<Shared>) -> Self {
        shared.probes.clone()
    }
}

#[utoipa::path(get, path = "/healthz", tag = "ops", description = "200 while the process lives", responses((status = 200, description = "ok")))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "ops", description = "200 once the process can serve: bus connected, store answering, not draining", responses((status = 200, description = "ready"), (status = 503, description = "not ready, or draining")))]
pub async fn readyz(State(probes): State<Probes>) -> (StatusCode, &'static str) {
    if probes.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    if !probes.bus.is_connected() {
        return (StatusCode::SERVICE_UNAVAILABLE, "bus not connected");
    }
    let probe = AppId::parse("readiness-probe").expect("valid");
    match probes.directory.app(&probe).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store not answering"),
    }
}

/// Renders the process's metrics in the Prometheus text format.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

#[utoipa::path(get, path = "/metrics", tag = "ops", description = "Prometheus text format of every `herald_*` metric (README, \"Metrics\"). Served on HERALD_HTTP_ADDR, or only on HERALD_ADMIN_ADDR when that is set", responses((status = 200, description = "metrics, `text/plain; version=0.0.4`", content_type = "text/plain")))]
pub async fn metrics(State(render): State<MetricsRender>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(),
    )
}

/// `/metrics` alone, to merge into the public or the admin router.
pub fn metrics_router(render: MetricsRender) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(render)
}

/// `/healthz` and `/readyz` alone, for the admin address.
pub fn probes_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(shared)
}
