//! `GET /notify?token=…&protoc=ws|sse|poll` (contract §3): the push-only channel.

use super::extract::Client;
use crate::Shared;
use crate::error::ApiError;
use crate::hub::ConnKind;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use herald_protocol::ErrorCode;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct NotifyQuery {
    #[serde(default)]
    protoc: Option<String>,
}

pub async fn notify(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<NotifyQuery>,
    client: Result<Client, ApiError>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let protoc = query.protoc.unwrap_or_else(|| "ws".into());
    if !["ws", "sse", "poll"].contains(&protoc.as_str()) {
        return ApiError::new(
            ErrorCode::UnsupportedProtocol,
            format!("unsupported protoc {protoc:?}: use ws, sse or poll"),
        )
        .into_response();
    }
    let Client(me) = match client {
        Ok(client) => client,
        Err(err) => return err.into_response(),
    };
    match protoc.as_str() {
        "ws" => match upgrade {
            Ok(upgrade) => super::ws::accept(shared, me, upgrade, ConnKind::Notify),
            Err(_) => ApiError::bad_input("protoc=ws needs a WebSocket upgrade request").into_response(),
        },
        other => ApiError::new(
            ErrorCode::UnsupportedProtocol,
            format!("protoc {other} is not available in this version"),
        )
        .into_response(),
    }
}
