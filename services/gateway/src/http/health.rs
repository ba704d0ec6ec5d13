//! `/healthz` (the process lives) and `/readyz` (it can serve: bus connected, store answering, not draining).

use crate::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use herald_protocol::AppId;
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[utoipa::path(get, path = "/healthz", tag = "ops", description = "200 while the process lives", responses((status = 200, description = "ok")))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "ops", description = "200 once the process can serve: bus connected, store answering, not draining", responses((status = 200, description = "ready"), (status = 503, description = "not ready, or draining")))]
pub async fn readyz(State(shared): State<Arc<Shared>>) -> (StatusCode, &'static str) {
    if shared.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    if !shared.bus.is_connected() {
        return (StatusCode::SERVICE_UNAVAILABLE, "bus not connected");
    }
    let probe = AppId::parse("readiness-probe").expect("valid");
    match shared.store.app(&probe).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store not answering"),
    }
}
