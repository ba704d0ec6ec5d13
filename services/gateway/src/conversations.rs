//! Conversation and history reads and conversation creation, shared by the HTTP routes and the
//! `/ws` actions. Reads go to the store directly; members only.

use crate::error::ApiError;
use crate::{Identity, Shared};
use herald_protocol::{ConvId, ConvKind, ErrorCode, MessageRecord, MsgData, SessionId, msg};
use herald_store::{ConvSummary, Conversation, DEFAULT_MAX_MEMBERS, MAX_PAGE};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Most sessions one create request may name.
pub const MAX_CREATE_MEMBERS: usize = 10_000;
/// Members listed per conversation in `conv-list`.
pub const MAX_LISTED_LINKS: usize = 100;

pub struct CreateSpec {
    pub kind: ConvKind,
    pub conv_type: i64,
    /// Requested id (seed 000 `convKey`); generated when absent.
    pub id: Option<ConvId>,
    pub name: String,
    pub avatar: String,
    pub open: bool,
    pub owner: SessionId,
    pub members: Vec<SessionId>,
}

pub fn new_conv_id() -> ConvId {
    ConvId::parse(uuid::Uuid::new_v4().to_string()).expect("uuid is a valid id")
}

pub fn parse_members(sessions: Vec<String>) -> Result<Vec<SessionId>, ApiError> {
    parse_members_after(Vec::new(), sessions)
}

/// `first` (already parsed, distinct), then the parsed `sessions` not among them: in order,
/// each once, in linear time.
pub fn parse_members_after(first: Vec<SessionId>, sessions: Vec<String>) -> Result<Vec<SessionId>, ApiError> {
    if sessions.len() > MAX_CREATE_MEMBERS {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("at most {MAX_CREATE_MEMBERS} sessions per request"),
        ));
    }
    let mut seen: HashSet<SessionId> = first.iter().cloned().collect();
    let mut members = first;
    members.reserve(sessions.len());
    for session in sessions {
        let session = SessionId::parse(session)?;
        if seen.insert(session.clone()) {
            members.push(session);
        }
    }
    Ok(members)
}

/// 413 / 10007 when a conversation of `members` would exceed the app's `max_members`.
pub async fn check_member_cap(shared: &Shared, app: &herald_protocol::AppId, members: usize) -> Result<(), ApiError> {
    let max = shared
        .auth
        .app(app)
        .await?
        .map_or(DEFAULT_MAX_MEMBERS, |app| app.settings.max_members);
    if members > max as usize {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("a conversation has at most {max} members"),
        ));
    }
    Ok(())
}

pub fn parse_kind(kind: Option<&str>) -> Result<ConvKind, ApiError> {
    match kind {
        None => Ok(ConvKind::Group),
        Some(kind) => ConvKind::parse(kind).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadConversationType,
                "kind must be \"group\" (\"multi\") or \"single\"",
            )
        }),
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

/// Creates a conversation; a `single` one between the same two sessions is returned as it is.
pub async fn create(shared: &Shared, app: &herald_protocol::AppId, spec: CreateSpec) -> Result<ConvId, ApiError> {
    check_member_cap(shared, app, spec.members.len()).await?;
    if spec.kind == ConvKind::Single && spec.members.len() != 2 {
        return Err(ApiError::new(
            ErrorCode::ConversationNeedsMembers,
            "a single conversation has exactly two sessions",
        ));
    }
    if let Some(id) = &spec.id
        && let Some(existing) = shared.store.conversation(app, id).await?
    {
        return if shared.store.is_member(app, &existing.id, &spec.owner).await? {
            Ok(existing.id)
        } else {
            Err(ApiError::new(ErrorCode::Conflict, "a conversation with this id exists"))
        };
    }
    let conv = Conversation {
        app: app.clone(),
        id: spec.id.unwrap_or_else(new_conv_id),
        kind: spec.kind,
        conv_type: spec.conv_type,
        name: spec.name,
        avatar: spec.avatar,
        owner: spec.owner,
        open: spec.open && spec.kind == ConvKind::Group,
        archived: false,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    metrics::counter!("herald_conversations_created_total").increment(1);
    Ok(shared.store.create_conversation(&conv, &spec.members).await?)
}

/// 404 for an unknown conversation, 403 for a non-member.
pub async fn require_member(shared: &Shared, me: &Identity, conv: &ConvId) -> Result<Conversation, ApiError> {
    let conversation = shared
        .store
        .conversation(&me.app, conv)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "conversation not found"))?;
    if !shared.store.is_member(&me.app, conv, &me.session).await? {
        return Err(ApiError::new(ErrorCode::NotMember, "not a member of this conversation"));
    }
    Ok(conversation)
}

/// Messages as `me` sees them: those it deleted for itself are tombstones (`Status` 1, no content).
pub async fn render(
    shared: &Shared,
    me: &Identity,
    conv: &ConvId,
    records: Vec<MessageRecord>,
) -> Result<Vec<MsgData>, ApiError> {
    let (Some(low), Some(high)) = (records.iter().map(|r| r.seq).min(), records.iter().map(|r| r.seq).max()) else {
        return Ok(Vec::new());
    };
    let hidden = shared.store.hidden_seqs(&me.app, &me.session, conv, low, high).await?;
    Ok(records
        .iter()
        .map(|record| {
            let mut wire = record.to_wire();
            if hidden.contains(&record.seq) && wire.status == msg::status::NORMAL {
                wire.status = msg::status::DELETED_FOR_ME;
                wire.content.clear();
            }
            wire
        })
        .collect())
}

/// `Seq` in `from..=to` (clamped to the page cap), oldest first, rendered for `me`.
pub async fn range(
    shared: &Shared,
    me: &Identity,
    conv: &ConvId,
    from: u64,
    to: u64,
) -> Result<Vec<MsgData>, ApiError> {
    if to < from {
        return Ok(Vec::new());
    }
    let records = shared
        .store
        .messages_in_range(&me.app, conv, from, to, MAX_PAGE)
        .await?;
    render(shared, me, conv, records).await
}

/// The conversations `me` sees in its list (deleted ones stay hidden until a new message).
pub async fn list(shared: &Shared, me: &Identity) -> Result<Vec<ConvSummary>, ApiError> {
    let mut list = shared.store.conversations_of(&me.app, &me.session).await?;
    list.retain(|summary| !summary.is_hidden());
    Ok(list)
}

pub fn conv_json(conv: &Conversation) -> Value {
    json!({
        "convId": conv.id,
        "convType": conv.kind.as_str(),
        "conversationType": conv.conv_type,
        "convName": conv.name,
        "convAvt": conv.avatar,
        "owner": conv.owner,
        "open": conv.open,
        "isArchive": conv.archived,
    })
}
