//! `/inner/webhooks`, `/inner/bots` and `/inner/send_msg` (protocol §10): an app's backend
//! registers where its events go, marks bot sessions, and sends as one of its sessions.

use super::extract::{InnerApp, JsonBody};
use crate::Identity;
use crate::api::{Api, SendRequest};
use crate::error::{ApiError, ApiResult, ok};
use axum::extract::{Path, State};
use herald_protocol::bus::Reply;
use herald_protocol::{AppId, ConvId, ErrorCode, SessionId};
use herald_store::{MAX_ENDPOINTS_PER_APP, WebhookEndpoint, WebhookJob};
use herald_webhooks::events::ALL_TYPES;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

/// Dead letters one listing returns at most.
pub const DEAD_LETTERS_PAGE: usize = 100;
/// Event ids one replay may name.
pub const MAX_REPLAY_IDS: usize = 1000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// http or https; loopback and private addresses only where the server allows them.
    url: String,
    /// The event types it wants (at least one of those the protocol lists).
    events: Vec<String>,
}

/// A new signing secret: 32 random bytes, hex, with a prefix that says what it is.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("whsec_{hex}")
}

fn endpoint_json(endpoint: &WebhookEndpoint) -> Value {
    json!({
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "created_at": herald_protocol::timefmt::rfc3339_nanos(endpoint.created_at_ms * 1_000_000),
    })
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such webhook endpoint")
}

#[utoipa::path(post, path = "/inner/webhooks", tag = "webhooks", request_body = NewEndpoint,
    description = "registers an endpoint for the listed event types; answers `{id, secret}`: the signing secret is shown here and on rotation only",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"id\", \"secret\"}}`"), super::schemas::Errors),
    security(("app_secret" = [])))]
pub async fn create(
    State(api): State<Api>,
    InnerApp(app): InnerApp,
    JsonBody(body): JsonBody<NewEndpoint>,
) -> ApiResult {
    create_for(&api, &app.id, body).await
}

/// Registers an endpoint of `app` (the `/inner` and `/console` routes).
pub(super) async fn create_for(api: &Api, app: &AppId, body: NewEndpoint) -> ApiResult {
    let hooks = api.hooks();
    let url = herald_webhooks::guard::check_url(&body.url, hooks.allow_private).map_err(ApiError::bad_input)?;
    let mut events = body.events;
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(ApiError::bad_input("events must name at least one event type"));
    }
    if let Some(unknown) = events.iter().find(|e| !ALL_TYPES.contains(&e.as_str())) {
        return Err(ApiError::bad_input(format!(
            "unknown event type {unknown:?}: one of {}",
            ALL_TYPES.join(", ")
        )));
    }
    if hooks.store.endpoints(app).await?.len() >= MAX_ENDPOINTS_PER_APP {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("an app has at most {MAX_ENDPOINTS_PER_APP} webhook endpoints"),
        ));
    }
    let endpoint = WebhookEndpoint {
        app: app.clone(),
        id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
        url: url.to_string(),
        events,
        secret: new_secret(),
        created_at_ms: herald_webhooks::events::now_ms(),
    };
    hooks.store.put_endpoint(&endpoint).await?;
    // every dispatcher's view includes it by the time the app hears it exists
    tokio::time::sleep(herald_webhooks::directory::SETTLE).await;
    Ok(ok(json!({"id": endpoint.id, "secret": endpoint.secret})))
}

#[utoipa::path(get, path = "/inner/webhooks", tag = "webhooks",
    description = "the app's endpoints (never their secrets)",
    responses((status = 200, description = "`{\"code\": 0, \"data\": [{id, url, events, created_at}]}`"), super::schemas::Errors),
    security(("app_secret" = [])))]
pub async fn list(State(api): State<Api>, InnerApp(app): InnerApp) -> ApiResult {
    list_for(&api, &app.id).await
}

pub(super) async fn list_for(api: &Api, app: &AppId) -> ApiResult {
    let endpoints = api.hooks().store.endpoints(app).await?;
    Ok(ok(endpoints.iter().map(endpoint_json).collect::<Vec<_>>()))
}

#[utoipa::path(delete, path = "/inner/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    description = "removes the endpoint and everything queued for it",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"id\"}}`"), super::schemas::Errors),
    security(("app_secret" = [])))]
pub async fn delete(State(api): State<Api>, InnerApp(app): InnerApp, Path(id): Path<String>) -> ApiResult {
    delete_for(&api, &app.id, id).await
}

pub(super) async fn delete_for(api: &Api, app: &AppId, id: String) -> ApiResult {
    if !api.hooks().store.delete_endpoint(app, &id).await? {
        return Err(not_found());
    }
    Ok(ok(json!({"id": id})))
}

#[utoipa::path(post, path = "/inner/webhooks/{id}/rotate_secret", tag = "webhooks", params(("id" = String, Path)),
    description = "a new signing secret, shown once; requests are signed with it from now on",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"secret\"}}`"), super::schemas::Errors),
    security(("app_secret" = [])))]
pub async fn rotate_secret(State(api): State<Api>, InnerApp(app): InnerApp, Path(id): Path<String>) -> ApiResult {
    rotate_for(&api, &app.id, id).await
}

pub(super) async fn rotate_for(api: &Api, app: &AppId, id: String) -> ApiResult {
    let secret = new_secret();
    if !api.hooks().store.set_endpoint_secret(app, &id, &secret).await? {
        return Err(not_found());
    }
    Ok(ok(json!({"secret": secret})))
}

