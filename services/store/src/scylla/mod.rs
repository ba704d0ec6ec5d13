//! The cluster store: ScyllaDB (or Cassandra), one keyspace, the schema of `schema/cql/`.
//!
//! Messages live in partitions of 1000 consecutive `Seq`s of a conversation (`buckets.rs`); every
//! write is an idempotent upsert with an explicit timestamp, so a replayed batch overwrites itself;
//! a partition owner's batches are fenced by a compare-and-set row per scope and epoch-ordered
//! write timestamps (`fence.rs`); the head of a conversation is a max-register plus a bounded scan
//! of what a crash may have left above it (`log.rs`). The design, table by table:
//! `schema/README.md`.

mod accounts;
mod apply;
mod apps;
mod buckets;
#[cfg(test)]
mod check;
mod config;
mod conversations;
mod cql;
mod error;
mod fence;
mod list;
mod log;
mod migrate;
mod paging;
mod retry;
mod rows;
mod statements;
mod store;
mod tablets;
mod webhooks;

pub use accounts::REVOCATION_OVERLAP_NANOS;
pub use buckets::BUCKET_WIDTH;
pub use config::ScyllaConfig;
pub use migrate::{MIGRATIONS, Migration, drop_keyspace, migrate};
pub use store::ScyllaStore;

use crate::{
    Account, AccountStore, AppRecord, AppSettings, Change, ConsoleUser, ConvSummary, Conversation, Creation,
    DirectoryStore, Fence, FriendRequest, ListCursor, LogStore, Org, QueryStore, Revocation, RevocationFeed,
    SocialStore, StoreError,
};
use async_trait::async_trait;
use herald_protocol::{AppId, ConvId, MessageRecord, MsgId, SessionId};

#[async_trait]
impl LogStore for ScyllaStore {
    async fn claim_fence(&self, fence: &Fence) -> Result<(), StoreError> {
        self.timed("write", async { self.raise_fence(fence).await.map(|_| ()) })
            .await
    }

    async fn apply(&self, fence: &Fence, changes: &[Change]) -> Result<(), StoreError> {
        self.timed("write", self.apply_batch(fence, changes)).await
    }

    async fn last_seq(&self, app: &AppId, conv: &ConvId) -> Result<u64, StoreError> {
        self.timed("read", self.last_seq_of(app, conv)).await
    }

    async fn find_idempotent(
        &self,
        app: &AppId,
        conv: &ConvId,
        keys: &[(SessionId, herald_protocol::Text)],
    ) -> Result<Vec<MessageRecord>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.timed("read", self.find_keys(app, conv, keys)).await
    }

    async fn message_by_id(&self, app: &AppId, conv: &ConvId, id: MsgId) -> Result<Option<MessageRecord>, StoreError> {
        self.timed("read", self.by_id(app, conv, id)).await
    }

    async fn read_cursor(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<u64, StoreError> {
        self.timed("read", async {
            let values = (app.as_str(), session.as_str(), conv.as_str());
            let row: Option<(Option<i64>,)> = self.first(&self.st.cursor_select, values).await?;
            Ok(row.and_then(|(seq,)| seq).map(buckets::seq_from_cql).unwrap_or(0))
        })
        .await
    }

    async fn sender_counts(&self, app: &AppId, conv: &ConvId) -> Result<Vec<(SessionId, u64)>, StoreError> {
        self.timed("read", self.senders(app, conv)).await
    }
}

#[async_trait]
impl QueryStore for ScyllaStore {
    async fn latest_messages(
        &self,
        app: &AppId,
        conv: &ConvId,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        self.timed("read", self.latest(app, conv, limit)).await
    }

    async fn messages_in_range(
        &self,
        app: &AppId,
        conv: &ConvId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        self.timed("read", self.range(app, conv, from, to, limit)).await
    }

    async fn conversations_of(
        &self,
        app: &AppId,
        session: &SessionId,
        after: Option<&ListCursor>,
        limit: usize,
    ) -> Result<Vec<ConvSummary>, StoreError> {
        self.timed("read", self.list(app, session, after, limit)).await
    }

    async fn hide_message(&self, app: &AppId, session: &SessionId, conv: &ConvId, seq: u64) -> Result<(), StoreError> {
        self.timed("write", async {
            let values = (app.as_str(), session.as_str(), conv.as_str(), buckets::seq_to_cql(seq));
            self.write(&self.st.hidden_message_insert, values).await
        })
        .await
    }

    async fn hidden_seqs(
        &self,
        app: &AppId,
        session: &SessionId,
        conv: &ConvId,
        from: u64,
        to: u64,
    ) -> Result<Vec<u64>, StoreError> {
        self.timed("read", async {
            let values = (
                app.as_str(),
                session.as_str(),
                conv.as_str(),
                buckets::seq_to_cql(from),
                buckets::seq_to_cql(to),
            );
            let rows: Vec<(i64,)> = self.rows(&self.st.hidden_messages_select, values).await?;
            Ok(rows.into_iter().map(|(seq,)| buckets::seq_from_cql(seq)).collect())
        })
        .await
    }

    async fn hide_conversation(
        &self,
        app: &AppId,
        session: &SessionId,
        conv: &ConvId,
        at_seq: u64,
    ) -> Result<(), StoreError> {
        self.timed("write", async {
            let values = (
                app.as_str(),
                session.as_str(),
                conv.as_str(),
                buckets::seq_to_cql(at_seq),
            );
            self.write(&self.st.hidden_conversation_upsert, values).await
        })
        .await
    }
}

