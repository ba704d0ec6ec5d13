//! Extractors: the client token, the app secret and JSON bodies, each failing with the envelope.

use crate::error::ApiError;
use crate::{Identity, Shared};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use herald_protocol::ErrorCode;
use herald_store::AppRecord;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The client token's identity, from `Authorization: Bearer` or `?token=`.
pub struct Client(pub Identity);

impl FromRequestParts<Arc<Shared>> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        let token = match bearer(parts) {
            Some(token) => token.to_owned(),
            None => Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
                .ok()
                .and_then(|q| q.0.get("token").cloned())
                .ok_or_else(|| ApiError::unauthorized("missing token"))?,
        };
        Ok(Client(shared.auth.verify(&token).await?))
    }
}

/// The client's address: the socket peer, when the server was started with connect info (it is
/// in `herald`); `X-Forwarded-For` is not trusted.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(ClientAddr(peer))
    }
}

/// The app whose secret authenticates an `/inner/*` request.
pub struct InnerApp(pub Arc<AppRecord>);

impl FromRequestParts<Arc<Shared>> for InnerApp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        let secret = bearer(parts).ok_or_else(|| ApiError::unauthorized("missing app secret"))?;
        Ok(InnerApp(shared.auth.app_by_secret(secret).await?))
    }
}

/// A JSON body: 413 past the body limit, 400 with the parser's reason otherwise. The body is
/// read up to `HARD_BODY_BYTES` so the client gets its 413 rather than a reset.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<Shared>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<Shared>) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::TooLarge, "request body too large")
            } else {
                ApiError::bad_input(format!("could not read body: {rejection}"))
            }
        })?;
        if bytes.len() > state.config.max_body_bytes {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("request body larger than {} bytes", state.config.max_body_bytes),
            ));
        }
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map(JsonBody)
            .map_err(|err| ApiError::bad_input(format!("invalid JSON body: {err}")))
    }
}
