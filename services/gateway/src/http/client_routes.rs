//! Client routes of contract §4 (client token), seed 001 field names.

use super::extract::{Client, JsonBody};
use crate::Shared;
use crate::api::Api;
use crate::budget::Budget;
use crate::commands::{self, SendRequest};
use crate::conversations::{self as convs, CreateSpec};
use crate::error::{ApiError, ApiResult, ok};
use crate::history;
use axum::extract::State;
use herald_protocol::bus::{MembersCommand, Reply};
use herald_protocol::ws::Scalar;
use herald_protocol::ws::fields::BadMsgId;
use herald_protocol::{ConvId, ErrorCode, MsgId, timefmt};
use herald_store::MAX_PAGE;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Messages in a "30" history answer.
pub const PAGE_30: u64 = 30;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateConversation {
    /// The app's own integer tag (seed 004: no hard limits).
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub(super) conversation_type: Scalar,
    /// `group` (default) or `single` (exactly one other session; one conversation per pair).
    #[serde(default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) sessions: Vec<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) avatar: Option<String>,
    #[serde(default)]
    pub(super) open: Option<bool>,
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
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<CreateConversation>,
) -> ApiResult {
    let kind = convs::parse_kind(body.kind.as_deref())?;
    let members = convs::parse_members_after(vec![me.session.clone()], body.sessions)?;
    let spec = CreateSpec {
        kind,
        conv_type: convs::parse_conv_type(&body.conversation_type)?,
        id: None,
        name: body.name.unwrap_or_default(),
        avatar: body.avatar.unwrap_or_default(),
        // client-created conversations are open unless asked
        open: body.open.unwrap_or(true),
        owner: me.session.clone(),
        members,
    };
    let id = convs::create(&shared, &me.app, spec).await?;
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
    let command = commands::send(&shared, &me, request).await?;
    match commands::submit_and_wait(&shared, command).await?? {
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
pub async fn check_joined(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<ConvOnly>,
) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    Ok(ok(
        json!({"Joined": shared.store.is_member(&me.app, &conv, &me.session).await?}),
    ))
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
pub async fn joined(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<Joined>,
) -> ApiResult {
    let after = body
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(convs::parse_cursor)
        .transpose()?;
    let limit = body.limit.unwrap_or(convs::LIST_PAGE_DEFAULT);
    let (list, mut next) = convs::list(&shared, &me, after.as_ref(), limit).await?;
    let mut budget = Budget::reply(list.len());
    let mut conversations = Vec::with_capacity(list.len());
    let mut last_listed = None;
    for s in &list {
        let entry = json!({
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
        });
        if !budget.admit(&entry) {
            // cut short by bytes: the next page starts after the last entry listed
            next = last_listed;
            break;
        }
        last_listed = Some(s.cursor());
        conversations.push(entry);
    }
    let next = next.as_ref().map(convs::cursor_text);
    Ok(ok(json!({"Conversations": conversations, "Next": next})))
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
pub async fn detail(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<ConvOnly>,
) -> ApiResult {
    let conv_id = ConvId::parse(body.conversation_id)?;
    let conv = convs::require_member(&shared, &me, &conv_id).await?;
    let last = shared.store.latest_messages(&me.app, &conv_id, 1).await?.pop();
    let hidden = convs::is_hidden(&shared, &me, &conv_id).await?;
    Ok(ok(json!({
        "ConversationID": conv.id,
        "LastMsgID": last.as_ref().map(|m| m.msg_id.to_string()).unwrap_or_default(),
        "LastSendTime": last.as_ref().map(|m| timefmt::rfc3339_nanos(m.send_time)).unwrap_or_default(),
        "IsDelete": hidden,
        "ConversationType": conv.conv_type,
        "LastSendSession": last.as_ref().map(|m| m.from.to_string()).unwrap_or_default(),
        "IsArchive": conv.archived,
    })))
}

/// Joins or leaves through the sequencer, so the change is ordered with the messages.
async fn membership(shared: &Shared, me: &crate::Identity, conv: ConvId, change: MembersCommand) -> ApiResult {
    let command = Api::new(shared, me).membership(conv.clone(), change).await?;
    commands::submit_and_wait(shared, command).await??;
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
pub async fn join(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<ConvOnly>,
) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    let session = me.session.clone();
    membership(&shared, &me, conv, MembersCommand::Join { session }).await
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
pub async fn leave(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<ConvOnly>,
) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    let session = me.session.clone();
    membership(&shared, &me, conv, MembersCommand::Leave { session }).await
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
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<ConvOnly>,
) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    convs::require_member(&shared, &me, &conv).await?;
    let last = shared.store.latest_messages(&me.app, &conv, 1).await?.pop();
    Ok(ok(
        json!({"MsgId": last.map(|m| m.msg_id.to_string()).unwrap_or_default()}),
    ))
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

async fn latest(shared: &Shared, me: &crate::Identity, body: Latest, count: u64) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    let page = Api::new(shared, me).newest_page(&conv, |last| last, count).await?;
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
pub async fn last_30(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<Latest>,
) -> ApiResult {
    latest(&shared, &me, body, PAGE_30).await
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
pub async fn lastone_msg(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<Latest>,
) -> ApiResult {
    latest(&shared, &me, body, 1).await
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
pub async fn by_range(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<ByRange>,
) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    convs::require_member(&shared, &me, &conv).await?;
    let api = Api::new(&shared, &me);
    let start = api
        .seq_of(&conv, parse_msg_id(&body.start_msg_id, "start_msg_id")?)
        .await?;
    let end = api.seq_of(&conv, parse_msg_id(&body.end_msg_id, "end_msg_id")?).await?;
    let (low, high) = (start.min(end), start.max(end));
    if high - low >= MAX_PAGE as u64 {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("a range holds at most {MAX_PAGE} messages"),
        ));
    }
    let mut budget = Budget::reply(MAX_PAGE);
    let page = history::page_from_oldest(&shared, &me, &conv, low, high, &mut budget).await?;
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
pub async fn before_id(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<AroundId>,
) -> ApiResult {
    around_id(&shared, &me, body, Around::Before).await
}

/// Which side of the message the two "30 around" routes read.
enum Around {
    Before,
    After,
}

/// The 30 messages before or after `msg_id`; a page cut by bytes keeps those nearest to it.
async fn around_id(shared: &Shared, me: &crate::Identity, body: AroundId, side: Around) -> ApiResult {
    let conv = ConvId::parse(body.conversation_id)?;
    convs::require_member(shared, me, &conv).await?;
    let seq = Api::new(shared, me)
        .seq_of(&conv, parse_msg_id(&body.msg_id, "msg_id")?)
        .await?;
    let mut budget = Budget::reply(PAGE_30 as usize);
    let page = match side {
        Around::Before => {
            let (from, to) = (seq.saturating_sub(PAGE_30).max(1), seq.saturating_sub(1));
            if to == 0 {
                history::Page {
                    msgs: Vec::new(),
                    cut: false,
                }
            } else {
                history::page_from_newest(shared, me, &conv, from, to, &mut budget).await?
            }
        }
        Around::After => {
            let (from, to) = (seq.saturating_add(1), seq.saturating_add(PAGE_30));
            history::page_from_oldest(shared, me, &conv, from, to, &mut budget).await?
        }
    };
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
pub async fn after_id(
    State(shared): State<Arc<Shared>>,
    Client(me): Client,
    JsonBody(body): JsonBody<AroundId>,
) -> ApiResult {
    around_id(&shared, &me, body, Around::After).await
}
