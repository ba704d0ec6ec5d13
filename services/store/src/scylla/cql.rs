//! Every CQL statement the store runs, in one place, each with its kind and the number of values
//! it binds.
//!
//! No ScyllaDB node runs on the machines that build Herald, so the statements are checked without
//! one: the number of values travels in the type (`Cql<N>` prepares into `Prepared<N>`, which
//! only accepts an `N`-tuple), and `check.rs` tests each text against the schema of
//! `schema/cql/` (tables and columns exist, bind markers number `N`, the partition key is named,
//! the app id is part of every tenant's partition key, conditions only on lightweight
//! transactions). What those tests cannot see — how a node plans and answers each statement — only
//! the conformance suite on a node (`HERALD_TEST_SCYLLA`) shows.

use scylla::serialize::row::SerializeRow;
use scylla::serialize::value::SerializeValue;
use scylla::statement::prepared::PreparedStatement;

/// How a statement runs (see `statements.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A read at `LOCAL_QUORUM`, paged.
    Read,
    /// A linearizable read (`LOCAL_SERIAL`) of rows written by lightweight transactions.
    SerialRead,
    /// An idempotent upsert or delete: safe to retry.
    Write,
    /// A lightweight transaction: not retried by the driver (a retry could report "not applied"
    /// for its own first attempt); the caller decides.
    Lwt,
}

/// A statement's text and kind; `N` is the number of values it binds.
#[derive(Debug, Clone, Copy)]
pub struct Cql<const N: usize> {
    pub name: &'static str,
    pub kind: Kind,
    pub text: &'static str,
}

/// A statement as the shape tests see it.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub name: &'static str,
    pub kind: Kind,
    pub arity: usize,
    pub text: &'static str,
}

/// A prepared statement that binds `N` values.
#[derive(Debug, Clone)]
pub struct Prepared<const N: usize> {
    pub statement: PreparedStatement,
    pub kind: Kind,
}

/// Values for a statement with `N` bind markers: tuples of `N` CQL values.
pub trait Values<const N: usize>: SerializeRow {}

macro_rules! values {
    ($($n:literal: ($($t:ident),*);)*) => {
        $(impl<$($t: SerializeValue),*> Values<$n> for ($($t,)*) {})*
    };
}

values! {
    0: ();
    1: (A);
    2: (A, B);
    3: (A, B, C);
    4: (A, B, C, D);
    5: (A, B, C, D, E);
    6: (A, B, C, D, E, F);
    7: (A, B, C, D, E, F, G);
    8: (A, B, C, D, E, F, G, H);
    9: (A, B, C, D, E, F, G, H, I);
    10: (A, B, C, D, E, F, G, H, I, J);
    11: (A, B, C, D, E, F, G, H, I, J, K);
    12: (A, B, C, D, E, F, G, H, I, J, K, L);
    13: (A, B, C, D, E, F, G, H, I, J, K, L, M);
    14: (A, B, C, D, E, F, G, H, I, J, K, L, M, N);
    15: (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O);
    16: (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P);
}

/// The columns `rows::MessageRow` reads, in its order.
macro_rules! message_columns {
    () => {
        "app_id, conv_id, seq, msg_id, sender, send_time, status, msg_type, content, idempotency_key, client_msg_id"
    };
}

/// The columns `rows::ConversationRow` reads, in its order.
macro_rules! conversation_columns {
    () => {
        "app_id, conv_id, kind, conv_type, name, avatar, owner, open, archived, created_at"
    };
}

/// The columns `rows::AppRow` reads and `rows::app_values` writes, in their order.
macro_rules! app_columns {
    () => {
        "app_id, org_id, name, secret_hash, signing_key, created_at, login_policy, require_friendship, \
         spam_unanswered_limit, send_rate_per_sec, send_burst, end_user_accounts, max_members, before_send_url, \
         before_send_timeout_ms, before_send_fail_open"
    };
}

/// The columns `webhooks::JobRow` reads, in its order.
macro_rules! job_columns {
    () => {
        "lane, lane_order, event_id, body, attempts, first_at_ms, next_at_ms, created_at_ms, dead, last_error, trace"
    };
}

/// One job of `webhook_jobs`, by its whole primary key.
macro_rules! job_key {
    () => {
        "app_id = ? AND endpoint_id = ? AND log_partition = ? AND lane = ? AND lane_order = ? AND event_id = ?"
    };
}

