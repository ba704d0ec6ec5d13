//! Client routes of protocol §4 (client token), seed 001 field names.

use super::extract::{Client, JsonBody};
use crate::api::{AROUND_COUNT, Api, Around, CreateRequest, Creator, SendRequest};
use crate::error::{ApiError, ApiResult, ok};
use crate::{Identity, history};
use axum::extract::State;
use herald_protocol::bus::{MembersCommand, Reply};
use herald_protocol::ws::Scalar;
use herald_protocol::ws::fields::BadMsgId;
use herald_protocol::{ConvId, MsgId};
use serde::Deserialize;
use serde_json::{Value, json};

/// Messages in a "30" history answer.
pub const PAGE_30: u64 = AROUND_COUNT;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateConversation {
    /// The app's own integer tag (seed 004: no hard limits).
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    conversation_type: Scalar,
    /// `group` (default) or `single` (exactly one other session; one conversation per pair).
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

impl From<CreateConversation> for CreateRequest {
    fn from(body: CreateConversation) -> Self {
        CreateRequest {
            kind: body.kind,
            conv_type: body.conversation_type,
            sessions: body.sessions,
            id: None,
            name: body.name,
            avatar: body.avatar,
            open: body.open,
        }
    }
}

#[utoipa::path(
    post,
    path = "/create_conversation",
    tag = "client",
    request_body = CreateConversation,
    description = "the caller becomes owner and member; open unless `open: false`",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::ConversationIdData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn create_conversation(
    State(api): State<Api>,
    Client(me): Client,
    JsonBody(body): JsonBody<CreateConversation>,
) -> ApiResult {
    let id = api.create_conversation(Creator::Member(&me), body.into()).await?;
    Ok(ok(json!({"ConversationId": id})))
}

#[derive(Deserialize, utoipa::ToSchema)]
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

#[utoipa::path(
    post,
    path = "/send_msg",
    tag = "client",
    request_body = SendMsg,
    description = "answered only after the message is durably stored; retrying with the same `client_msg_id` returns the same `MsgID` and stores nothing new",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::SendMsgData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn send_msg(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<SendMsg>) -> ApiResult {
    let request = SendRequest {
        conv: ConvId::parse(body.conversation_id)?,
        msg_type: body.msg_type,
        status: body.status,
        content: body.content,
        client_msg_id: body.client_msg_id,
    };
    let command = api.send(&me, request).await?;
    match api.commands().submit_and_wait(command).await?? {
        Reply::Message(record) => Ok(ok(json!({"MsgID": record.msg_id, "Seq": record.seq}))),
        other => Err(ApiError::internal(format!("unexpected reply to a send: {other:?}"))),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConvOnly {
    conversation_id: String,
}

#[utoipa::path(
    post,
    path = "/check_joined_conversation",
    tag = "client",
    request_body = ConvOnly,
    description = "",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::JoinedData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn check_joined(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<ConvOnly>) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    Ok(ok(json!({"Joined": api.is_member(&me, &conv).await?})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Joined {
    /// `Next` of the previous page; absent (or empty) for the first page.
    #[serde(default)]
    cursor: Option<String>,
    /// Conversations per page: default 100, at most 1000.
    #[serde(default)]
    limit: Option<usize>,
}

#[utoipa::path(
    post,
    path = "/get_joined_conversation",
    tag = "client",
    request_body = Joined,
    description = "the caller's conversations with last message and unread count, newest membership first, in pages: `limit` (default 100, at most 1000) and a page stops early at about 1 MiB; `Next` is the `cursor` of the following page, null at the end",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::ConversationsData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn joined(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<Joined>) -> ApiResult {
    let entry = |s: &herald_store::ConvSummary, _| {
        json!({
            "ConversationID": s.conv.id,
            "ConversationType": s.conv.conv_type,
            "Kind": s.conv.kind.as_str(),
            "Name": s.conv.name,
            "Avatar": s.conv.avatar,
            "Owner": s.conv.owner,
            "IsArchive": s.conv.archived,
            "LastMsg": s.last.as_ref().map(|m| m.to_wire()),
            "UnreadNum": s.unread(),
            "MemberCount": s.member_count,
        })
    };
    let page = api
        .list_conversations(&me, body.cursor.as_deref(), body.limit, false, entry)
        .await?;
    Ok(ok(json!({"Conversations": page.entries, "Next": page.next})))
}

#[utoipa::path(
    post,
    path = "/get_conversation_detail",
    tag = "client",
    request_body = ConvOnly,
    description = "members only",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::DetailData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn detail(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<ConvOnly>) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    Ok(ok(api.conversation_detail(&me, &conv).await?))
}

/// Joins or leaves through the sequencer, so the change is ordered with the messages.
async fn membership(api: &Api, me: &Identity, conv: ConvId, change: MembersCommand) -> ApiResult {
    let command = api.membership(me, conv.clone(), change).await?;
    api.commands().submit_and_wait(command).await??;
    Ok(ok(json!({"ConversationId": conv})))
}

#[utoipa::path(
    post,
    path = "/join_conversation",
    tag = "client",
    request_body = ConvOnly,
    description = "open conversations only: a closed one answers 403 / 10004, an unknown one 404 / 10005",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::ConversationIdData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn join(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<ConvOnly>) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    let session = me.session.clone();
    membership(&api, &me, conv, MembersCommand::Join { session }).await
}

#[utoipa::path(
    post,
    path = "/leave_conversation",
    tag = "client",
    request_body = ConvOnly,
    description = "",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::ConversationIdData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn leave(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<ConvOnly>) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    let session = me.session.clone();
    membership(&api, &me, conv, MembersCommand::Leave { session }).await
}

#[utoipa::path(
    post,
    path = "/get_lastone_msgid",
    tag = "client",
    request_body = ConvOnly,
    description = "members only; empty when the conversation has no message",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::LastMsgIdData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn lastone_msgid(
    State(api): State<Api>,
    Client(me): Client,
    JsonBody(body): JsonBody<ConvOnly>,
) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    Ok(ok(json!({"MsgId": api.last_msg_id(&me, &conv).await?})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Latest {
    conversation_id: String,
    #[serde(default)]
    desc: bool,
}

/// `{"Msg": [...], "HasMore": cut}`, oldest first unless `desc`.
fn ordered(page: history::Page, desc: bool) -> Value {
    let mut msgs = page.msgs;
    if desc {
        msgs.reverse();
    }
    json!({"Msg": msgs, "HasMore": page.cut})
}

async fn latest(api: &Api, me: &Identity, body: Latest, count: u64) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    let page = api.newest_page(me, &conv, |last| last, count).await?;
    Ok(ok(ordered(page, body.desc)))
}

#[utoipa::path(
    post,
    path = "/get_conversation_last_30_msg",
    tag = "client",
    request_body = Latest,
    description = "`desc: false` (default) means oldest first; at most about 1 MiB: `HasMore` when the newest that fit are all",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::MsgsData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn last_30(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<Latest>) -> ApiResult {
    latest(&api, &me, body, PAGE_30).await
}

#[utoipa::path(
    post,
    path = "/get_conversation_lastone_msg",
    tag = "client",
    request_body = Latest,
    description = "0 or 1 message",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::MsgsData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn lastone_msg(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<Latest>) -> ApiResult {
    latest(&api, &me, body, 1).await
}

fn parse_msg_id(value: &Scalar, field: &str) -> Result<MsgId, ApiError> {
    value.msg_id().map_err(|bad| match bad {
        BadMsgId::WrongType => ApiError::bad_input(format!("{field} must be a message id string")),
        BadMsgId::Malformed => ApiError::bad_input(format!("{field} is not a message id")),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ByRange {
    conversation_id: String,
    #[schema(value_type = String)]
    start_msg_id: Scalar,
    #[schema(value_type = String)]
    end_msg_id: Scalar,
    #[serde(default)]
    desc: bool,
}

#[utoipa::path(
    post,
    path = "/get_conversation_msg_by_range",
    tag = "client",
    request_body = ByRange,
    description = "inclusive; at most 1000 messages (413 / 10007 beyond) and about 1 MiB: when the bytes cut it short the oldest that fit come, contiguous, with `HasMore`: ask again from the last one received",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::MsgsData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn by_range(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<ByRange>) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    let start = parse_msg_id(&body.start_msg_id, "start_msg_id");
    let end = parse_msg_id(&body.end_msg_id, "end_msg_id");
    let page = api.range(&me, &conv, start, end).await?;
    Ok(ok(ordered(page, body.desc)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AroundId {
    conversation_id: String,
    #[schema(value_type = String)]
    msg_id: Scalar,
    #[serde(default)]
    desc: bool,
}

#[utoipa::path(
    post,
    path = "/get_conversation_30msg_before_the_id",
    tag = "client",
    request_body = AroundId,
    description = "the 30 before `msg_id`, excluding it; at most about 1 MiB: `HasMore` when only the nearest fit",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::MsgsData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn before_id(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<AroundId>) -> ApiResult {
    around_id(&api, &me, body, Around::Before).await
}

/// The 30 messages before or after `msg_id`; a page cut by bytes keeps those nearest to it.
async fn around_id(api: &Api, me: &Identity, body: AroundId, side: Around) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    let id = parse_msg_id(&body.msg_id, "msg_id");
    let page = api.around(me, &conv, id, side).await?;
    Ok(ok(ordered(page, body.desc)))
}

#[utoipa::path(
    post,
    path = "/get_conversation_30msg_after_the_id",
    tag = "client",
    request_body = AroundId,
    description = "the 30 after `msg_id`, excluding it; at most about 1 MiB: `HasMore` when only the nearest fit",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::MsgsData), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn after_id(State(api): State<Api>, Client(me): Client, JsonBody(body): JsonBody<AroundId>) -> ApiResult {
    around_id(&api, &me, body, Around::After).await
}
