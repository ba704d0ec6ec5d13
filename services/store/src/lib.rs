//! The store: the message log and the state beside it, behind a few traits cut by their users
//! (`LogStore`, `QueryStore`, `DirectoryStore`, `AccountStore`, `SocialStore`, `WebhookStore`;
//! `Store` is all of them) with two backends (`sqlite`, `scylla`) that pass one conformance suite
//! (`testsuite`).
//!
//! Every write is idempotent and keyed by its natural key (messages by (app, conv, seq)), so a
//! re-applied batch changes nothing, and no operation needs a multi-row transaction: the traits are
//! implementable on ScyllaDB. A message is inserted, never overwritten by another: only its
//! tombstone (a recall, matched by `msg_id`) changes a stored message.

mod error;
mod model;
mod observe;
pub mod scylla;
pub mod sqlite;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;
mod webhooks;

pub use error::StoreError;
pub use model::{
    Account, AppRecord, AppSettings, BeforeSend, Change, ConsoleUser, ConvSummary, Conversation, Creation,
    DEFAULT_BEFORE_SEND_TIMEOUT_MS, DEFAULT_MAX_MEMBERS, Fence, FriendRequest, IdempotentLookup, ListCursor,
    LoginPolicy, Org, Revocation, RevocationFeed, RevocationKind,
};
pub use webhooks::{MAX_ENDPOINTS_PER_APP, WebhookEndpoint, WebhookJob, WebhookStore};

use async_trait::async_trait;
use herald_protocol::{AppId, ConvId, MessageRecord, MsgId, SessionId};

/// Most messages one history read returns.
pub const MAX_PAGE: usize = 1000;
/// Most conversations one list returns.
pub const MAX_CONVERSATIONS: usize = 1000;

/// The whole store: every part. For what needs several parts (the gateway, the sequencer, the
/// conformance suite); a part that needs one takes that trait. Every type with all the parts is one.
pub trait Store: LogStore + QueryStore + DirectoryStore + AccountStore + SocialStore + WebhookStore {}

impl<T: LogStore + QueryStore + DirectoryStore + AccountStore + SocialStore + WebhookStore + ?Sized> Store for T {}

