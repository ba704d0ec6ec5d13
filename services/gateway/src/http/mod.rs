//! HTTP routes of protocol §4 and §8, and the WebSocket, SSE and long-poll channels.

mod client_routes;
mod console;
mod console_webhooks;
mod extract;
mod health;
mod inner;
mod notify;
mod openapi;
mod schemas;
mod seeds;
mod users;
pub mod web;
mod webhooks;
mod ws;
mod ws_actions;
mod ws_writer;

use crate::Shared;
use crate::error::ApiError;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use herald_protocol::ErrorCode;
use std::sync::Arc;

pub use health::{MetricsRender, metrics_router};
pub(crate) use health::{Probes, probes_router};

/// Bodies past `max_body_bytes` but within this get a 413 envelope; past this the connection
/// is closed after the 413, as the rest of the body is not read.
pub const HARD_BODY_BYTES: usize = 1024 * 1024;

pub fn router(shared: Arc<Shared>) -> Router {
    let max_body = HARD_BODY_BYTES.max(shared.config.max_body_bytes);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/openapi.json", get(openapi::serve))
        .route("/readyz", get(health::readyz))
        .route("/inner/get_token", post(inner::get_token))
        .route("/inner/create_conversation", post(inner::create_conversation))
        .route("/inner/kickout_conversation", post(inner::kickout))
        .route("/inner/join_conversation", post(inner::join))
        .route("/inner/set_archive_conversations", post(inner::set_archive))
        .route("/inner/settings", get(inner::get_settings).put(inner::put_settings))
        .route("/inner/revoke_session", post(inner::revoke_session))
        .route("/inner/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/inner/webhooks/{id}", axum::routing::delete(webhooks::delete))
        .route("/inner/webhooks/{id}/rotate_secret", post(webhooks::rotate_secret))
        .route("/inner/webhooks/{id}/dead_letters", get(webhooks::dead_letters))
        .route("/inner/webhooks/{id}/replay", post(webhooks::replay))
        .route(
            "/inner/bots/{session}",
            axum::routing::put(webhooks::put_bot).delete(webhooks::delete_bot),
        )
        .route("/inner/send_msg", post(webhooks::send_as))
        .route("/console/reg", post(console::register))
        .route("/console/login", post(console::login))
        .route("/console/org", post(console::create_org))
        .route("/console/orgs", get(console::list_orgs))
        .route("/console/org/{id}", get(console::get_org))
        .route("/console/app", post(console::create_app))
        .route("/console/apps/{org_id}", get(console::list_apps))
        .route("/console/app/{id}", get(console::get_app))
        .route("/console/app/{id}/rotate_secret", post(console::rotate_secret))
        .route(
            "/console/app/{id}/settings",
            get(console::get_settings).put(console::put_settings),
        )
        .route(
            "/console/app/{id}/webhooks",
            post(console_webhooks::create).get(console_webhooks::list),
        )
        .route(
            "/console/app/{id}/webhooks/{webhook}",
            axum::routing::delete(console_webhooks::delete),
        )
        .route(
            "/console/app/{id}/webhooks/{webhook}/rotate_secret",
            post(console_webhooks::rotate_secret),
        )
        .route(
            "/console/app/{id}/webhooks/{webhook}/dead_letters",
            get(console_webhooks::dead_letters),
        )
        .route(
            "/console/app/{id}/webhooks/{webhook}/replay",
            post(console_webhooks::replay),
        )
        .route("/user/register", post(users::register))
        .route("/user/login", post(users::login))
        .route("/user/set_password", post(users::set_password))
        .route("/user/logout", post(users::logout))
        .route("/send_msg", post(client_routes::send_msg))
        .route("/check_joined_conversation", post(client_routes::check_joined))
        .route("/get_joined_conversation", post(client_routes::joined))
        .route("/get_conversation_detail", post(client_routes::detail))
        .route("/join_conversation", post(client_routes::join))
        .route("/create_conversation", post(client_routes::create_conversation))
        .route("/leave_conversation", post(client_routes::leave))
        .route("/get_lastone_msgid", post(client_routes::lastone_msgid))
        .route("/get_conversation_msg_by_range", post(client_routes::by_range))
        .route("/get_conversation_30msg_before_the_id", post(client_routes::before_id))
        .route("/get_conversation_30msg_after_the_id", post(client_routes::after_id))
        .route("/get_conversation_last_30_msg", post(client_routes::last_30))
        .route("/get_conversation_lastone_msg", post(client_routes::lastone_msg))
        .route("/notify", get(notify::notify))
        .route("/ws", get(ws::upgrade))
        .route("/im/connect", get(seeds::im_connect))
        .route("/chat/test", get(seeds::gin_chat::chat_test))
        .route("/ping", get(seeds::ping))
        .merge(web::routes(&shared.config.web_ui))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route for this method") })
        .layer(axum::middleware::from_fn(observe))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(shared)
}

/// Counts and times every request by route template (a bounded label) and status.
async fn observe(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("herald_http_requests_total", "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("herald_http_request_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    response
}
