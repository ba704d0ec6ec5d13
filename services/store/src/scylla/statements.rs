//! Every statement the store runs, prepared once at start: idempotence declared (so the driver may
//! retry it), a timeout, a page size for reads, and `LOCAL_SERIAL` for lightweight transactions.
//! The texts are in `cql.rs`.
//!
//! Fenced writes bind their own `USING TIMESTAMP` (see `fence.rs`); the max-registers
//! (`conversation_heads`, `read_cursors`, `revocation_days`) bind the value itself as timestamp, so
//! the highest value wins whatever the order of arrival.

use super::cql::{self, Cql, Kind, Prepared};
use crate::StoreError;
use scylla::client::session::Session;
use scylla::statement::{Consistency, SerialConsistency};
use std::time::Duration;

/// Rows per page of every read.
pub const PAGE_SIZE: i32 = 1000;

pub(crate) struct Preparer<'a> {
    session: &'a Session,
    timeout: Duration,
}

impl Preparer<'_> {
    pub(crate) async fn prepare<const N: usize>(&self, cql: &Cql<N>) -> Result<Prepared<N>, StoreError> {
        let mut statement = self
            .session
            .prepare(cql.text)
            .await
            .map_err(|err| match StoreError::from(err) {
                StoreError::Fatal(message) => StoreError::Fatal(format!(
                    "prepare {} `{}`: {message} (has `herald migrate` run on this keyspace?)",
                    cql.name, cql.text
                )),
                other => other,
            })?;
        statement.set_page_size(PAGE_SIZE);
        match cql.kind {
            Kind::Read | Kind::Write => {
                statement.set_is_idempotent(true);
                statement.set_request_timeout(Some(self.timeout));
            }
            Kind::SerialRead => {
                statement.set_is_idempotent(true);
                statement.set_consistency(Consistency::LocalSerial);
                statement.set_request_timeout(Some(self.timeout * 2));
            }
            Kind::Lwt => {
                statement.set_is_idempotent(false);
                statement.set_serial_consistency(Some(SerialConsistency::LocalSerial));
                statement.set_request_timeout(Some(self.timeout * 2));
            }
        }
        Ok(Prepared {
            statement,
            kind: cql.kind,
        })
    }
}

pub(crate) fn preparer(session: &Session, timeout: Duration) -> Preparer<'_> {
    Preparer { session, timeout }
}

/// The statements of the log, conversations and apps (`001_init.cql`).
pub struct Statements {
    pub app_insert: Prepared<16>,
    pub app_select: Prepared<1>,
    pub app_set_secret: Prepared<2>,
    pub app_set_settings: Prepared<11>,
    pub secret_insert: Prepared<2>,
    pub secret_select: Prepared<1>,
    pub secret_delete: Prepared<1>,

    pub conv_insert: Prepared<9>,
    pub conv_select: Prepared<2>,
    pub convs_select: Prepared<2>,
    pub conv_set_archived: Prepared<4>,
    pub pair_insert: Prepared<4>,
    pub pair_select: Prepared<3>,

    pub member_add: Prepared<5>,
    pub member_remove: Prepared<4>,
    pub membership_add: Prepared<5>,
    pub membership_remove: Prepared<4>,
    pub member_count_set: Prepared<4>,
    pub members_select: Prepared<2>,
    pub member_select: Prepared<3>,
    pub member_counts_select: Prepared<2>,
    pub memberships_select: Prepared<2>,

    pub fence_select: Prepared<1>,
    pub fence_select_serial: Prepared<1>,
    pub fence_insert: Prepared<4>,
    pub fence_raise: Prepared<6>,
    pub fence_extend: Prepared<3>,

    pub message_insert: Prepared<13>,
    pub message_select: Prepared<4>,
    pub messages_ascending: Prepared<6>,
    pub messages_descending: Prepared<6>,
    pub seqs_ascending: Prepared<6>,
    /// (seq, msg_id) of a range: what a batch's writes would land on.
    pub slots_ascending: Prepared<6>,
    pub senders_ascending: Prepared<6>,
    pub head_set: Prepared<4>,
    pub head_select: Prepared<2>,
    pub heads_select: Prepared<2>,
    pub by_id_insert: Prepared<5>,
    pub by_id_select: Prepared<2>,
    pub key_insert: Prepared<6>,
    pub key_select: Prepared<4>,
    pub sender_counts_select: Prepared<2>,
    pub sender_counts_set: Prepared<5>,

