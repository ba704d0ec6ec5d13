//! Every statement the store runs, prepared once at start: idempotence declared (so the driver may
//! retry it), a timeout, a page size for reads, and `LOCAL_SERIAL` for lightweight transactions.
//!
//! Fenced writes bind their own `USING TIMESTAMP` (see `fence.rs`); the max-registers
//! (`conversation_heads`, `read_cursors`, `revocation_days`) bind the value itself as timestamp, so
//! the highest value wins whatever the order of arrival.

use super::rows::{APP_COLUMNS, CONVERSATION_COLUMNS, MESSAGE_COLUMNS};
use crate::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use std::time::Duration;

/// Rows per page of every read.
pub const PAGE_SIZE: i32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A read at `LOCAL_QUORUM`, paged.
    Read,
    /// A linearizable read (`LOCAL_SERIAL`) of rows written by lightweight transactions.
    SerialRead,
    /// An idempotent upsert: safe to retry.
    Write,
    /// A lightweight transaction: not retried by the driver (a retry could report "not applied"
    /// for its own first attempt); the caller decides.
    Lwt,
}

pub(crate) struct Preparer<'a> {
    session: &'a Session,
    timeout: Duration,
}

impl Preparer<'_> {
    async fn prepare(&self, cql: &str, kind: Kind) -> Result<PreparedStatement, StoreError> {
        let mut statement = self
            .session
            .prepare(cql)
            .await
            .map_err(|err| match StoreError::from(err) {
                StoreError::Fatal(message) => StoreError::Fatal(format!(
                    "prepare `{cql}`: {message} (has `herald migrate` run on this keyspace?)"
                )),
                other => other,
            })?;
        statement.set_page_size(PAGE_SIZE);
        match kind {
            Kind::Read => {
                statement.set_is_idempotent(true);
                statement.set_request_timeout(Some(self.timeout));
            }
            Kind::SerialRead => {
                statement.set_is_idempotent(true);
                statement.set_consistency(Consistency::LocalSerial);
                statement.set_request_timeout(Some(self.timeout * 2));
            }
            Kind::Write => {
                statement.set_is_idempotent(true);
                statement.set_request_timeout(Some(self.timeout));
            }
            Kind::Lwt => {
                statement.set_is_idempotent(false);
                statement.set_serial_consistency(Some(SerialConsistency::LocalSerial));
                statement.set_request_timeout(Some(self.timeout * 2));
            }
        }
        Ok(statement)
    }

    pub(crate) async fn read(&self, cql: &str) -> Result<PreparedStatement, StoreError> {
        self.prepare(cql, Kind::Read).await
    }

    pub(crate) async fn serial_read(&self, cql: &str) -> Result<PreparedStatement, StoreError> {
        self.prepare(cql, Kind::SerialRead).await
    }

    pub(crate) async fn write(&self, cql: &str) -> Result<PreparedStatement, StoreError> {
        self.prepare(cql, Kind::Write).await
    }

    pub(crate) async fn lwt(&self, cql: &str) -> Result<PreparedStatement, StoreError> {
        self.prepare(cql, Kind::Lwt).await
    }
}

pub(crate) fn preparer(session: &Session, timeout: Duration) -> Preparer<'_> {
    Preparer { session, timeout }
}

/// The statements of the log, conversations and apps (`001_init.cql`).
pub struct Statements {
    pub app_insert: PreparedStatement,
    pub app_select: PreparedStatement,
    pub app_set_secret: PreparedStatement,
    pub app_set_settings: PreparedStatement,
    pub secret_insert: PreparedStatement,
    pub secret_select: PreparedStatement,
    pub secret_delete: PreparedStatement,

    pub conv_insert: PreparedStatement,
    pub conv_select: PreparedStatement,
    pub conv_set_archived: PreparedStatement,
    pub pair_insert: PreparedStatement,

    pub member_add: PreparedStatement,
    pub member_remove: PreparedStatement,
    pub membership_add: PreparedStatement,
    pub membership_remove: PreparedStatement,
    pub member_count_set: PreparedStatement,
    pub members_select: PreparedStatement,
    pub member_select: PreparedStatement,
    pub member_count_select: PreparedStatement,
    pub memberships_select: PreparedStatement,

    pub fence_select: PreparedStatement,
    pub fence_select_serial: PreparedStatement,
    pub fence_insert: PreparedStatement,
    pub fence_raise: PreparedStatement,
    pub fence_extend: PreparedStatement,