#[async_trait]
impl DirectoryStore for ScyllaStore {
    async fn create_app_if_absent(&self, app: &AppRecord) -> Result<bool, StoreError> {
        self.timed("write", self.create_app(app)).await
    }

    async fn app(&self, id: &AppId) -> Result<Option<AppRecord>, StoreError> {
        self.timed("read", self.app_row(id)).await
    }

    async fn app_by_secret_hash(&self, secret_hash: &[u8]) -> Result<Option<AppRecord>, StoreError> {
        self.timed("read", self.app_by_hash(secret_hash)).await
    }

    async fn set_app_secret_hash(&self, id: &AppId, secret_hash: &[u8]) -> Result<bool, StoreError> {
        self.timed("write", self.rotate_secret(id, secret_hash)).await
    }

    async fn set_app_settings(&self, id: &AppId, settings: &AppSettings) -> Result<bool, StoreError> {
        self.timed("write", self.update_settings(id, settings)).await
    }

    async fn create_conversation(&self, conv: &Conversation, members: &[SessionId]) -> Result<Creation, StoreError> {
        self.timed("write", self.create(conv, members)).await
    }

    async fn single_between(&self, app: &AppId, a: &SessionId, b: &SessionId) -> Result<Option<ConvId>, StoreError> {
        self.timed("read", self.pair(app, a, b)).await
    }

    async fn conversation(&self, app: &AppId, conv: &ConvId) -> Result<Option<Conversation>, StoreError> {
        self.timed("read", self.conversation_row(app, conv)).await
    }

    async fn members(&self, app: &AppId, conv: &ConvId) -> Result<Vec<SessionId>, StoreError> {
        self.timed("read", self.members_of(app, conv)).await
    }

    async fn is_member(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<bool, StoreError> {
        self.timed("read", self.member(app, conv, session)).await
    }
}

#[async_trait]
impl AccountStore for ScyllaStore {
    async fn create_console_user(&self, user: &ConsoleUser) -> Result<bool, StoreError> {
        self.timed("write", self.new_console_user(user)).await
    }

    async fn console_user_by_email(&self, email: &str) -> Result<Option<ConsoleUser>, StoreError> {
        self.timed("read", self.console_user(email)).await
    }

    async fn create_org(&self, org: &Org) -> Result<(), StoreError> {
        self.timed("write", self.new_org(org)).await
    }

    async fn org(&self, id: &str) -> Result<Option<Org>, StoreError> {
        self.timed("read", self.org_row(id)).await
    }

    async fn orgs_of(&self, user_id: &str) -> Result<Vec<Org>, StoreError> {
        self.timed("read", self.orgs_of_user(user_id)).await
    }

    async fn is_org_member(&self, org: &str, user_id: &str) -> Result<bool, StoreError> {
        self.timed("read", self.org_member(org, user_id)).await
    }

    async fn apps_of_org(&self, org: &str) -> Result<Vec<AppRecord>, StoreError> {
        self.timed("read", self.apps_of(org)).await
    }

    async fn server_key(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.timed("write", self.key_named(name, fresh)).await
    }

    async fn create_account(&self, account: &Account) -> Result<bool, StoreError> {
        self.timed("write", self.new_account(account)).await
    }

    async fn account(&self, app: &AppId, user_name: &SessionId) -> Result<Option<Account>, StoreError> {
        self.timed("read", self.account_row(app, user_name)).await
    }

    async fn set_account_password(&self, app: &AppId, user_name: &SessionId, hash: &str) -> Result<bool, StoreError> {
        self.timed("write", self.account_password(app, user_name, hash)).await
    }

    async fn revoke(&self, revocation: &Revocation) -> Result<(), StoreError> {
        self.timed("write", self.revoke_one(revocation)).await
    }

    async fn revocations_since(&self, cursor: i64, now_secs: i64) -> Result<RevocationFeed, StoreError> {
        self.timed("read", self.revocations_after(cursor, now_secs)).await
    }
}

#[async_trait]
impl SocialStore for ScyllaStore {
    async fn put_friend_request(&self, request: &FriendRequest) -> Result<(), StoreError> {
        self.timed("write", self.put_request(request)).await
    }

    async fn take_friend_request(
        &self,
        app: &AppId,
        from: &SessionId,
        to: &SessionId,
    ) -> Result<Option<FriendRequest>, StoreError> {
        self.timed("write", self.take_request(app, from, to)).await
    }

    async fn friend_requests_to(
        &self,
        app: &AppId,
        to: &SessionId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<FriendRequest>, StoreError> {
        self.timed("read", self.requests_to(app, to, after, limit)).await
    }

    async fn set_friends(
        &self,
        app: &AppId,
        a: &SessionId,
        b: &SessionId,
        friends: bool,
        at: i64,
    ) -> Result<(), StoreError> {
        self.timed("write", self.make_friends(app, a, b, friends, at)).await
    }

    async fn friends_of(&self, app: &AppId, session: &SessionId) -> Result<Vec<SessionId>, StoreError> {
        self.timed("read", self.friends_list(app, session)).await
    }

    async fn are_friends(&self, app: &AppId, a: &SessionId, b: &SessionId) -> Result<bool, StoreError> {
        self.timed("read", self.friendship(app, a, b)).await
    }
}