    pub cursor_raise: Prepared<5>,
    pub cursor_select: Prepared<3>,
    pub cursors_of_session: Prepared<2>,
    pub hidden_message_insert: Prepared<4>,
    pub hidden_messages_select: Prepared<5>,
    pub hidden_conversation_upsert: Prepared<4>,
    pub hidden_conversations_of_session: Prepared<2>,
}

impl Statements {
    pub async fn prepare(session: &Session, timeout: Duration) -> Result<Self, StoreError> {
        let p = preparer(session, timeout);
        Ok(Self {
            app_insert: p.prepare(&cql::APP_INSERT).await?,
            app_select: p.prepare(&cql::APP_SELECT).await?,
            app_set_secret: p.prepare(&cql::APP_SET_SECRET).await?,
            app_set_settings: p.prepare(&cql::APP_SET_SETTINGS).await?,
            secret_insert: p.prepare(&cql::SECRET_INSERT).await?,
            secret_select: p.prepare(&cql::SECRET_SELECT).await?,
            secret_delete: p.prepare(&cql::SECRET_DELETE).await?,
            conv_insert: p.prepare(&cql::CONV_INSERT).await?,
            conv_select: p.prepare(&cql::CONV_SELECT).await?,
            convs_select: p.prepare(&cql::CONVS_SELECT).await?,
            conv_set_archived: p.prepare(&cql::CONV_SET_ARCHIVED).await?,
            pair_insert: p.prepare(&cql::PAIR_INSERT).await?,
            pair_select: p.prepare(&cql::PAIR_SELECT).await?,
            member_add: p.prepare(&cql::MEMBER_ADD).await?,
            member_remove: p.prepare(&cql::MEMBER_REMOVE).await?,
            membership_add: p.prepare(&cql::MEMBERSHIP_ADD).await?,
            membership_remove: p.prepare(&cql::MEMBERSHIP_REMOVE).await?,
            member_count_set: p.prepare(&cql::MEMBER_COUNT_SET).await?,
            members_select: p.prepare(&cql::MEMBERS_SELECT).await?,
            member_select: p.prepare(&cql::MEMBER_SELECT).await?,
            member_counts_select: p.prepare(&cql::MEMBER_COUNTS_SELECT).await?,
            memberships_select: p.prepare(&cql::MEMBERSHIPS_SELECT).await?,
            fence_select: p.prepare(&cql::FENCE_SELECT).await?,
            fence_select_serial: p.prepare(&cql::FENCE_SELECT_SERIAL).await?,
            fence_insert: p.prepare(&cql::FENCE_INSERT).await?,
            fence_raise: p.prepare(&cql::FENCE_RAISE).await?,
            fence_extend: p.prepare(&cql::FENCE_EXTEND).await?,
            message_insert: p.prepare(&cql::MESSAGE_INSERT).await?,
            message_select: p.prepare(&cql::MESSAGE_SELECT).await?,
            messages_ascending: p.prepare(&cql::MESSAGES_ASCENDING).await?,
            messages_descending: p.prepare(&cql::MESSAGES_DESCENDING).await?,
            seqs_ascending: p.prepare(&cql::SEQS_ASCENDING).await?,
            slots_ascending: p.prepare(&cql::SLOTS_ASCENDING).await?,
            senders_ascending: p.prepare(&cql::SENDERS_ASCENDING).await?,
            head_set: p.prepare(&cql::HEAD_SET).await?,
            head_select: p.prepare(&cql::HEAD_SELECT).await?,
            heads_select: p.prepare(&cql::HEADS_SELECT).await?,
            by_id_insert: p.prepare(&cql::BY_ID_INSERT).await?,
            by_id_select: p.prepare(&cql::BY_ID_SELECT).await?,
            key_insert: p.prepare(&cql::KEY_INSERT).await?,
            key_select: p.prepare(&cql::KEY_SELECT).await?,
            sender_counts_select: p.prepare(&cql::SENDER_COUNTS_SELECT).await?,
            sender_counts_set: p.prepare(&cql::SENDER_COUNTS_SET).await?,
            cursor_raise: p.prepare(&cql::CURSOR_RAISE).await?,
            cursor_select: p.prepare(&cql::CURSOR_SELECT).await?,
            cursors_of_session: p.prepare(&cql::CURSORS_OF_SESSION).await?,
            hidden_message_insert: p.prepare(&cql::HIDDEN_MESSAGE_INSERT).await?,
            hidden_messages_select: p.prepare(&cql::HIDDEN_MESSAGES_SELECT).await?,
            hidden_conversation_upsert: p.prepare(&cql::HIDDEN_CONVERSATION_UPSERT).await?,
            hidden_conversations_of_session: p.prepare(&cql::HIDDEN_CONVERSATIONS_OF_SESSION).await?,
        })
    }
}

