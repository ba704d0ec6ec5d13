//! Conversation requests as both transports read them: members, kinds, tags, list cursors, and
//! a conversation as `/ws` shows it. The operations themselves are `Api`'s (`api/conversations.rs`).

use crate::error::ApiError;
use herald_protocol::ws::Scalar;
use herald_protocol::{ConvId, ConvKind, ErrorCode, SessionId};
use herald_store::{Conversation, ListCursor};
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

/// Conversations shown per list page by default, and at most.
pub const LIST_PAGE_DEFAULT: usize = 100;
pub const LIST_PAGE_MAX: usize = herald_store::MAX_CONVERSATIONS;

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
