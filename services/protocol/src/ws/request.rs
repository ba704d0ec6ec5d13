//! The client requests of `/ws` (protocol §5): one variant per action, each with its typed
//! parameters, parsed from the frame's bytes once the envelope named the action.

use super::envelope::Format;
use super::fields::{Scalar, present};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// A `/ws` request, by action.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Ping,
    MsgIm(MsgIm),
    MsgRead(MsgRead),
    MsgReaders(ConvRef),
    ListHistory(ListHistory),
    MsgDelete(MsgDelete),
    ConvCreate(ConvCreate),
    ConvList(ConvList),
    ConvDelete(ConvRef),
    ConvJoin(ConvLinks),
    ConvLeave(ConvLinks),
    ConvInviteLinks(ConvLinks),
    ConvRemoveLinks(ConvLinks),
    ChatJoin(ConvRef),
    ChatLeave(ConvRef),
    ChatMsg(ChatMsg, ChatData),
    Sync(Sync),
    Typing(ConvRef),
    FriendRequest(FriendRequest),
    FriendRespond(FriendRespond),
    FriendList(FriendList),
    FriendPending(FriendList),
    FriendDelete(LinkRef),
    PresenceQuery(PresenceQuery),
    Signal(Signal),
}

/// Why a frame with a well-formed envelope is not a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    #[error("invalid param: {0}")]
    InvalidParam(String),
}

/// Every action, in the order of the protocol reference.
pub const ACTIONS: &[&str] = &[
    "msg-im",
    "msg-read",
    "msg-readers",
    "msg-listHistory",
    "msg-delete",
    "conv-create",
    "conv-list",
    "conv-delete",
    "conv-join",
    "conv-leave",
    "conv-inviteLinks",
    "conv-removeLinks",
    "chat-conv-join",
    "chat-conv-leave",
    "chat-msg-im",
    "sync",
    "typing",
    "ping",
    "friend-request",
    "friend-respond",
    "friend-list",
    "friend-pending",
    "friend-delete",
    "presence-query",
    "signal",
];

impl Request {
    /// The request a frame makes, given the action its envelope names: the parameters (and, for
    /// `chat-msg-im`, the `data`) decoded from the same bytes. An absent or null `param` counts
    /// as `{}`; `ping` reads none.
    pub fn parse(action: &str, frame: &[u8], format: Format) -> Result<Request, RequestError> {
        Ok(match action {
            "ping" => Request::Ping,
            "msg-im" => Request::MsgIm(param(frame, format)?),
            "msg-read" => Request::MsgRead(param(frame, format)?),
            "msg-readers" => Request::MsgReaders(param(frame, format)?),
            "msg-listHistory" => Request::ListHistory(param(frame, format)?),
            "msg-delete" => Request::MsgDelete(param(frame, format)?),
            "conv-create" => Request::ConvCreate(param(frame, format)?),
            "conv-list" => Request::ConvList(param(frame, format)?),
            "conv-delete" => Request::ConvDelete(param(frame, format)?),
            "conv-join" => Request::ConvJoin(param(frame, format)?),
            "conv-leave" => Request::ConvLeave(param(frame, format)?),
            "conv-inviteLinks" => Request::ConvInviteLinks(param(frame, format)?),
            "conv-removeLinks" => Request::ConvRemoveLinks(param(frame, format)?),
            "chat-conv-join" => Request::ChatJoin(param(frame, format)?),
            "chat-conv-leave" => Request::ChatLeave(param(frame, format)?),
            "chat-msg-im" => {
                let (param, data) = param_and_data(frame, format)?;
                Request::ChatMsg(param, data)
            }
            "sync" => Request::Sync(param(frame, format)?),
            "typing" => Request::Typing(param(frame, format)?),
            "friend-request" => Request::FriendRequest(param(frame, format)?),
            "friend-respond" => Request::FriendRespond(param(frame, format)?),
            "friend-list" => Request::FriendList(param(frame, format)?),
            "friend-pending" => Request::FriendPending(param(frame, format)?),
            "friend-delete" => Request::FriendDelete(param(frame, format)?),
            "presence-query" => Request::PresenceQuery(param(frame, format)?),
            "signal" => Request::Signal(param(frame, format)?),
            other => return Err(RequestError::UnknownAction(other.to_owned())),
        })
    }
}