/// The statements of `002_accounts.cql`.
pub struct AccountStatements {
    pub(super) app_by_org_insert: Prepared<2>,
    pub(super) apps_by_org_select: Prepared<1>,
    pub(super) console_user_insert: Prepared<5>,
    pub(super) console_user_select: Prepared<1>,
    pub(super) org_insert: Prepared<5>,
    pub(super) org_select: Prepared<1>,
    pub(super) org_member_insert: Prepared<2>,
    pub(super) org_membership_insert: Prepared<2>,
    pub(super) org_member_select: Prepared<2>,
    pub(super) orgs_of_user: Prepared<1>,
    pub(super) server_key_insert: Prepared<2>,
    pub(super) server_key_select: Prepared<1>,
    pub(super) account_insert: Prepared<4>,
    pub(super) account_select: Prepared<2>,
    pub(super) account_set_password: Prepared<3>,
    pub(super) revocation_select: Prepared<3>,
    pub(super) revocation_upsert: Prepared<7>,
    pub(super) feed_insert: Prepared<8>,
    pub(super) feed_select: Prepared<2>,
    pub(super) day_raise: Prepared<5>,
    pub(super) days_select: Prepared<1>,
    pub(super) request_upsert: Prepared<5>,
    pub(super) request_select: Prepared<3>,
    pub(super) request_take: Prepared<3>,
    pub(super) request_to_insert: Prepared<3>,
    pub(super) request_to_delete: Prepared<3>,
    pub(super) requests_to_select: Prepared<4>,
    pub(super) friend_set: Prepared<5>,
    pub(super) friend_select: Prepared<3>,
    pub(super) friends_select: Prepared<2>,
}

impl AccountStatements {
    pub async fn prepare(session: &Session, timeout: Duration) -> Result<Self, StoreError> {
        let p = preparer(session, timeout);
        Ok(Self {
            app_by_org_insert: p.prepare(&cql::APP_BY_ORG_INSERT).await?,
            apps_by_org_select: p.prepare(&cql::APPS_BY_ORG_SELECT).await?,
            console_user_insert: p.prepare(&cql::CONSOLE_USER_INSERT).await?,
            console_user_select: p.prepare(&cql::CONSOLE_USER_SELECT).await?,
            org_insert: p.prepare(&cql::ORG_INSERT).await?,
            org_select: p.prepare(&cql::ORG_SELECT).await?,
            org_member_insert: p.prepare(&cql::ORG_MEMBER_INSERT).await?,
            org_membership_insert: p.prepare(&cql::ORG_MEMBERSHIP_INSERT).await?,
            org_member_select: p.prepare(&cql::ORG_MEMBER_SELECT).await?,
            orgs_of_user: p.prepare(&cql::ORGS_OF_USER).await?,
            server_key_insert: p.prepare(&cql::SERVER_KEY_INSERT).await?,
            server_key_select: p.prepare(&cql::SERVER_KEY_SELECT).await?,
            account_insert: p.prepare(&cql::ACCOUNT_INSERT).await?,
            account_select: p.prepare(&cql::ACCOUNT_SELECT).await?,
            account_set_password: p.prepare(&cql::ACCOUNT_SET_PASSWORD).await?,
            revocation_select: p.prepare(&cql::REVOCATION_SELECT).await?,
            revocation_upsert: p.prepare(&cql::REVOCATION_UPSERT).await?,
            feed_insert: p.prepare(&cql::FEED_INSERT).await?,
            feed_select: p.prepare(&cql::FEED_SELECT).await?,
            day_raise: p.prepare(&cql::DAY_RAISE).await?,
            days_select: p.prepare(&cql::DAYS_SELECT).await?,
            request_upsert: p.prepare(&cql::REQUEST_UPSERT).await?,
            request_select: p.prepare(&cql::REQUEST_SELECT).await?,
            request_take: p.prepare(&cql::REQUEST_TAKE).await?,
            request_to_insert: p.prepare(&cql::REQUEST_TO_INSERT).await?,
            request_to_delete: p.prepare(&cql::REQUEST_TO_DELETE).await?,
            requests_to_select: p.prepare(&cql::REQUESTS_TO_SELECT).await?,
            friend_set: p.prepare(&cql::FRIEND_SET).await?,
            friend_select: p.prepare(&cql::FRIEND_SELECT).await?,
            friends_select: p.prepare(&cql::FRIENDS_SELECT).await?,
        })
    }
}

