//! `/inner/*`: routes for the app's own backend, authenticated by the app secret.

use super::extract::{InnerApp, JsonBody};
use crate::Shared;
use crate::error::{ApiError, ApiResult, ok};
use axum::extract::State;
use herald_protocol::{ConvKind, ErrorCode, SessionId};
use herald_store::Conversation;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct GetToken {
    session: String,
    #[serde(default)]
    platform: u8,
}

pub async fn get_token(
    State(shared): State<Arc<Shared>>,
    InnerApp(app): InnerApp,
    JsonBody(body): JsonBody<GetToken>,
) -> ApiResult {
    let session = SessionId::parse(body.session)?;
    Ok(ok(shared.auth.mint(&app, &session, body.platform)?))
}

#[derive(Deserialize)]
pub struct CreateConversation {
    #[serde(default)]
    conversation_type: Value,
    #[serde(default)]
    sessions: Vec<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
    #[serde(default)]
    open: Option<bool>,
}

pub async fn create_conversation(
    State(shared): State<Arc<Shared>>,
    InnerApp(app): InnerApp,
    JsonBody(body): JsonBody<CreateConversation>,
) -> ApiResult {
    if body.sessions.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ConversationNeedsMembers,
            "sessions may not be empty",
        ));
    }
    let members = super::client::parse_members(body.sessions)?;
    let kind = super::client::parse_kind(body.kind.as_deref())?;
    if kind == ConvKind::Single && members.len() != 2 {
        return Err(ApiError::new(
            ErrorCode::ConversationNeedsMembers,
            "a single conversation has exactly two sessions",
        ));
    }
    let conv = Conversation {
        app: app.id.clone(),
        id: super::client::new_conv_id(),
        kind,
        conv_type: super::client::parse_conv_type(&body.conversation_type)?,
        name: body.name.unwrap_or_default(),
        avatar: body.avatar.unwrap_or_default(),
        owner: members[0].clone(),
        // closed unless asked; a single conversation is never open
        open: body.open.unwrap_or(false) && kind == ConvKind::Group,
        archived: false,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    let id = shared.store.create_conversation(&conv, &members).await?;
    Ok(ok(json!({"ConversationId": id})))
}
