//! Domain rows the store reads and writes.

use herald_protocol::{AppId, ConvId, ConvKind, SessionId};

#[derive(Clone, PartialEq, Eq)]
pub struct AppRecord {
    pub id: AppId,
    pub org: String,
    pub name: String,
    /// SHA-256 of the app secret; the secret itself is never stored.
    pub secret_hash: Vec<u8>,
    /// HS256 key of the app's client tokens.
    pub signing_key: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for AppRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRecord")
            .field("id", &self.id)
            .field("org", &self.org)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub app: AppId,
    pub id: ConvId,
    pub kind: ConvKind,
    /// The app's own tag (seed 004: no hard limits on types).
    pub conv_type: i64,
    pub name: String,
    pub avatar: String,
    pub owner: SessionId,
    pub open: bool,
    pub archived: bool,
    pub created_at: i64,
}

/// A partition owner's claim: appends under an epoch lower than the scope's highest are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub scope: String,
    pub epoch: u64,
}