/// The statements of `005_webhooks.cql` (see `webhooks.rs`).
pub struct WebhookStatements {
    pub(super) endpoint_insert: Prepared<6>,
    pub(super) endpoint_select: Prepared<2>,
    pub(super) endpoints_select: Prepared<1>,
    pub(super) endpoint_delete: Prepared<2>,
    pub(super) endpoint_set_secret: Prepared<3>,
    pub(super) webhook_app_insert: Prepared<2>,
    pub(super) webhook_apps_select: Prepared<1>,
    pub(super) job_insert: Prepared<10>,
    pub(super) job_select: Prepared<6>,
    pub(super) jobs_after_lane: Prepared<4>,
    pub(super) job_retry: Prepared<9>,
    pub(super) job_kill: Prepared<7>,
    pub(super) job_replay: Prepared<7>,
    pub(super) job_delete: Prepared<6>,
    pub(super) job_key_insert: Prepared<7>,
    pub(super) job_key_select: Prepared<3>,
    pub(super) job_keys_select: Prepared<2>,
    pub(super) job_key_delete: Prepared<3>,
    pub(super) job_keys_delete: Prepared<2>,
    pub(super) dead_letter_insert: Prepared<7>,
    pub(super) dead_letters_select: Prepared<2>,
    pub(super) dead_letter_delete: Prepared<4>,
    pub(super) dead_letters_delete: Prepared<2>,
    pub(super) bot_insert: Prepared<2>,
    pub(super) bot_delete: Prepared<2>,
    pub(super) bots_select: Prepared<1>,
}

impl WebhookStatements {
    pub async fn prepare(session: &Session, timeout: Duration) -> Result<Self, StoreError> {
        let p = preparer(session, timeout);
        Ok(Self {
            endpoint_insert: p.prepare(&cql::ENDPOINT_INSERT).await?,
            endpoint_select: p.prepare(&cql::ENDPOINT_SELECT).await?,
            endpoints_select: p.prepare(&cql::ENDPOINTS_SELECT).await?,
            endpoint_delete: p.prepare(&cql::ENDPOINT_DELETE).await?,
            endpoint_set_secret: p.prepare(&cql::ENDPOINT_SET_SECRET).await?,
            webhook_app_insert: p.prepare(&cql::WEBHOOK_APP_INSERT).await?,
            webhook_apps_select: p.prepare(&cql::WEBHOOK_APPS_SELECT).await?,
            job_insert: p.prepare(&cql::JOB_INSERT).await?,
            job_select: p.prepare(&cql::JOB_SELECT).await?,
            jobs_after_lane: p.prepare(&cql::JOBS_AFTER_LANE).await?,
            job_retry: p.prepare(&cql::JOB_RETRY).await?,
            job_kill: p.prepare(&cql::JOB_KILL).await?,
            job_replay: p.prepare(&cql::JOB_REPLAY).await?,
            job_delete: p.prepare(&cql::JOB_DELETE).await?,
            job_key_insert: p.prepare(&cql::JOB_KEY_INSERT).await?,
            job_key_select: p.prepare(&cql::JOB_KEY_SELECT).await?,
            job_keys_select: p.prepare(&cql::JOB_KEYS_SELECT).await?,
            job_key_delete: p.prepare(&cql::JOB_KEY_DELETE).await?,
            job_keys_delete: p.prepare(&cql::JOB_KEYS_DELETE).await?,
            dead_letter_insert: p.prepare(&cql::DEAD_LETTER_INSERT).await?,
            dead_letters_select: p.prepare(&cql::DEAD_LETTERS_SELECT).await?,
            dead_letter_delete: p.prepare(&cql::DEAD_LETTER_DELETE).await?,
            dead_letters_delete: p.prepare(&cql::DEAD_LETTERS_DELETE).await?,
            bot_insert: p.prepare(&cql::BOT_INSERT).await?,
            bot_delete: p.prepare(&cql::BOT_DELETE).await?,
            bots_select: p.prepare(&cql::BOTS_SELECT).await?,
        })
    }
}