/// The parts of a frame a request reads.
#[derive(Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>, D: Deserialize<'de>"))]
struct Body<P, D = serde::de::IgnoredAny> {
    #[serde(default)]
    param: Option<P>,
    #[serde(default)]
    data: Option<D>,
}

/// The frame's `param`, as `P`.
fn param<P: DeserializeOwned>(frame: &[u8], format: Format) -> Result<P, RequestError> {
    let body: Body<P> = format.decode(frame).map_err(RequestError::InvalidParam)?;
    or_empty(body.param)
}

/// The frame's `param` and `data`.
fn param_and_data<P: DeserializeOwned, D: DeserializeOwned>(
    frame: &[u8],
    format: Format,
) -> Result<(P, D), RequestError> {
    let body: Body<P, D> = format.decode(frame).map_err(RequestError::InvalidParam)?;
    Ok((or_empty(body.param)?, or_empty(body.data)?))
}

/// An absent or null part read as `{}`: its required fields are then reported missing.
fn or_empty<T: DeserializeOwned>(part: Option<T>) -> Result<T, RequestError> {
    match part {
        Some(value) => Ok(value),
        None => serde_json::from_str("{}").map_err(|e| RequestError::InvalidParam(e.to_string())),
    }
}

/// `msg-im`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MsgIm {
    pub conv_id: String,
    #[serde(default)]
    pub msg_key: Option<String>,
    #[serde(default)]
    pub msg_type: Scalar,
    pub msg_content: String,
}

/// `msg-read`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MsgRead {
    pub conv_id: String,
    #[serde(default)]
    pub seq: Option<u64>,
}

/// `msg-listHistory`: `offset` back from the newest, or the page before `beforeSeq`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListHistory {
    pub conv_id: String,
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub before_seq: Option<u64>,
}

/// `msg-delete`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MsgDelete {
    pub conv_id: String,
    pub msg_id: Scalar,
    #[serde(default)]
    pub for_everyone: bool,
}

/// `conv-create`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvCreate {
    #[serde(default)]
    pub conv_type: Option<String>,
    #[serde(default)]
    pub conv_key: Option<String>,
    #[serde(default)]
    pub conv_name: Option<String>,
    #[serde(default)]
    pub conv_avt: Option<String>,
    #[serde(default)]
    pub link_keys: Vec<String>,
    #[serde(default)]
    pub conversation_type: Scalar,
    #[serde(default)]
    pub open: Option<bool>,
}

/// `conv-list`: a `cursor` or `limit` key (even null) asks for the paged shape.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConvList {
    #[serde(default, deserialize_with = "present")]
    pub cursor: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub limit: Option<Option<usize>>,
}

impl ConvList {
    /// Whether the client asked for `{convs, next}` rather than the bare first page.
    pub fn paged(&self) -> bool {
        self.cursor.is_some() || self.limit.is_some()
    }
}

/// A request about one conversation (or chat room).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvRef {
    pub conv_id: String,
}

/// A membership change (`conv-join`, `conv-leave`, `conv-inviteLinks`, `conv-removeLinks`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvLinks {
    pub conv_id: String,
    #[serde(default)]
    pub link_keys: Vec<String>,
}

/// `chat-msg-im`'s `param`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMsg {
    pub conv_id: String,
    #[serde(default)]
    pub msg_key: Option<String>,
}

/// `chat-msg-im`'s `data`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatData {
    #[serde(default)]
    pub msg_type: Scalar,
    pub content: String,
}

/// `sync`: the last `Seq` the client has, per conversation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Sync {
    #[serde(default)]
    pub convs: BTreeMap<String, u64>,
}

/// `friend-request`; an `information` that is not text counts as none.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendRequest {
    pub link_key: String,
    #[serde(default)]
    pub information: Scalar,
}

/// `friend-respond`; `accept` is checked by the gateway (a boolean, or the request is refused).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendRespond {
    pub link_key: String,
    #[serde(default)]
    pub accept: Scalar,
}

/// `friend-list` and `friend-pending`: the page after the session `after`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FriendList {
    #[serde(default)]
    pub after: Option<String>,
}

/// A request about one other session (`friend-delete`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRef {
    pub link_key: String,
}

/// `signal` (protocol §10): call signalling, relayed live to the addressed sessions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signal {
    pub to: Vec<String>,
    pub kind: String,
    pub call_id: String,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// `presence-query`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceQuery {
    pub link_keys: Vec<String>,
}
