//! `/inner/*`: routes for the app's own backend, authenticated by the app secret.

use super::extract::{InnerApp, JsonBody};
use crate::accounts::Accounts;
use crate::api::{Api, Creator};
use crate::app_settings;
use crate::conversations as convs;
use crate::error::{ApiError, ApiResult, ok};
use crate::pending::Waiter;
use axum::extract::State;
use herald_protocol::{ConvId, ErrorCode, SessionId};
use herald_store::AppRecord;
use serde::Deserialize;
use serde_json::{Value, json};

/// Conversations one archive request may name.
pub const MAX_ARCHIVE_BATCH: usize = 1000;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct GetToken {
    session: String,
    #[serde(default)]
    platform: u8,
}

#[utoipa::path(
    post,
    path = "/inner/get_token",
    tag = "inner",
    request_body = GetToken,
    description = "mints a client token (JWT signed with the app's key)",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::TokenData), super::schemas::Errors),
    security(("app_secret" = []))
)]
pub async fn get_token(
    State(accounts): State<Accounts>,
    InnerApp(app): InnerApp,
    JsonBody(body): JsonBody<GetToken>,
) -> ApiResult {
    let session = SessionId::parse(body.session)?;
    Ok(ok(accounts.auth.mint(&app, &session, body.platform)?))
}

/// The same body as `/create_conversation`; here `sessions` may not be empty.
pub use super::client_routes::CreateConversation;

#[utoipa::path(
    post,
    path = "/inner/create_conversation",
    operation_id = "inner_create_conversation",
    tag = "inner",
    request_body = CreateConversation,
    description = "`sessions` may not be empty (90011); closed unless `open: true`; the first session owns it",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::ConversationIdData), super::schemas::Errors),
    security(("app_secret" = []))
)]
pub async fn create_conversation(
    State(api): State<Api>,
    InnerApp(app): InnerApp,
    JsonBody(body): JsonBody<CreateConversation>,
) -> ApiResult {
    let id = api.create_conversation(Creator::App(&app.id), body.into()).await?;
    Ok(ok(json!({"ConversationId": id})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConvSessions {
    conversation_id: String,
    sessions: Vec<String>,
}

async fn change_members(api: &Api, app: &AppRecord, body: ConvSessions, kick: bool) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    let sessions = convs::parse_members(body.sessions)?;
    let command = api.app_membership(&app.id, conv.clone(), sessions, kick).await?;
    api.commands().submit_and_wait(command).await??;
    Ok(ok(json!({"ConversationId": conv})))
}

#[utoipa::path(
    post,
    path = "/inner/kickout_conversation",
    tag = "inner",
    request_body = ConvSessions,
    description = "kicked sessions can no longer read or send",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::ConversationIdData), super::schemas::Errors),
    security(("app_secret" = []))
)]
pub async fn kickout(
    State(api): State<Api>,
    InnerApp(app): InnerApp,
    JsonBody(body): JsonBody<ConvSessions>,
) -> ApiResult {
    change_members(&api, &app, body, true).await
}

#[utoipa::path(
    post,
    path = "/inner/join_conversation",
    operation_id = "inner_join_conversation",
    tag = "inner",
    request_body = ConvSessions,
    description = "",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::ConversationIdData), super::schemas::Errors),
    security(("app_secret" = []))
)]
pub async fn join(
    State(api): State<Api>,
    InnerApp(app): InnerApp,
    JsonBody(body): JsonBody<ConvSessions>,
) -> ApiResult {
    change_members(&api, &app, body, false).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetArchive {
    conversation_ids: Vec<String>,
    is_archive: bool,
}

#[utoipa::path(
    post,
    path = "/inner/set_archive_conversations",
    tag = "inner",
    request_body = SetArchive,
    description = "archived conversations refuse new messages (409 / 10006) until unarchived; at most 1000 ids",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::NullData), super::schemas::Errors),
    security(("app_secret" = []))
)]
pub async fn set_archive(
    State(api): State<Api>,
    InnerApp(app): InnerApp,
    JsonBody(body): JsonBody<SetArchive>,
) -> ApiResult {
    if body.conversation_ids.len() > MAX_ARCHIVE_BATCH {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("at most {MAX_ARCHIVE_BATCH} conversations per request"),
        ));
    }
    let commands = api.archive(&app.id, body.conversation_ids, body.is_archive).await?;
    let mut waiting = Vec::with_capacity(commands.len());
    for command in commands {
        let (tx, rx) = tokio::sync::oneshot::channel();
        api.commands().submit(command, Waiter::Http(tx)).await?;
        waiting.push(rx);
    }
    for rx in waiting {
        rx.await
            .map_err(|_| ApiError::new(ErrorCode::Unavailable, "gateway shutting down, retry"))??;
    }
    Ok(ok(Value::Null))
}

#[utoipa::path(
    get,
    path = "/inner/settings",
    tag = "inner",
    description = "the app's settings",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::SettingsData), super::schemas::Errors),
    security(("app_secret" = []))
)]
pub async fn get_settings(InnerApp(app): InnerApp) -> ApiResult {
    Ok(ok(app_settings::to_json(&app.settings)))
}

#[utoipa::path(
    put,
    path = "/inner/settings",
    tag = "inner",
    request_body = crate::app_settings::SettingsUpdate,
    description = "changes apply within seconds on every gateway; unknown fields are refused",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::SettingsData), super::schemas::Errors),
    security(("app_secret" = []))
)]
pub async fn put_settings(
    State(accounts): State<Accounts>,
    InnerApp(app): InnerApp,
    JsonBody(update): JsonBody<app_settings::SettingsUpdate>,
) -> ApiResult {
    Ok(ok(accounts.update_settings(&app, update).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RevokeSession {
    session: String,
}

#[utoipa::path(
    post,
    path = "/inner/revoke_session",
    tag = "inner",
    request_body = RevokeSession,
    description = "revokes every token of the session issued until now (e.g. the user was deleted) and closes its connections, on every gateway within seconds",
    responses((status = 200, description = "`{\"code\": 0}`", body = super::schemas::NullData), super::schemas::Errors),
    security(("app_secret" = []))
)]
pub async fn revoke_session(
    State(accounts): State<Accounts>,
    InnerApp(app): InnerApp,
    JsonBody(body): JsonBody<RevokeSession>,
) -> ApiResult {
    let session = SessionId::parse(body.session)?;
    let now = crate::auth::now_secs() as i64;
    let revocation = herald_store::Revocation {
        app: app.id.clone(),
        kind: herald_store::RevocationKind::Session,
        key: session.to_string(),
        not_before: crate::auth::now_millis() as i64 + 1,
        expires_at: now + accounts.auth.token_ttl().as_secs() as i64 + 1,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    accounts.revocations.revoke(revocation).await?;
    Ok(ok(Value::Null))
}
