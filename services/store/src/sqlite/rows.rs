//! Row ↔ domain conversions for SQLite.

use crate::{AppRecord, AppSettings, BeforeSend, Conversation, LoginPolicy, WebhookEndpoint, WebhookJob};
use herald_protocol::{AppId, ConvId, ConvKind, MessageRecord, MsgId, SessionId};
use rusqlite::Row;
use rusqlite::types::{Null, ToSqlOutput};

pub const MESSAGE_COLUMNS: &str =
    "app_id, conv_id, seq, msg_id, sender, send_time, status, msg_type, content, idempotency_key, client_msg_id";
/// The key of conversation (?1 app, ?2 conversation) in the message index `messages_by_seq`
/// (schema 010): messages are found by `ck = CONV_KEY`.
pub const CONV_KEY: &str = "(SELECT ck FROM conv_keys WHERE app_id = ?1 AND conv_id = ?2)";
pub const CONVERSATION_COLUMNS: &str =
    "app_id, conv_id, kind, conv_type, name, avatar, owner, open, archived, created_at";
pub const APP_COLUMNS: &str = "app_id, org_id, name, secret_hash, signing_key, created_at, login_policy, require_friendship, spam_unanswered_limit, send_rate_per_sec, send_burst, end_user_accounts, max_members, before_send_url, before_send_timeout_ms, before_send_fail_open";
pub const ENDPOINT_COLUMNS: &str = "app_id, endpoint_id, url, events, secret, created_at_ms";
pub const JOB_COLUMNS: &str = "app_id, endpoint_id, event_id, log_partition, lane, lane_order, body, attempts, next_at_ms, created_at_ms, dead, last_error, trace";

fn bad(column: usize, err: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(err))
}

/// A message's values in `MESSAGE_COLUMNS` order, borrowed from it (bound as `?1` .. `?11`).
pub fn message_values(r: &MessageRecord) -> [ToSqlOutput<'_>; 11] {
    [
        ToSqlOutput::from(r.app.as_str()),
        ToSqlOutput::from(r.conv.as_str()),
        ToSqlOutput::from(r.seq as i64),
        ToSqlOutput::from(r.msg_id.0 as i64),
        ToSqlOutput::from(r.from.as_str()),
        ToSqlOutput::from(r.send_time),
        ToSqlOutput::from(r.status),
        ToSqlOutput::from(r.msg_type),
        ToSqlOutput::from(r.content.as_str()),
        ToSqlOutput::from(r.idempotency_key.as_str()),
        r.client_msg_id
            .as_deref()
            .map_or(ToSqlOutput::from(Null), ToSqlOutput::from),
    ]
}

pub fn message(row: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    Ok(MessageRecord {
        app: app_id(row, 0)?,
        conv: conv_id(row, 1)?,
        seq: row.get::<_, i64>(2)? as u64,
        msg_id: MsgId(row.get::<_, i64>(3)? as u64),
        from: session(row, 4)?,
        send_time: row.get(5)?,
        status: row.get(6)?,
        msg_type: row.get(7)?,
        content: row.get::<_, std::sync::Arc<str>>(8)?.into(),
        idempotency_key: row.get::<_, std::sync::Arc<str>>(9)?.into(),
        client_msg_id: row.get::<_, Option<std::sync::Arc<str>>>(10)?.map(Into::into),
    })
}

pub fn conversation(row: &Row<'_>) -> rusqlite::Result<Conversation> {
    let kind: String = row.get(2)?;
    Ok(Conversation {
        app: app_id(row, 0)?,
        id: conv_id(row, 1)?,
        kind: ConvKind::parse(&kind).unwrap_or(ConvKind::Group),
        conv_type: row.get(3)?,
        name: row.get(4)?,
        avatar: row.get(5)?,
        owner: session(row, 6)?,
        open: row.get(7)?,
        archived: row.get(8)?,
        created_at: row.get(9)?,
    })
}

pub fn app(row: &Row<'_>) -> rusqlite::Result<AppRecord> {
    Ok(AppRecord {
        id: app_id(row, 0)?,
        org: row.get(1)?,
        name: row.get(2)?,
        secret_hash: row.get(3)?,
        signing_key: row.get(4)?,
        created_at: row.get(5)?,
        settings: AppSettings {
            login_policy: LoginPolicy::parse(&row.get::<_, String>(6)?).unwrap_or_default(),
            require_friendship: row.get(7)?,
            spam_unanswered_limit: row.get(8)?,
            send_rate_per_sec: row.get(9)?,
            send_burst: row.get(10)?,
            end_user_accounts: row.get(11)?,
            max_members: row.get(12)?,
            before_send: before_send(row)?,
        },
    })
}

/// The before-send hook of an `apps` row (`APP_COLUMNS`): no URL, no hook.
fn before_send(row: &Row<'_>) -> rusqlite::Result<Option<BeforeSend>> {
    let Some(url) = row.get::<_, Option<String>>(13)? else {
        return Ok(None);
    };
    Ok(Some(BeforeSend {
        url,
        timeout_ms: row.get(14)?,
        fail_open: row.get(15)?,
    }))
}

pub fn endpoint(row: &Row<'_>) -> rusqlite::Result<WebhookEndpoint> {
    let events: String = row.get(3)?;
    Ok(WebhookEndpoint {
        app: app_id(row, 0)?,
        id: row.get(1)?,
        url: row.get(2)?,
        events: serde_json::from_str(&events).map_err(|e| bad(3, e))?,
        secret: row.get(4)?,
        created_at_ms: row.get(5)?,
    })
}

pub fn job(row: &Row<'_>) -> rusqlite::Result<WebhookJob> {
    Ok(WebhookJob {
        app: app_id(row, 0)?,
        endpoint: row.get(1)?,
        event_id: row.get(2)?,
        partition: row.get(3)?,
        lane: row.get(4)?,
        order: row.get(5)?,
        body: row.get(6)?,
        attempts: row.get(7)?,
        next_at_ms: row.get(8)?,
        created_at_ms: row.get(9)?,
        dead: row.get(10)?,
        last_error: row.get(11)?,
        trace: row.get(12)?,
    })
}

pub const ORG_COLUMNS: &str = "org_id, name, description, owner, created_at";

pub fn org(row: &Row<'_>) -> rusqlite::Result<crate::Org> {
    Ok(crate::Org {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        owner: row.get(3)?,
        created_at: row.get(4)?,
    })
}

/// `columns` (a `*_COLUMNS` list) as columns of the table named `alias` in a join.
pub fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(", ")
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn session(row: &Row<'_>, column: usize) -> rusqlite::Result<SessionId> {
    SessionId::parse(row.get::<_, String>(column)?).map_err(|e| bad(column, e))
}

fn app_id(row: &Row<'_>, column: usize) -> rusqlite::Result<AppId> {
    AppId::parse(row.get::<_, String>(column)?).map_err(|e| bad(column, e))
}

fn conv_id(row: &Row<'_>, column: usize) -> rusqlite::Result<ConvId> {
    ConvId::parse(row.get::<_, String>(column)?).map_err(|e| bad(column, e))
}

pub fn revocation(row: &Row<'_>) -> rusqlite::Result<crate::Revocation> {
    let kind = match row.get::<_, String>(1)?.as_str() {
        "session" => crate::RevocationKind::Session,
        _ => crate::RevocationKind::Token,
    };
    Ok(crate::Revocation {
        app: app_id(row, 0)?,
        kind,
        key: row.get(2)?,
        not_before: row.get(3)?,
        expires_at: row.get(4)?,
        created_at: row.get(5)?,
    })
}
