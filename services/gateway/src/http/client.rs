//! Client routes (client token): create a conversation, send, read the latest messages.

use super::extract::{Client, JsonBody};
use crate::Shared;
use crate::error::{ApiError, ApiResult, ok};
use crate::pending::Waiter;
use crate::send::{self, SendRequest};
use axum::extract::State;
use herald_protocol::{AppId, ConvId, ConvKind, ErrorCode, SessionId};
use herald_store::Conversation;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Most sessions one create request may name.
pub const MAX_CREATE_MEMBERS: usize = 10_000;
/// Messages returned by `/get_conversation_last_30_msg`.
const LAST_N: usize = 30;

pub fn new_conv_id() -> ConvId {
    ConvId::parse(uuid::Uuid::new_v4().to_string()).expect("uuid is a valid id")
}

pub fn parse_members(sessions: Vec<String>) -> Result<Vec<SessionId>, ApiError> {
    if sessions.len() > MAX_CREATE_MEMBERS {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("at most {MAX_CREATE_MEMBERS} sessions per request"),
        ));
    }
    let mut members = Vec::with_capacity(sessions.len());
    for session in sessions {
        let session = SessionId::parse(session)?;
        if !members.contains(&session) {
            members.push(session);
        }
    }
    Ok(members)
}

pub fn parse_kind(kind: Option<&str>) -> Result<ConvKind, ApiError> {
    match kind {
        None => Ok(ConvKind::Group),
        Some(kind) => ConvKind::parse(kind)
            .ok_or_else(|| ApiError::new(ErrorCode::BadConversationType, "kind must be \"group\" or \"single\"")),
    }
}

/// The app's own tag: an integer (a numeric string is accepted too); absent means 0.
pub fn parse_conv_type(value: &Value) -> Result<i64, ApiError> {
    match value {
        Value::Null => Some(0),
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ApiError::new(ErrorCode::BadConversationType, "conversation_type must be an integer"))
}

#[derive(Deserialize)]
pub struct CreateConversation {
    #[serde(default)]
    conversation_type: Value,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    sessions: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
    #[serde(default)]
    open: Option<bool>,
}

pub async fn create_conversation(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<CreateConversation>,
) -> ApiResult {
    let kind = parse_kind(body.kind.as_deref())?;
    let mut members = vec![me.session.clone()];
    for member in parse_members(body.sessions)? {
        if !members.contains(&member) {
            members.push(member);
        }
    }
    if kind == ConvKind::Single && members.len() != 2 {
        return Err(ApiError::new(
            ErrorCode::ConversationNeedsMembers,
            "a single conversation names exactly one other session",
        ));
    }
    let conv = Conversation {
        app: me.app.clone(),
        id: new_conv_id(),
        kind,
        conv_type: parse_conv_type(&body.conversation_type)?,
        name: body.name.unwrap_or_default(),
        avatar: body.avatar.unwrap_or_default(),
        owner: me.session.clone(),
        // client-created conversations are open unless asked; a single one never is
        open: body.open.unwrap_or(true) && kind == ConvKind::Group,
        archived: false,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    let id = shared.store.create_conversation(&conv, &members).await?;
    Ok(ok(json!({"ConversationId": id})))
}

#[derive(Deserialize)]
pub struct SendMsg {
    conversation_id: String,
    #[serde(default)]
    status: i32,
    #[serde(rename = "type", default)]
    msg_type: i32,
    content: String,
    #[serde(default)]
    client_msg_id: Option<String>,
}

pub async fn send_msg(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<SendMsg>,
) -> ApiResult {
    let request = SendRequest {
        conv: ConvId::parse(body.conversation_id)?,
        msg_type: body.msg_type,
        status: body.status,
        content: body.content,
        client_msg_id: body.client_msg_id,
    };
    let command = send::validate(&shared, &me, request)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    send::submit(&shared, command, Waiter::Http(tx)).await?;
    let record = rx
        .await
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "gateway shutting down, retry"))??;
    Ok(ok(json!({"MsgID": record.msg_id, "Seq": record.seq})))
}

/// 404 for an unknown conversation, 403 for a non-member.
pub async fn require_member(
    shared: &Shared,
    app: &AppId,
    conv: &ConvId,
    session: &SessionId,
) -> Result<Conversation, ApiError> {
    let conversation = shared
        .store
        .conversation(app, conv)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "conversation not found"))?;
    if !shared.store.is_member(app, conv, session).await? {
        return Err(ApiError::new(ErrorCode::NotMember, "not a member of this conversation"));
    }
    Ok(conversation)
}

#[derive(Deserialize)]
pub struct History {
    conversation_id: String,
    #[serde(default)]
    desc: bool,
}

pub async fn last_30_msgs(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<History>,
) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    require_member(&shared, &me.app, &conv, &me.session).await?;
    let mut records = shared.store.latest_messages(&me.app, &conv, LAST_N).await?;
    if !body.desc {
        records.reverse();
    }
    let msgs: Vec<_> = records.iter().map(|r| r.to_wire()).collect();
    Ok(ok(json!({"Msg": msgs})))
}
