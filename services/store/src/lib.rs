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
pub use model::{AppRecord, Conversation, Fence};

use async_trait::async_trait;
use herald_protocol::{AppId, ConvId, MessageRecord, SessionId};

/// Most messages one history read returns.
pub const MAX_PAGE: usize = 1000;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts the app unless one with its id exists; true when inserted.
    async fn create_app_if_absent(&self, app: &AppRecord) -> Result<bool, StoreError>;
    async fn app(&self, id: &AppId) -> Result<Option<AppRecord>, StoreError>;
    async fn app_by_secret_hash(&self, secret_hash: &[u8]) -> Result<Option<AppRecord>, StoreError>;
    /// Replaces the app's secret hash (rotation); false when the app does not exist.
    async fn set_app_secret_hash(&self, id: &AppId, secret_hash: &[u8]) -> Result<bool, StoreError>;

    /// Creates the conversation with its members. For a `single` conversation the pair is
    /// deduplicated: when the two sessions already share one, its id is returned and nothing is written.
    async fn create_conversation(&self, conv: &Conversation, members: &[SessionId]) -> Result<ConvId, StoreError>;
    async fn conversation(&self, app: &AppId, conv: &ConvId) -> Result<Option<Conversation>, StoreError>;
    async fn members(&self, app: &AppId, conv: &ConvId) -> Result<Vec<SessionId>, StoreError>;
    async fn is_member(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<bool, StoreError>;

    /// Raises the fence of `fence.scope` to `fence.epoch`; fails with `Fenced` if a higher epoch holds it.
    /// A sequencer claims before it reads any conversation head, so no older owner can append after.
    async fn claim_fence(&self, fence: &Fence) -> Result<(), StoreError>;
    /// Appends (upserts) a batch, refused with `Fenced` once a higher epoch has claimed the scope.
    /// Durable when it returns.
    async fn append(&self, fence: &Fence, records: &[MessageRecord]) -> Result<(), StoreError>;
    /// The highest `Seq` of the conversation, 0 when empty.
    async fn last_seq(&self, app: &AppId, conv: &ConvId) -> Result<u64, StoreError>;
    /// Stored messages of `conv` matching any (sender, idempotency key) pair.
    async fn find_idempotent(
        &self,
        app: &AppId,
        conv: &ConvId,
        keys: &[(SessionId, String)],
    ) -> Result<Vec<MessageRecord>, StoreError>;
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
}
