//! The store: the message log and the state beside it, behind one trait with several backends.
//!
//! Every write is an idempotent upsert keyed by its natural key (messages by (app, conv, seq)), so a
//! redelivered command overwrites rather than duplicates, and no operation needs a multi-row
//! transaction: the trait is implementable on ScyllaDB.

mod error;
mod model;
pub mod sqlite;
pub mod testsuite;

pub use error::StoreError;
pub use model::{AppRecord, AppSettings, Change, ConvSummary, Conversation, Fence, LoginPolicy};

use async_trait::async_trait;
use herald_protocol::{AppId, ConvId, MessageRecord, MsgId, SessionId};

/// Most messages one history read returns.
pub const MAX_PAGE: usize = 1000;
/// Most conversations one list returns.
pub const MAX_CONVERSATIONS: usize = 1000;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts the app unless one with its id exists; true when inserted.
    async fn create_app_if_absent(&self, app: &AppRecord) -> Result<bool, StoreError>;
    async fn app(&self, id: &AppId) -> Result<Option<AppRecord>, StoreError>;
    async fn app_by_secret_hash(&self, secret_hash: &[u8]) -> Result<Option<AppRecord>, StoreError>;
    /// Replaces the app's secret hash (rotation); false when the app does not exist.
    async fn set_app_secret_hash(&self, id: &AppId, secret_hash: &[u8]) -> Result<bool, StoreError>;
    /// Replaces the app's settings; false when the app does not exist.
    async fn set_app_settings(&self, id: &AppId, settings: &AppSettings) -> Result<bool, StoreError>;

    /// Creates the conversation with its members. For a `single` conversation the pair is
    /// deduplicated: when the two sessions already share one, its id is returned and nothing is written.
    async fn create_conversation(&self, conv: &Conversation, members: &[SessionId]) -> Result<ConvId, StoreError>;
    async fn conversation(&self, app: &AppId, conv: &ConvId) -> Result<Option<Conversation>, StoreError>;
    async fn members(&self, app: &AppId, conv: &ConvId) -> Result<Vec<SessionId>, StoreError>;
    async fn is_member(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<bool, StoreError>;
    /// The session's conversations (at most `MAX_CONVERSATIONS`), with what a list shows.
    async fn conversations_of(&self, app: &AppId, session: &SessionId) -> Result<Vec<ConvSummary>, StoreError>;

    /// Raises the fence of `fence.scope` to `fence.epoch`; fails with `Fenced` if a higher epoch holds it.
    /// A sequencer claims before it reads any conversation head, so no older owner can write after.
    async fn claim_fence(&self, fence: &Fence) -> Result<(), StoreError>;
    /// Applies a sequenced batch in order, refused with `Fenced` once a higher epoch has claimed
    /// the scope. Each change is an idempotent upsert. Durable when it returns.
    async fn apply(&self, fence: &Fence, changes: &[Change]) -> Result<(), StoreError>;
    /// The highest `Seq` of the conversation, 0 when empty.
    async fn last_seq(&self, app: &AppId, conv: &ConvId) -> Result<u64, StoreError>;
    /// Stored messages of `conv` matching any (sender, idempotency key) pair.
    async fn find_idempotent(
        &self,
        app: &AppId,
        conv: &ConvId,
        keys: &[(SessionId, String)],
    ) -> Result<Vec<MessageRecord>, StoreError>;
    async fn message_by_id(&self, app: &AppId, conv: &ConvId, id: MsgId) -> Result<Option<MessageRecord>, StoreError>;
    /// The newest `limit` messages, newest first.
    async fn latest_messages(&self, app: &AppId, conv: &ConvId, limit: usize)
    -> Result<Vec<MessageRecord>, StoreError>;
    /// Messages with `Seq` in `from..=to`, oldest first, at most `limit`.
    async fn messages_in_range(
        &self,
        app: &AppId,
        conv: &ConvId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError>;
    async fn read_cursor(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<u64, StoreError>;

    /// Deletes a message for one session only.
    async fn hide_message(&self, app: &AppId, session: &SessionId, conv: &ConvId, seq: u64) -> Result<(), StoreError>;
    /// The `Seq`s in `from..=to` the session deleted for itself.
    async fn hidden_seqs(
        &self,
        app: &AppId,
        session: &SessionId,
        conv: &ConvId,
        from: u64,
        to: u64,
    ) -> Result<Vec<u64>, StoreError>;
    /// Hides the conversation from the session's list until a message after `at_seq`.
    async fn hide_conversation(
        &self,
        app: &AppId,
        session: &SessionId,
        conv: &ConvId,
        at_seq: u64,
    ) -> Result<(), StoreError>;
}