/// One bucket of a conversation's log, `Seq`s `from..=to`.
macro_rules! in_range {
    () => {
        "app_id = ? AND conv_id = ? AND bucket = ? AND seq >= ? AND seq <= ?"
    };
}

macro_rules! catalogue {
    ($($(#[doc = $doc:literal])* $name:ident: $kind:ident, $n:literal = $text:expr;)*) => {
        $(
            $(#[doc = $doc])*
            pub const $name: Cql<$n> = Cql { name: stringify!($name), kind: Kind::$kind, text: $text };
        )*
        /// Every statement, for the shape tests.
        #[cfg(test)]
        pub const ALL: &[Entry] = &[$(Entry { name: stringify!($name), kind: Kind::$kind, arity: $n, text: $text }),*];
    };
}

catalogue! {
    // apps (001_init.cql); the secret itself is never stored
    APP_INSERT: Lwt, 16 = concat!(
        "INSERT INTO apps (", app_columns!(), ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
    );
    APP_SELECT: Read, 1 = concat!("SELECT ", app_columns!(), " FROM apps WHERE app_id = ?");
    APP_SET_SECRET: Lwt, 2 = "UPDATE apps SET secret_hash = ? WHERE app_id = ? IF EXISTS";
    APP_SET_SETTINGS: Lwt, 11 = "UPDATE apps SET login_policy = ?, require_friendship = ?, spam_unanswered_limit = ?, \
        send_rate_per_sec = ?, send_burst = ?, end_user_accounts = ?, max_members = ?, before_send_url = ?, \
        before_send_timeout_ms = ?, before_send_fail_open = ? WHERE app_id = ? IF EXISTS";
    SECRET_INSERT: Write, 2 = "INSERT INTO apps_by_secret (secret_hash, app_id) VALUES (?, ?)";
    SECRET_SELECT: Read, 1 = "SELECT app_id FROM apps_by_secret WHERE secret_hash = ?";
    SECRET_DELETE: Write, 1 = "DELETE FROM apps_by_secret WHERE secret_hash = ?";

    // conversations and their members
    CONV_INSERT: Lwt, 9 = "INSERT INTO conversations (app_id, conv_id, kind, conv_type, name, avatar, owner, open, \
        created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS";
    CONV_SELECT: Read, 2 = concat!(
        "SELECT ", conversation_columns!(), " FROM conversations WHERE app_id = ? AND conv_id = ?"
    );
    /// Several conversations of an app at once (a page of a conversation list).
    CONVS_SELECT: Read, 2 = concat!(
        "SELECT ", conversation_columns!(), " FROM conversations WHERE app_id = ? AND conv_id IN ?"
    );
    CONV_SET_ARCHIVED: Write, 4 =
        "UPDATE conversations USING TIMESTAMP ? SET archived = ? WHERE app_id = ? AND conv_id = ?";
    PAIR_INSERT: Lwt, 4 =
        "INSERT INTO single_pairs (app_id, session_a, session_b, conv_id) VALUES (?, ?, ?, ?) IF NOT EXISTS";
    /// The pair's conversation id (session_a < session_b), for a lookup that never creates.
    PAIR_SELECT: Read, 3 = "SELECT conv_id FROM single_pairs WHERE app_id = ? AND session_a = ? AND session_b = ?";
    /// Goes in one logged batch with `MEMBERSHIP_ADD`.
    MEMBER_ADD: Write, 5 = "INSERT INTO members (app_id, conv_id, session, joined_at, active) \
        VALUES (?, ?, ?, ?, true) USING TIMESTAMP ?";
    /// Goes in one logged batch with `MEMBERSHIP_REMOVE`.
    MEMBER_REMOVE: Write, 4 =
        "UPDATE members USING TIMESTAMP ? SET active = false WHERE app_id = ? AND conv_id = ? AND session = ?";
    MEMBERSHIP_ADD: Write, 5 = "INSERT INTO members_by_session (app_id, session, conv_id, joined_at, active) \
        VALUES (?, ?, ?, ?, true) USING TIMESTAMP ?";
    MEMBERSHIP_REMOVE: Write, 4 = "UPDATE members_by_session USING TIMESTAMP ? SET active = false \
        WHERE app_id = ? AND session = ? AND conv_id = ?";
    MEMBER_COUNT_SET: Write, 4 =
        "UPDATE members USING TIMESTAMP ? SET member_count = ? WHERE app_id = ? AND conv_id = ?";
    MEMBERS_SELECT: Read, 2 = "SELECT session, active FROM members WHERE app_id = ? AND conv_id = ?";
    MEMBER_SELECT: Read, 3 = "SELECT active FROM members WHERE app_id = ? AND conv_id = ? AND session = ?";
    /// The member counts of several conversations (static columns: one row per partition).
    MEMBER_COUNTS_SELECT: Read, 2 =
        "SELECT DISTINCT app_id, conv_id, member_count FROM members WHERE app_id = ? AND conv_id IN ?";
    MEMBERSHIPS_SELECT: Read, 2 =
        "SELECT conv_id, joined_at, active FROM members_by_session WHERE app_id = ? AND session = ?";

    // fences (see fence.rs)
    FENCE_SELECT: Read, 1 = "SELECT epoch, ts_reserved FROM fences WHERE scope = ?";
    FENCE_SELECT_SERIAL: SerialRead, 1 = "SELECT epoch, ts_reserved FROM fences WHERE scope = ?";
    FENCE_INSERT: Lwt, 4 =
        "INSERT INTO fences (scope, epoch, ts_floor, ts_reserved) VALUES (?, ?, ?, ?) IF NOT EXISTS";
    FENCE_RAISE: Lwt, 6 = "UPDATE fences SET epoch = ?, ts_floor = ?, ts_reserved = ? WHERE scope = ? \
        IF epoch = ? AND ts_reserved = ?";
    FENCE_EXTEND: Lwt, 3 = "UPDATE fences SET ts_reserved = ? WHERE scope = ? IF epoch = ?";

    // the log
    MESSAGE_INSERT: Write, 13 = "INSERT INTO messages (app_id, conv_id, bucket, seq, msg_id, sender, send_time, \
        status, msg_type, content, idempotency_key, client_msg_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
        USING TIMESTAMP ?";
    MESSAGE_SELECT: Read, 4 = concat!(
        "SELECT ", message_columns!(), " FROM messages WHERE app_id = ? AND conv_id = ? AND bucket = ? AND seq = ?"
    );
    MESSAGES_ASCENDING: Read, 6 = concat!(
        "SELECT ", message_columns!(), " FROM messages WHERE ", in_range!(), " ORDER BY seq ASC LIMIT ?"
    );
    MESSAGES_DESCENDING: Read, 6 = concat!(
        "SELECT ", message_columns!(), " FROM messages WHERE ", in_range!(), " ORDER BY seq DESC LIMIT ?"
    );
    SEQS_ASCENDING: Read, 6 = concat!("SELECT seq FROM messages WHERE ", in_range!(), " ORDER BY seq ASC LIMIT ?");
    /// (seq, msg_id) of a range: what a batch's writes would land on.
    SLOTS_ASCENDING: Read, 6 = concat!(
        "SELECT seq, msg_id FROM messages WHERE ", in_range!(), " ORDER BY seq ASC LIMIT ?"
    );
    SENDERS_ASCENDING: Read, 6 = concat!(
        "SELECT seq, sender FROM messages WHERE ", in_range!(), " ORDER BY seq ASC LIMIT ?"
    );
    HEAD_SET: Write, 4 = "UPDATE conversation_heads USING TIMESTAMP ? SET seq = ? WHERE app_id = ? AND conv_id = ?";
    HEAD_SELECT: Read, 2 = "SELECT seq FROM conversation_heads WHERE app_id = ? AND conv_id = ?";
    /// The heads of several conversations (a page of a conversation list).
    HEADS_SELECT: Read, 2 = "SELECT conv_id, seq FROM conversation_heads WHERE app_id = ? AND conv_id IN ?";
    BY_ID_INSERT: Write, 5 =
        "INSERT INTO messages_by_id (app_id, msg_id, conv_id, seq) VALUES (?, ?, ?, ?) USING TIMESTAMP ?";
    BY_ID_SELECT: Read, 2 = "SELECT conv_id, seq FROM messages_by_id WHERE app_id = ? AND msg_id = ?";
    KEY_INSERT: Write, 6 = "INSERT INTO idempotency_keys (app_id, conv_id, sender, idempotency_key, seq) \
        VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?";
    KEY_SELECT: Read, 4 = "SELECT seq FROM idempotency_keys WHERE app_id = ? AND conv_id = ? AND sender = ? \
        AND idempotency_key = ?";
    SENDER_COUNTS_SELECT: Read, 2 = "SELECT counts, as_of FROM sender_counts WHERE app_id = ? AND conv_id = ?";
    SENDER_COUNTS_SET: Write, 5 =
        "UPDATE sender_counts USING TIMESTAMP ? SET counts = ?, as_of = ? WHERE app_id = ? AND conv_id = ?";

    // per-session state
    CURSOR_RAISE: Write, 5 = "UPDATE read_cursors USING TIMESTAMP ? SET seq = ? \
        WHERE app_id = ? AND session = ? AND conv_id = ?";
    CURSOR_SELECT: Read, 3 = "SELECT seq FROM read_cursors WHERE app_id = ? AND session = ? AND conv_id = ?";
    CURSORS_OF_SESSION: Read, 2 = "SELECT conv_id, seq FROM read_cursors WHERE app_id = ? AND session = ?";
    HIDDEN_MESSAGE_INSERT: Write, 4 =
        "INSERT INTO hidden_messages (app_id, session, conv_id, seq) VALUES (?, ?, ?, ?)";
    HIDDEN_MESSAGES_SELECT: Read, 5 = "SELECT seq FROM hidden_messages WHERE app_id = ? AND session = ? \
        AND conv_id = ? AND seq >= ? AND seq <= ?";
    HIDDEN_CONVERSATION_UPSERT: Write, 4 =
        "INSERT INTO hidden_conversations (app_id, session, conv_id, at_seq) VALUES (?, ?, ?, ?)";
    HIDDEN_CONVERSATIONS_OF_SESSION: Read, 2 =
        "SELECT conv_id, at_seq FROM hidden_conversations WHERE app_id = ? AND session = ?";

    // accounts, tenancy, friends, revocations (002_accounts.cql)
    APP_BY_ORG_INSERT: Write, 2 = "INSERT INTO apps_by_org (org_id, app_id) VALUES (?, ?)";
    APPS_BY_ORG_SELECT: Read, 1 = "SELECT app_id FROM apps_by_org WHERE org_id = ?";
    CONSOLE_USER_INSERT: Lwt, 5 = "INSERT INTO console_users (email, user_id, password_hash, nick, created_at) \
        VALUES (?, ?, ?, ?, ?) IF NOT EXISTS";
    CONSOLE_USER_SELECT: Read, 1 =
        "SELECT user_id, email, password_hash, nick, created_at FROM console_users WHERE email = ?";
    ORG_INSERT: Lwt, 5 =
        "INSERT INTO orgs (org_id, name, description, owner, created_at) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS";
    ORG_SELECT: Read, 1 = "SELECT org_id, name, description, owner, created_at FROM orgs WHERE org_id = ?";
    ORG_MEMBER_INSERT: Write, 2 = "INSERT INTO org_members (org_id, user_id) VALUES (?, ?)";
    ORG_MEMBERSHIP_INSERT: Write, 2 = "INSERT INTO org_members_by_user (user_id, org_id) VALUES (?, ?)";
    ORG_MEMBER_SELECT: Read, 2 = "SELECT user_id FROM org_members WHERE org_id = ? AND user_id = ?";
    ORGS_OF_USER: Read, 1 = "SELECT org_id FROM org_members_by_user WHERE user_id = ?";
    SERVER_KEY_INSERT: Lwt, 2 = "INSERT INTO server_keys (name, key) VALUES (?, ?) IF NOT EXISTS";
    SERVER_KEY_SELECT: SerialRead, 1 = "SELECT key FROM server_keys WHERE name = ?";
    ACCOUNT_INSERT: Lwt, 4 = "INSERT INTO accounts (app_id, user_name, password_hash, created_at) \
        VALUES (?, ?, ?, ?) IF NOT EXISTS";
    ACCOUNT_SELECT: Read, 2 = "SELECT password_hash, created_at FROM accounts WHERE app_id = ? AND user_name = ?";
    ACCOUNT_SET_PASSWORD: Lwt, 3 =
        "UPDATE accounts SET password_hash = ? WHERE app_id = ? AND user_name = ? IF EXISTS";
    REVOCATION_SELECT: Read, 3 =
        "SELECT not_before, expires_at FROM revocations WHERE app_id = ? AND kind = ? AND key = ?";
    REVOCATION_UPSERT: Write, 7 = "INSERT INTO revocations (app_id, kind, key, not_before, expires_at, created_at) \
        VALUES (?, ?, ?, ?, ?, ?) USING TTL ?";
    FEED_INSERT: Write, 8 = "INSERT INTO revocation_feed (day, created_at, app_id, kind, key, not_before, \
        expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?";
    FEED_SELECT: Read, 2 = "SELECT created_at, app_id, kind, key, not_before, expires_at FROM revocation_feed \
        WHERE day = ? AND created_at > ?";
    DAY_RAISE: Write, 5 = "UPDATE revocation_days USING TIMESTAMP ? AND TTL ? SET max_expires_at = ? \
        WHERE feed = ? AND day = ?";
    DAYS_SELECT: Read, 1 = "SELECT day, max_expires_at FROM revocation_days WHERE feed = ?";
    REQUEST_UPSERT: Write, 5 = "INSERT INTO friend_requests (app_id, from_session, to_session, information, \
        created_at) VALUES (?, ?, ?, ?, ?)";
    REQUEST_SELECT: Read, 3 = "SELECT information, created_at FROM friend_requests \
        WHERE app_id = ? AND from_session = ? AND to_session = ?";
    /// Taking a request: only one of two racing takers sees `[applied]`.
    REQUEST_TAKE: Lwt, 3 =
        "DELETE FROM friend_requests WHERE app_id = ? AND from_session = ? AND to_session = ? IF EXISTS";
    REQUEST_TO_INSERT: Write, 3 = "INSERT INTO friend_requests_to (app_id, to_session, from_session) VALUES (?, ?, ?)";
    REQUEST_TO_DELETE: Write, 3 =
        "DELETE FROM friend_requests_to WHERE app_id = ? AND to_session = ? AND from_session = ?";
    /// A recipient's pending requests, from the sender after the one named (`''`: the first).
    REQUESTS_TO_SELECT: Read, 4 = "SELECT from_session FROM friend_requests_to \
        WHERE app_id = ? AND to_session = ? AND from_session > ? LIMIT ?";
    FRIEND_SET: Write, 5 = "INSERT INTO friends (app_id, session, friend, since, active) VALUES (?, ?, ?, ?, ?)";
    FRIEND_SELECT: Read, 3 = "SELECT active FROM friends WHERE app_id = ? AND session = ? AND friend = ?";
    FRIENDS_SELECT: Read, 2 = "SELECT friend, active FROM friends WHERE app_id = ? AND session = ?";

    // webhooks (005_webhooks.cql; see webhooks.rs)
    ENDPOINT_INSERT: Write, 6 = "INSERT INTO webhook_endpoints (app_id, endpoint_id, url, events, secret, \
        created_at_ms) VALUES (?, ?, ?, ?, ?, ?)";
    ENDPOINT_SELECT: Read, 2 = "SELECT app_id, endpoint_id, url, events, secret, created_at_ms \
        FROM webhook_endpoints WHERE app_id = ? AND endpoint_id = ?";
    ENDPOINTS_SELECT: Read, 1 = "SELECT app_id, endpoint_id, url, events, secret, created_at_ms \
        FROM webhook_endpoints WHERE app_id = ?";
    ENDPOINT_DELETE: Write, 2 = "DELETE FROM webhook_endpoints WHERE app_id = ? AND endpoint_id = ?";
    ENDPOINT_SET_SECRET: Lwt, 3 =
        "UPDATE webhook_endpoints SET secret = ? WHERE app_id = ? AND endpoint_id = ? IF EXISTS";
    WEBHOOK_APP_INSERT: Write, 2 = "INSERT INTO webhook_apps (feed, app_id) VALUES (?, ?)";
    WEBHOOK_APPS_SELECT: Read, 1 = "SELECT app_id FROM webhook_apps WHERE feed = ?";
    /// Never the cells the queue changes (see `005_webhooks.cql`): a re-enqueue cannot reset them.
    JOB_INSERT: Write, 10 = "INSERT INTO webhook_jobs (app_id, endpoint_id, log_partition, lane, lane_order, \
        event_id, body, first_at_ms, created_at_ms, trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    JOB_SELECT: Read, 6 = concat!("SELECT ", job_columns!(), " FROM webhook_jobs WHERE ", job_key!());
    /// A partition's jobs in lane order, from the lane after the one named (`''`: from the first).
    JOBS_AFTER_LANE: Read, 4 = concat!(
        "SELECT ", job_columns!(), " FROM webhook_jobs \
         WHERE app_id = ? AND endpoint_id = ? AND log_partition = ? AND lane > ?"
    );
    JOB_RETRY: Write, 9 = concat!(
        "UPDATE webhook_jobs SET attempts = ?, next_at_ms = ?, last_error = ? WHERE ", job_key!()
    );
    JOB_KILL: Write, 7 = concat!("UPDATE webhook_jobs SET dead = true, last_error = ? WHERE ", job_key!());
    JOB_REPLAY: Write, 7 = concat!(
        "UPDATE webhook_jobs SET dead = false, attempts = 0, next_at_ms = ?, last_error = '' WHERE ", job_key!()
    );
    JOB_DELETE: Write, 6 = concat!("DELETE FROM webhook_jobs WHERE ", job_key!());
    JOB_KEY_INSERT: Write, 7 = "INSERT INTO webhook_job_keys (app_id, endpoint_id, event_id, log_partition, lane, \
        lane_order, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)";
    JOB_KEY_SELECT: Read, 3 = "SELECT log_partition, lane, lane_order, created_at_ms FROM webhook_job_keys \
        WHERE app_id = ? AND endpoint_id = ? AND event_id = ?";
    JOB_KEYS_SELECT: Read, 2 = "SELECT event_id, log_partition, lane, lane_order, created_at_ms \
        FROM webhook_job_keys WHERE app_id = ? AND endpoint_id = ?";
    JOB_KEY_DELETE: Write, 3 = "DELETE FROM webhook_job_keys WHERE app_id = ? AND endpoint_id = ? AND event_id = ?";
    /// A deleted endpoint's keys, once its jobs are gone.
    JOB_KEYS_DELETE: Write, 2 = "DELETE FROM webhook_job_keys WHERE app_id = ? AND endpoint_id = ?";
    DEAD_LETTER_INSERT: Write, 7 = "INSERT INTO webhook_dead_letters (app_id, endpoint_id, created_at_ms, event_id, \
        log_partition, lane, lane_order) VALUES (?, ?, ?, ?, ?, ?, ?)";
    /// Oldest first (the clustering order).
    DEAD_LETTERS_SELECT: Read, 2 = "SELECT event_id, log_partition, lane, lane_order, created_at_ms \
        FROM webhook_dead_letters WHERE app_id = ? AND endpoint_id = ?";
    DEAD_LETTER_DELETE: Write, 4 = "DELETE FROM webhook_dead_letters \
        WHERE app_id = ? AND endpoint_id = ? AND created_at_ms = ? AND event_id = ?";
    DEAD_LETTERS_DELETE: Write, 2 = "DELETE FROM webhook_dead_letters WHERE app_id = ? AND endpoint_id = ?";
    BOT_INSERT: Write, 2 = "INSERT INTO webhook_bots (app_id, session) VALUES (?, ?)";
    BOT_DELETE: Write, 2 = "DELETE FROM webhook_bots WHERE app_id = ? AND session = ?";
    BOTS_SELECT: Read, 1 = "SELECT session FROM webhook_bots WHERE app_id = ?";

    // herald migrate (migrate.rs), run unprepared
    /// The whole ledger: one row per migration, a handful of rows.
    MIGRATIONS_SELECT: Read, 0 = "SELECT version, checksum FROM schema_migrations";
    MIGRATION_RECORD: Write, 3 = "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
        VALUES (?, ?, ?, toTimestamp(now()))";
    MIGRATION_LOCK: Lwt, 2 =
        "INSERT INTO schema_migrations_lock (name, holder) VALUES ('migrations', ?) IF NOT EXISTS USING TTL ?";
    MIGRATION_UNLOCK: Lwt, 1 = "DELETE FROM schema_migrations_lock WHERE name = 'migrations' IF holder = ?";
    /// What the node says about itself (on Cassandra, without `supported_features`).
    SERVER_LOCAL: Read, 0 = "SELECT * FROM system.local WHERE key = 'local'";
    /// The features every node of the cluster has (ScyllaDB only).
    SERVER_ENABLED_FEATURES: Read, 0 = "SELECT value FROM system.scylla_local WHERE key = 'enabled_features'";
    /// Whether a keyspace uses tablets (a row with `initial_tablets` set) or vnodes (ScyllaDB only).
    KEYSPACE_TABLETS: Read, 1 =
        "SELECT initial_tablets FROM system_schema.scylla_keyspaces WHERE keyspace_name = ?";
}