    pub message_insert: PreparedStatement,
    pub message_select: PreparedStatement,
    pub messages_ascending: PreparedStatement,
    pub messages_descending: PreparedStatement,
    pub seqs_ascending: PreparedStatement,
    /// (seq, msg_id) of a range: what a batch's writes would land on.
    pub slots_ascending: PreparedStatement,
    pub senders_ascending: PreparedStatement,
    pub head_set: PreparedStatement,
    pub head_select: PreparedStatement,
    pub by_id_insert: PreparedStatement,
    pub by_id_select: PreparedStatement,
    pub key_insert: PreparedStatement,
    pub key_select: PreparedStatement,
    pub sender_counts_select: PreparedStatement,
    pub sender_counts_set: PreparedStatement,

    pub cursor_raise: PreparedStatement,
    pub cursor_select: PreparedStatement,
    pub cursors_of_session: PreparedStatement,
    pub hidden_message_insert: PreparedStatement,
    pub hidden_messages_select: PreparedStatement,
    pub hidden_conversation_upsert: PreparedStatement,
    pub hidden_conversations_of_session: PreparedStatement,
}

impl Statements {
    pub async fn prepare(session: &Session, timeout: Duration) -> Result<Self, StoreError> {
        let p = preparer(session, timeout);
        let in_range = "app_id = ? AND conv_id = ? AND bucket = ? AND seq >= ? AND seq <= ?";
        Ok(Self {
            app_insert: p
                .lwt(&format!(
                    "INSERT INTO apps ({APP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
                ))
                .await?,
            app_select: p.read(&format!("SELECT {APP_COLUMNS} FROM apps WHERE app_id = ?")).await?,
            app_set_secret: p.lwt("UPDATE apps SET secret_hash = ? WHERE app_id = ? IF EXISTS").await?,
            app_set_settings: p
                .lwt(
                    "UPDATE apps SET login_policy = ?, require_friendship = ?, spam_unanswered_limit = ?, \
                     send_rate_per_sec = ?, send_burst = ?, end_user_accounts = ?, max_members = ? WHERE app_id = ? IF EXISTS",
                )
                .await?,
            secret_insert: p.write("INSERT INTO apps_by_secret (secret_hash, app_id) VALUES (?, ?)").await?,
            secret_select: p.read("SELECT app_id FROM apps_by_secret WHERE secret_hash = ?").await?,
            secret_delete: p.write("DELETE FROM apps_by_secret WHERE secret_hash = ?").await?,

            conv_insert: p
                .lwt(
                    "INSERT INTO conversations (app_id, conv_id, kind, conv_type, name, avatar, owner, open, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
                )
                .await?,
            conv_select: p
                .read(&format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE app_id = ? AND conv_id = ?"
                ))
                .await?,
            conv_set_archived: p
                .write("UPDATE conversations USING TIMESTAMP ? SET archived = ? WHERE app_id = ? AND conv_id = ?")
                .await?,
            pair_insert: p
                .lwt(
                    "INSERT INTO single_pairs (app_id, session_a, session_b, conv_id) VALUES (?, ?, ?, ?) IF NOT EXISTS",
                )
                .await?,

            member_add: p
                .write(
                    "INSERT INTO members (app_id, conv_id, session, joined_at, active) VALUES (?, ?, ?, ?, true) \
                     USING TIMESTAMP ?",
                )
                .await?,
            member_remove: p
                .write(
                    "UPDATE members USING TIMESTAMP ? SET active = false WHERE app_id = ? AND conv_id = ? AND session = ?",
                )
                .await?,
            membership_add: p
                .write(
                    "INSERT INTO members_by_session (app_id, session, conv_id, joined_at, active) \
                     VALUES (?, ?, ?, ?, true) USING TIMESTAMP ?",
                )
                .await?,
            membership_remove: p
                .write(
                    "UPDATE members_by_session USING TIMESTAMP ? SET active = false \
                     WHERE app_id = ? AND session = ? AND conv_id = ?",
                )
                .await?,
            member_count_set: p
                .write("UPDATE members USING TIMESTAMP ? SET member_count = ? WHERE app_id = ? AND conv_id = ?")
                .await?,
            members_select: p
                .read("SELECT session, active FROM members WHERE app_id = ? AND conv_id = ?")
                .await?,
            member_select: p
                .read("SELECT active FROM members WHERE app_id = ? AND conv_id = ? AND session = ?")
                .await?,
            member_count_select: p
                .read("SELECT member_count FROM members WHERE app_id = ? AND conv_id = ? LIMIT 1")
                .await?,
            memberships_select: p
                .read("SELECT conv_id, joined_at, active FROM members_by_session WHERE app_id = ? AND session = ?")
                .await?,

            fence_select: p.read("SELECT epoch, ts_reserved FROM fences WHERE scope = ?").await?,
            fence_select_serial: p.serial_read("SELECT epoch, ts_reserved FROM fences WHERE scope = ?").await?,
            fence_insert: p
                .lwt("INSERT INTO fences (scope, epoch, ts_floor, ts_reserved) VALUES (?, ?, ?, ?) IF NOT EXISTS")
                .await?,
            fence_raise: p
                .lwt(
                    "UPDATE fences SET epoch = ?, ts_floor = ?, ts_reserved = ? WHERE scope = ? \
                     IF epoch = ? AND ts_reserved = ?",
                )
                .await?,
            fence_extend: p.lwt("UPDATE fences SET ts_reserved = ? WHERE scope = ? IF epoch = ?").await?,

            message_insert: p
                .write(
                    "INSERT INTO messages (app_id, conv_id, bucket, seq, msg_id, sender, send_time, status, msg_type, \
                     content, idempotency_key, client_msg_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
                )
                .await?,
            message_select: p
                .read(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = ? AND conv_id = ? AND bucket = ? AND seq = ?"
                ))
                .await?,
            messages_ascending: p
                .read(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {in_range} ORDER BY seq ASC LIMIT ?"
                ))
                .await?,
            messages_descending: p
                .read(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {in_range} ORDER BY seq DESC LIMIT ?"
                ))
                .await?,
            seqs_ascending: p
                .read(&format!("SELECT seq FROM messages WHERE {in_range} ORDER BY seq ASC LIMIT ?"))
                .await?,
            slots_ascending: p
                .read(&format!("SELECT seq, msg_id FROM messages WHERE {in_range} ORDER BY seq ASC LIMIT ?"))
                .await?,
            senders_ascending: p
                .read(&format!("SELECT seq, sender FROM messages WHERE {in_range} ORDER BY seq ASC LIMIT ?"))
                .await?,
            head_set: p
                .write("UPDATE conversation_heads USING TIMESTAMP ? SET seq = ? WHERE app_id = ? AND conv_id = ?")
                .await?,
            head_select: p
                .read("SELECT seq FROM conversation_heads WHERE app_id = ? AND conv_id = ?")
                .await?,
            by_id_insert: p
                .write("INSERT INTO messages_by_id (app_id, msg_id, conv_id, seq) VALUES (?, ?, ?, ?) USING TIMESTAMP ?")
                .await?,
            by_id_select: p
                .read("SELECT conv_id, seq FROM messages_by_id WHERE app_id = ? AND msg_id = ?")
                .await?,
            key_insert: p
                .write(
                    "INSERT INTO idempotency_keys (app_id, conv_id, sender, idempotency_key, seq) VALUES (?, ?, ?, ?, ?) \
                     USING TIMESTAMP ?",
                )
                .await?,
            key_select: p
                .read(
                    "SELECT seq FROM idempotency_keys WHERE app_id = ? AND conv_id = ? AND sender = ? AND idempotency_key = ?",
                )
                .await?,
            sender_counts_select: p
                .read("SELECT counts, as_of FROM sender_counts WHERE app_id = ? AND conv_id = ?")
                .await?,
            sender_counts_set: p
                .write("UPDATE sender_counts USING TIMESTAMP ? SET counts = ?, as_of = ? WHERE app_id = ? AND conv_id = ?")
                .await?,

            cursor_raise: p
                .write("UPDATE read_cursors USING TIMESTAMP ? SET seq = ? WHERE app_id = ? AND session = ? AND conv_id = ?")
                .await?,
            cursor_select: p
                .read("SELECT seq FROM read_cursors WHERE app_id = ? AND session = ? AND conv_id = ?")
                .await?,
            cursors_of_session: p
                .read("SELECT conv_id, seq FROM read_cursors WHERE app_id = ? AND session = ?")
                .await?,
            hidden_message_insert: p
                .write("INSERT INTO hidden_messages (app_id, session, conv_id, seq) VALUES (?, ?, ?, ?)")
                .await?,
            hidden_messages_select: p
                .read(
                    "SELECT seq FROM hidden_messages WHERE app_id = ? AND session = ? AND conv_id = ? \
                     AND seq >= ? AND seq <= ?",
                )
                .await?,
            hidden_conversation_upsert: p
                .write("INSERT INTO hidden_conversations (app_id, session, conv_id, at_seq) VALUES (?, ?, ?, ?)")
                .await?,
            hidden_conversations_of_session: p
                .read("SELECT conv_id, at_seq FROM hidden_conversations WHERE app_id = ? AND session = ?")
                .await?,
        })
    }
}
