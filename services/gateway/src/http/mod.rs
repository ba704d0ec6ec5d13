//! HTTP routes of contract §4 and §8, and the WebSocket upgrades.

mod client;
mod extract;
mod health;
mod inner;
mod notify;
mod ws;

use crate::Shared;
use crate::error::ApiError;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use herald_protocol::ErrorCode;
use std::sync::Arc;

pub fn router(shared: Arc<Shared>) -> Router {
    let max_body = shared.config.max_body_bytes;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/inner/get_token", post(inner::get_token))
        .route("/inner/create_conversation", post(inner::create_conversation))
        .route("/create_conversation", post(client::create_conversation))
        .route("/send_msg", post(client::send_msg))
        .route("/get_conversation_last_30_msg", post(client::last_30_msgs))
        .route("/notify", get(notify::notify))
        .route("/ws", get(ws::upgrade))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(shared)
}
