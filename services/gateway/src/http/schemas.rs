//! The OpenAPI description's shared parts: the error codes and envelope every route may answer,
//! and the shapes of the routes' `data`. Route files name these in their annotations; the
//! document itself is assembled in `openapi`.

use herald_protocol::ErrorCode;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder, ResponsesBuilder};
use utoipa::{IntoResponses, ToSchema};

/// Every error code, with its HTTP status and meaning.
pub const ERROR_CODES: &[(ErrorCode, &str)] = &[
    (
        ErrorCode::InvalidToken,
        "invalid, expired or revoked token, or wrong app secret",
    ),
    (
        ErrorCode::InvalidParameter,
        "invalid parameter: wrong type, missing field, malformed JSON, unknown action",
    ),
    (ErrorCode::Internal, "internal error (no internals in the text)"),
    (
        ErrorCode::NotAllowed,
        "not allowed (e.g. removing members when not the owner, recalling another's message)",
    ),
    (ErrorCode::BadConversationType, "bad conversation type or kind"),
    (ErrorCode::ConversationNeedsMembers, "the conversation needs members"),
    (ErrorCode::UnsupportedProtocol, "unsupported `protoc` on /notify"),
    (
        ErrorCode::NotMember,
        "not a member / not permitted for this session (also: closed conversation, linkKey mismatch)",
    ),
    (ErrorCode::NotFound, "unknown conversation, message or route"),
    (
        ErrorCode::Conflict,
        "conflict: archived conversation, an id already taken",
    ),
    (
        ErrorCode::TooLarge,
        "too large: body, frame, content, page or batch over its limit",
    ),
    (
        ErrorCode::RateLimited,
        "rate limited (with Retry-After); also too many connections for one session",
    ),
    (ErrorCode::RefusedBySpam, "refused by the anti-spam rule"),
    (
        ErrorCode::NotFriends,
        "1:1 message between non-friends where the app requires friendship",
    ),
    (
        ErrorCode::Unavailable,
        "not confirmed in time or temporarily unavailable: retry (with the same key for sends)",
    ),
    (
        ErrorCode::RefusedByApp,
        "refused by the app's before-send hook (its reason follows)",
    ),
];

/// `{"code": <non-zero>, "error": "<text>"}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub code: u32,
    pub error: String,
}

/// The error answers every route may give.
pub struct Errors;

impl IntoResponses for Errors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let mut by_status: BTreeMap<u16, Vec<String>> = BTreeMap::new();
        for (code, meaning) in ERROR_CODES {
            by_status
                .entry(code.http_status())
                .or_default()
                .push(format!("{} {meaning}", code.code()));
        }
        let mut builder = ResponsesBuilder::new();
        for (status, codes) in by_status {
            let response = ResponseBuilder::new()
                .description(format!("error envelope; codes: {}", codes.join("; ")))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::<utoipa::openapi::schema::Schema>::Ref(
                            utoipa::openapi::Ref::from_schema_name("ErrorEnvelope"),
                        )))
                        .build(),
                )
                .build();
            builder = builder.response(status.to_string(), response);
        }
        builder.build().into()
    }
}

/// `MsgData` of protocol §3.
#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct MsgData {
    /// Snowflake id, as a string.
    MsgId: String,
    ConversationID: String,
    FromSession: String,
    /// RFC 3339, UTC, nanoseconds.
    SendTime: String,
    /// 0 normal, 1 deleted for the reader, 2 recalled.
    Status: i32,
    Type: i32,
    Content: String,
    /// Position in the conversation: 1, 2, 3, … without gaps.
    Seq: u64,
    /// The sender's idempotency key, when it gave one.
    ClientMsgId: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct SendMsgData {
    MsgID: String,
    Seq: u64,
}

#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct ConversationIdData {
    ConversationId: String,
}

#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct JoinedData {
    Joined: bool,
}

#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct ConversationSummary {
    ConversationID: String,
    ConversationType: i64,
    Kind: String,
    Name: String,
    Avatar: String,
    Owner: String,
    IsArchive: bool,
    LastMsg: Option<MsgData>,
    UnreadNum: u64,
    MemberCount: u64,
}

/// One page of the list, newest membership first.
#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct ConversationsData {
    Conversations: Vec<ConversationSummary>,
    /// The `cursor` of the following page; null when this is the last.
    Next: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct DetailData {
    ConversationID: String,
    LastMsgID: String,
    LastSendTime: String,
    /// True when the caller deleted it from its list.
    IsDelete: bool,
    ConversationType: i64,
    LastSendSession: String,
    IsArchive: bool,
}

#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct LastMsgIdData {
    MsgId: String,
}

/// A contiguous run of `Seq` values.
#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct MsgsData {
    Msg: Vec<MsgData>,
    /// True when the byte budget (about 1 MiB) cut the answer short: it keeps the messages
    /// nearest its anchor (the oldest of a range or of the 30 after an id, the newest of the
    /// last 30 or of the 30 before an id), still contiguous; ask again from the last one received.
    HasMore: bool,
}

/// The client token (a JWT).
#[derive(Serialize, ToSchema)]
#[schema(value_type = String)]
pub struct TokenData(String);

/// No data.
#[derive(Serialize, ToSchema)]
pub struct NullData;

#[derive(Serialize, ToSchema)]
pub struct SettingsData {
    /// `multi` (default: both connections stay) or `kick` (the older one gets a kickout push and is closed).
    login_policy: String,
    /// 1:1 messages between non-friends are refused (1003).
    require_friendship: bool,
    /// Messages to a 1:1 peer who never answered (0 = off; default 5).
    spam_unanswered_limit: u32,
    /// Sends per second per session, per gateway (0 = unlimited; default 20).
    send_rate_per_sec: f64,
    /// Burst of the send rate (default 50).
    send_burst: u32,
    /// `/user/register` and `/user/login` are open (default off, for every app: a user name is a
    /// session, so an app whose backend mints tokens must not let the public claim them).
    end_user_accounts: bool,
    /// Most members of one conversation (default 10,000): create, invite and join beyond it get 413, code 10007.
    max_members: u32,
}