/// The message log and what the sequencer reads back to plan against it: the fence, the sequenced
/// batches, the head of a conversation, the lookups a new batch is checked with. Users: the
/// sequencer (all of it); the gateway for the answers it gives from the log (a deduplicated send,
/// the head of a sync, a message named by id).
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Raises the fence of `fence.scope` to `fence.epoch`; fails with `Fenced` if a higher epoch holds it.
    /// A sequencer claims before it reads any conversation head, so no older owner can write after.
    async fn claim_fence(&self, fence: &Fence) -> Result<(), StoreError>;
    /// Applies a sequenced batch in order, refused with `Fenced` once a higher epoch has claimed
    /// the scope. Each change is idempotent; a message at a `Seq` another message holds, or a
    /// tombstone of a message that is not stored, fails the batch (`Fatal`). Durable when it returns.
    async fn apply(&self, fence: &Fence, changes: &[Change]) -> Result<(), StoreError>;
    /// The highest `Seq` of the conversation, 0 when empty.
    async fn last_seq(&self, app: &AppId, conv: &ConvId) -> Result<u64, StoreError>;
    /// Stored messages of `conv` matching any (sender, idempotency key) pair.
    async fn find_idempotent(
        &self,
        app: &AppId,
        conv: &ConvId,
        keys: &[(SessionId, herald_protocol::Text)],
    ) -> Result<Vec<MessageRecord>, StoreError>;
    /// [`Store::find_idempotent`] for several conversations in one call: what a sequencer's batch
    /// asks. By default one call per conversation, concurrently; a backend that can answer them
    /// together (SQLite: one job on a reader thread instead of one per conversation) overrides it.
    async fn find_idempotent_in(&self, lookups: Vec<IdempotentLookup>) -> Result<Vec<MessageRecord>, StoreError> {
        let calls = lookups
            .iter()
            .map(|lookup| self.find_idempotent(&lookup.app, &lookup.conv, &lookup.keys));
        Ok(futures::future::try_join_all(calls)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }
    async fn message_by_id(&self, app: &AppId, conv: &ConvId, id: MsgId) -> Result<Option<MessageRecord>, StoreError>;
    async fn read_cursor(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<u64, StoreError>;
    /// Per sender, how many messages of the conversation it sent (for the anti-spam rule of 1:1s).
    async fn sender_counts(&self, app: &AppId, conv: &ConvId) -> Result<Vec<(SessionId, u64)>, StoreError>;
}

/// What a client's history, sync and conversation list read, and the per-session hiding they
/// honour (a message or conversation deleted for one session only). Users: the gateway's history,
/// sync and list operations, and its "delete for me" actions.
#[async_trait]
pub trait QueryStore: Send + Sync + 'static {
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
    /// A page of the session's conversations, with what a list shows: newest membership first
    /// (ties by conversation id, descending), those after `after`, at most `limit` (capped at
    /// `MAX_CONVERSATIONS`).
    async fn conversations_of(
        &self,
        app: &AppId,
        session: &SessionId,
        after: Option<&ListCursor>,
        limit: usize,
    ) -> Result<Vec<ConvSummary>, StoreError>;
    /// Deletes a message for one session only.
    async fn hide_message(&self, app: &AppId, session: &SessionId, conv: &ConvId, seq: u64) -> Result<(), StoreError>;
    /// [`QueryStore::messages_in_range`] with the `Seq`s among them that `session` deleted for
    /// itself ([`QueryStore::hidden_seqs`]): what a member's history page reads, in one call
    /// (SQLite: one job on a reader thread, not two).
    async fn member_range(
        &self,
        app: &AppId,
        session: &SessionId,
        conv: &ConvId,
        (from, to): (u64, u64),
        limit: usize,
    ) -> Result<(Vec<MessageRecord>, Vec<u64>), StoreError> {
        let records = self.messages_in_range(app, conv, from, to, limit).await?;
        let hidden = match seq_span(&records) {
            Some((low, high)) => self.hidden_seqs(app, session, conv, low, high).await?,
            None => Vec::new(),
        };
        Ok((records, hidden))
    }
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

/// Who is where: apps with their secrets and settings, conversations and their members. Users:
/// the delivery worker (members), the sequencer (a conversation, its members, its app's
/// settings), the gateway's authentication and conversation routes, and `herald`'s bootstrap.
#[async_trait]
pub trait DirectoryStore: Send + Sync + 'static {
    /// Inserts the app unless one with its id exists; true when inserted.
    async fn create_app_if_absent(&self, app: &AppRecord) -> Result<bool, StoreError>;
    async fn app(&self, id: &AppId) -> Result<Option<AppRecord>, StoreError>;
    async fn app_by_secret_hash(&self, secret_hash: &[u8]) -> Result<Option<AppRecord>, StoreError>;
    /// Replaces the app's secret hash (rotation); false when the app does not exist.
    async fn set_app_secret_hash(&self, id: &AppId, secret_hash: &[u8]) -> Result<bool, StoreError>;
    /// Replaces the app's settings; false when the app does not exist.
    async fn set_app_settings(&self, id: &AppId, settings: &AppSettings) -> Result<bool, StoreError>;
    /// Creates the conversation with its members, atomically: the members are written only with a
    /// conversation written now, never into one that exists (`IdTaken`). For a `single` conversation
    /// the pair is deduplicated: when the two sessions already share one, its id is returned
    /// (`PairExists`) and nothing is written.
    async fn create_conversation(&self, conv: &Conversation, members: &[SessionId]) -> Result<Creation, StoreError>;
    /// The single conversation of `a` and `b` (either order) in `app`, if they have one: a read
    /// that never creates, for the seeds' ops that name a conversation by its peer but only read
    /// it (a stranger's read must not put a conversation in anyone's list).
    async fn single_between(&self, app: &AppId, a: &SessionId, b: &SessionId) -> Result<Option<ConvId>, StoreError>;
    async fn conversation(&self, app: &AppId, conv: &ConvId) -> Result<Option<Conversation>, StoreError>;
    async fn members(&self, app: &AppId, conv: &ConvId) -> Result<Vec<SessionId>, StoreError>;
    async fn is_member(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<bool, StoreError>;
    /// The conversation and whether `session` is one of its members, in one call: what every
    /// member-only read asks first (SQLite: one job on a reader thread, not two).
    async fn conversation_for(
        &self,
        app: &AppId,
        conv: &ConvId,
        session: &SessionId,
    ) -> Result<Option<(Conversation, bool)>, StoreError> {
        let Some(conversation) = self.conversation(app, conv).await? else {
            return Ok(None);
        };
        let member = self.is_member(app, conv, session).await?;
        Ok(Some((conversation, member)))
    }
}

/// Who may sign in and what is revoked: console users and their orgs (with the org's apps),
/// end-user accounts, server-wide keys, and the revocation feed. Users: the gateway's console,
/// account and login routes and its revocation poller.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Console users: false when the email is taken.
    async fn create_console_user(&self, user: &ConsoleUser) -> Result<bool, StoreError>;
    async fn console_user_by_email(&self, email: &str) -> Result<Option<ConsoleUser>, StoreError>;
    /// Creates an org with its owner as first member.
    async fn create_org(&self, org: &Org) -> Result<(), StoreError>;
    async fn org(&self, id: &str) -> Result<Option<Org>, StoreError>;
    async fn orgs_of(&self, user_id: &str) -> Result<Vec<Org>, StoreError>;
    async fn is_org_member(&self, org: &str, user_id: &str) -> Result<bool, StoreError>;
    async fn apps_of_org(&self, org: &str) -> Result<Vec<AppRecord>, StoreError>;
    /// A server-wide key: `fresh` is stored if none exists; the stored one is returned.
    async fn server_key(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// End-user accounts: false when the user name is taken in the app.
    async fn create_account(&self, account: &Account) -> Result<bool, StoreError>;
    async fn account(&self, app: &AppId, user_name: &SessionId) -> Result<Option<Account>, StoreError>;
    async fn set_account_password(&self, app: &AppId, user_name: &SessionId, hash: &str) -> Result<bool, StoreError>;
    /// Records a revocation (an upsert: the latest `not_before` wins).
    async fn revoke(&self, revocation: &Revocation) -> Result<(), StoreError>;
    /// The revocation feed: revocations written after `cursor` (0: from the start) that have not
    /// expired, and the cursor of the next read. The cursor is the store's, not a clock's: SQLite
    /// assigns a sequence in commit order; ScyllaDB, which has no global sequence, re-reads an
    /// overlap window of creation times (`scylla::REVOCATION_OVERLAP_NANOS`), so it may return an entry
    /// again: applying one twice must be harmless (it is: revocations only ever add).
    async fn revocations_since(&self, cursor: i64, now_secs: i64) -> Result<RevocationFeed, StoreError>;
}

/// Friend requests and friendships. Users: the gateway's friend actions and presence, and the
/// sequencer (sends that require friendship).
#[async_trait]
pub trait SocialStore: Send + Sync + 'static {
    async fn put_friend_request(&self, request: &FriendRequest) -> Result<(), StoreError>;
    /// Removes and returns the pending request from `from` to `to`.
    async fn take_friend_request(
        &self,
        app: &AppId,
        from: &SessionId,
        to: &SessionId,
    ) -> Result<Option<FriendRequest>, StoreError>;
    /// The requests sent to `to` that wait for its answer, ordered by sender, those after the
    /// sender `after` (exclusive), at most `limit`.
    async fn friend_requests_to(
        &self,
        app: &AppId,
        to: &SessionId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<FriendRequest>, StoreError>;
    /// Makes or unmakes `a` and `b` friends (both directions).
    async fn set_friends(
        &self,
        app: &AppId,
        a: &SessionId,
        b: &SessionId,
        friends: bool,
        at: i64,
    ) -> Result<(), StoreError>;
    async fn friends_of(&self, app: &AppId, session: &SessionId) -> Result<Vec<SessionId>, StoreError>;
    async fn are_friends(&self, app: &AppId, a: &SessionId, b: &SessionId) -> Result<bool, StoreError>;
}

/// The lowest and highest `Seq` of `records` (oldest first), none when empty: the range a page's
/// per-session hiding is read for.
pub(crate) fn seq_span(records: &[MessageRecord]) -> Option<(u64, u64)> {
    Some((records.first()?.seq, records.last()?.seq))
}
