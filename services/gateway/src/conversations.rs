//! Conversations: creation, membership checks and the paged list, shared by the HTTP routes and
//! the `/ws` actions. Reads go to the store directly; members only.

use crate::error::ApiError;
use crate::{Identity, Shared};
use herald_protocol::ws::Scalar;
use herald_protocol::{ConvId, ConvKind, ErrorCode, SessionId};
use herald_store::{ConvSummary, Conversation, Creation, DEFAULT_MAX_MEMBERS, ListCursor};
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
pub fn parse_conv_type(value: &Scalar) -> Result<i64, ApiError> {
    value
        .conv_type()
        .ok_or_else(|| ApiError::new(ErrorCode::BadConversationType, "conversation_type must be an integer"))
}

/// Creates a conversation; a `single` one between the same two sessions is returned as it is.
/// A group whose requested id is taken is refused (409 / 10006) and nobody is added to it, unless
/// the caller owns it (a retried creation gets its conversation back).
pub async fn create(shared: &Shared, app: &herald_protocol::AppId, spec: CreateSpec) -> Result<ConvId, ApiError> {
    check_member_cap(shared, app, spec.members.len()).await?;
    if spec.kind == ConvKind::Single && spec.members.len() != 2 {
        return Err(ApiError::new(
            ErrorCode::ConversationNeedsMembers,
            "a single conversation has exactly two sessions",
        ));
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
    match shared.store.create_conversation(&conv, &spec.members).await? {
        Creation::Created(id) => {
            metrics::counter!("herald_conversations_created_total").increment(1);
            Ok(id)
        }
        Creation::PairExists(id) => Ok(id),
        Creation::IdTaken => match shared.store.conversation(app, &conv.id).await? {
            Some(existing) if existing.owner == conv.owner => Ok(existing.id),
            _ => Err(ApiError::new(ErrorCode::Conflict, "a conversation with this id exists")),
        },
    }
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

/// Conversations shown per list page by default, and at most.
pub const LIST_PAGE_DEFAULT: usize = 100;
pub const LIST_PAGE_MAX: usize = herald_store::MAX_CONVERSATIONS;

/// One page of the list `me` sees (deleted ones stay hidden until a new message), and where the
/// next page starts when there may be one.
pub async fn list(
    shared: &Shared,
    me: &Identity,
    after: Option<&ListCursor>,
    limit: usize,
) -> Result<(Vec<ConvSummary>, Option<ListCursor>), ApiError> {
    let limit = limit.clamp(1, LIST_PAGE_MAX);
    let mut list = shared
        .store
        .conversations_of(&me.app, &me.session, after, limit)
        .await?;
    let next = (list.len() == limit)
        .then(|| list.last().map(ConvSummary::cursor))
        .flatten();
    list.retain(|summary| !summary.is_hidden());
    Ok((list, next))
}

/// Whether `me` deleted `conv` from its list (and no message came since); a conversation it is
/// not in counts as hidden.
pub async fn is_hidden(shared: &Shared, me: &Identity, conv: &ConvId) -> Result<bool, ApiError> {
    let mut after = None;
    loop {
        let page = shared
            .store
            .conversations_of(&me.app, &me.session, after.as_ref(), LIST_PAGE_MAX)
            .await?;
        if let Some(found) = page.iter().find(|summary| summary.conv.id == *conv) {
            return Ok(found.is_hidden());
        }
        match page.last() {
            Some(last) if page.len() == LIST_PAGE_MAX => after = Some(last.cursor()),
            _ => return Ok(true),
        }
    }
}

/// A list cursor as clients see it: opaque text.
pub fn cursor_text(cursor: &ListCursor) -> String {
    format!("{}:{}", cursor.joined_at, cursor.conv)
}

pub fn parse_cursor(text: &str) -> Result<ListCursor, ApiError> {
    let invalid = || ApiError::bad_input("cursor is not one this server gave");
    let (joined_at, conv) = text.split_once(':').ok_or_else(invalid)?;
    Ok(ListCursor {
        joined_at: joined_at.parse().map_err(|_| invalid())?,
        conv: ConvId::parse(conv).map_err(|_| invalid())?,
    })
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