fn dead_letter_json(job: &WebhookJob) -> Value {
    let body: Value = serde_json::from_str(&job.body).unwrap_or(Value::Null);
    json!({
        "id": job.event_id,
        "type": body["type"],
        "attempts": job.attempts,
        "last_error": job.last_error,
        "created_at": herald_protocol::timefmt::rfc3339_nanos(job.created_at_ms * 1_000_000),
        "event": body,
    })
}

#[utoipa::path(get, path = "/inner/webhooks/{id}/dead_letters", tag = "webhooks", params(("id" = String, Path)),
    description = "events given up on (no 2xx answer within 24 h), oldest first, at most 100",
    responses((status = 200, description = "`{\"code\": 0, \"data\": [{id, type, attempts, last_error, created_at, event}]}`"), super::schemas::Errors),
    security(("app_secret" = [])))]
pub async fn dead_letters(State(api): State<Api>, InnerApp(app): InnerApp, Path(id): Path<String>) -> ApiResult {
    dead_letters_for(&api, &app.id, id).await
}

pub(super) async fn dead_letters_for(api: &Api, app: &AppId, id: String) -> ApiResult {
    let store = &api.hooks().store;
    if !store.endpoints(app).await?.iter().any(|e| e.id == id) {
        return Err(not_found());
    }
    let jobs = store.dead_jobs(app, &id, DEAD_LETTERS_PAGE).await?;
    Ok(ok(jobs.iter().map(dead_letter_json).collect::<Vec<_>>()))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// The dead letters to send again (all of them when absent).
    ids: Option<Vec<String>>,
}

#[utoipa::path(post, path = "/inner/webhooks/{id}/replay", tag = "webhooks", params(("id" = String, Path)), request_body = Replay,
    description = "sends dead letters again (all, or those named), from now, with fresh attempts",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"replayed\"}}`"), super::schemas::Errors),
    security(("app_secret" = [])))]
pub async fn replay(
    State(api): State<Api>,
    InnerApp(app): InnerApp,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Replay>,
) -> ApiResult {
    replay_for(&api, &app.id, id, body).await
}

pub(super) async fn replay_for(api: &Api, app: &AppId, id: String, body: Replay) -> ApiResult {
    let store = &api.hooks().store;
    if !store.endpoints(app).await?.iter().any(|e| e.id == id) {
        return Err(not_found());
    }
    if body.ids.as_ref().is_some_and(|ids| ids.len() > MAX_REPLAY_IDS) {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("at most {MAX_REPLAY_IDS} ids a replay"),
        ));
    }
    let now = herald_webhooks::events::now_ms();
    let replayed = store.replay_jobs(app, &id, body.ids.as_deref(), now).await?;
    Ok(ok(json!({"replayed": replayed})))
}

#[utoipa::path(put, path = "/inner/bots/{session}", tag = "webhooks", params(("session" = String, Path)),
    description = "marks a session as a bot: messages of its conversations reach the app's endpoints as `bot.message`; it answers through `/inner/send_msg`",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"session\", \"bot\": true}}`"), super::schemas::Errors),
    security(("app_secret" = [])))]
pub async fn put_bot(State(api): State<Api>, InnerApp(app): InnerApp, Path(session): Path<String>) -> ApiResult {
    let session = SessionId::parse(session)?;
    api.hooks().store.set_bot(&app.id, &session, true).await?;
    tokio::time::sleep(herald_webhooks::directory::SETTLE).await;
    Ok(ok(json!({"session": session, "bot": true})))
}

#[utoipa::path(delete, path = "/inner/bots/{session}", tag = "webhooks", params(("session" = String, Path)),
    description = "the session is no longer a bot",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"session\", \"bot\": false}}`"), super::schemas::Errors),
    security(("app_secret" = [])))]
pub async fn delete_bot(State(api): State<Api>, InnerApp(app): InnerApp, Path(session): Path<String>) -> ApiResult {
    let session = SessionId::parse(session)?;
    api.hooks().store.set_bot(&app.id, &session, false).await?;
    Ok(ok(json!({"session": session, "bot": false})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendAs {
    session: String,
    conversation_id: String,
    #[serde(rename = "type", default = "text_type")]
    msg_type: i32,
    content: String,
    client_msg_id: Option<String>,
}

fn text_type() -> i32 {
    1
}

#[utoipa::path(post, path = "/inner/send_msg", tag = "webhooks", request_body = SendAs,
    description = "sends as a session of the app (a bot answering, say), with that session's member check and every send rule; answered once stored",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"MsgID\", \"Seq\"}}`"), super::schemas::Errors),
    security(("app_secret" = [])))]
pub async fn send_as(State(api): State<Api>, InnerApp(app): InnerApp, JsonBody(body): JsonBody<SendAs>) -> ApiResult {
    let me = Identity {
        app: app.id.clone(),
        session: SessionId::parse(body.session)?,
        platform: 0,
        jti: String::new(),
        iat: 0,
        exp: u64::MAX,
    };
    let request = SendRequest {
        conv: ConvId::parse(body.conversation_id)?,
        msg_type: body.msg_type,
        status: 0,
        content: body.content,
        client_msg_id: body.client_msg_id,
    };
    let command = api.send(&me, request).await?;
    match api.commands().submit_and_wait(command).await?? {
        Reply::Message(record) => Ok(ok(json!({"MsgID": record.msg_id, "Seq": record.seq}))),
        other => Err(ApiError::internal(format!("unexpected reply to a send: {other:?}"))),
    }
}
