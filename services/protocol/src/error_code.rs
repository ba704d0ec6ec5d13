//! The numeric error codes of protocol §2, shared by the HTTP envelope and WS error frames.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    InvalidToken,
    InvalidParameter,
    Internal,
    NotAllowed,
    BadConversationType,
    ConversationNeedsMembers,
    UnsupportedProtocol,
    NotMember,
    NotFound,
    Conflict,
    TooLarge,
    RateLimited,
    RefusedBySpam,
    NotFriends,
    /// Not in the seeds: the system could not finish in time; retrying with the same key is safe.
    Unavailable,
    /// The app's before-send hook refused the message (protocol §10).
    RefusedByApp,
}

impl ErrorCode {
    pub fn code(self) -> u32 {
        match self {
            ErrorCode::InvalidToken => 10101,
            ErrorCode::InvalidParameter => 10001,
            ErrorCode::Internal => 10002,
            ErrorCode::NotAllowed => 10003,
            ErrorCode::BadConversationType => 90010,
            ErrorCode::ConversationNeedsMembers => 90011,
            ErrorCode::UnsupportedProtocol => 90013,
            ErrorCode::NotMember => 10004,
            ErrorCode::NotFound => 10005,
            ErrorCode::Conflict => 10006,
            ErrorCode::TooLarge => 10007,
            ErrorCode::RateLimited => 10008,
            ErrorCode::RefusedBySpam => 10009,
            ErrorCode::NotFriends => 1003,
            ErrorCode::Unavailable => 10010,
            ErrorCode::RefusedByApp => 10011,
        }
    }

    /// The HTTP status class of protocol §2.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidToken => 401,
            ErrorCode::InvalidParameter
            | ErrorCode::BadConversationType
            | ErrorCode::ConversationNeedsMembers
            | ErrorCode::UnsupportedProtocol => 400,
            ErrorCode::Internal => 500,
            ErrorCode::NotAllowed | ErrorCode::NotMember | ErrorCode::NotFriends | ErrorCode::RefusedByApp => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::RateLimited | ErrorCode::RefusedBySpam => 429,
            ErrorCode::Unavailable => 503,
        }
    }
}

/// An error that crosses a process boundary: a code and a text fit for the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{text}")]
pub struct WireError {
    pub code: ErrorCode,
    pub text: String,
}

impl WireError {
    pub fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }
}
