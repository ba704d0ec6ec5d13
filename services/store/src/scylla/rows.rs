//! Row ↔ domain conversions for ScyllaDB: plain tuples in the column order of the statements, so
//! the mapping is tested without a node.
//!
//! No `NULL` is ever written by the log: a message without a client key stores `''` (the gateway
//! refuses empty client keys), so an upsert never leaves a cell tombstone behind.

use super::buckets::{bucket_of, seq_from_cql, seq_to_cql};
use crate::{AppRecord, AppSettings, BeforeSend, Conversation, LoginPolicy, StoreError};
use herald_protocol::{AppId, ConvId, ConvKind, MessageRecord, MsgId, SessionId};

/// A `messages` row as `cql::MESSAGE_SELECT` reads it.
pub type MessageRow = (String, String, i64, i64, String, i64, i32, i32, String, String, String);

/// The values of `INSERT INTO messages (app_id, conv_id, bucket, ...) USING TIMESTAMP ?`.
pub type MessageValues<'a> = (
    &'a str,
    &'a str,
    i64,
    i64,
    i64,
    &'a str,
    i64,
    i32,
    i32,
    &'a str,
    &'a str,
    &'a str,
    i64,
);

/// A `conversations` row as `cql::CONV_SELECT` reads it. Only the creating insert sets `kind`;
/// an archive flag written for a conversation that was never created leaves a row without it.
pub type ConversationRow = (
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
    Option<bool>,
    Option<i64>,
);

/// An `apps` row as `cql::APP_SELECT` reads it.
pub type AppRow = (
    String,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    i64,
    String,
    bool,
    i64,
    f64,
    i64,
    // null in rows written before `003_hardening.cql`: off
    Option<bool>,
    // null in rows written before `004_max_members.cql`: the default
    Option<i64>,
    // the before-send hook (`005_webhooks.cql`): no URL, no hook; null timeout: the default;
    // null fail_open: false
    Option<String>,
    Option<i64>,
    Option<bool>,
);

fn corrupt(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Fatal(format!("corrupt {what} row: {err}"))
}

pub fn app_id(value: String) -> Result<AppId, StoreError> {
    AppId::parse(value).map_err(|e| corrupt("app id", e))
}

pub fn conv_id(value: String) -> Result<ConvId, StoreError> {
    ConvId::parse(value).map_err(|e| corrupt("conversation id", e))
}

pub fn session_id(value: String) -> Result<SessionId, StoreError> {
    SessionId::parse(value).map_err(|e| corrupt("session", e))
}

/// The insert values of `record`, written at `timestamp`.
pub fn message_values(record: &MessageRecord, timestamp: i64) -> MessageValues<'_> {
    (
        record.app.as_str(),
        record.conv.as_str(),
        bucket_of(record.seq),
        seq_to_cql(record.seq),
        // bit-preserving: Snowflakes use 63 bits, and any u64 round-trips
        record.msg_id.0 as i64,
        record.from.as_str(),
        record.send_time,
        record.status,
        record.msg_type,
        &record.content,
        &record.idempotency_key,
        record.client_msg_id.as_deref().unwrap_or(""),
        timestamp,
    )
}

pub fn message(row: MessageRow) -> Result<MessageRecord, StoreError> {
    let (app, conv, seq, msg_id, sender, send_time, status, msg_type, content, idempotency_key, client_msg_id) = row;
    Ok(MessageRecord {
        app: app_id(app)?,
        conv: conv_id(conv)?,
        seq: seq_from_cql(seq),
        msg_id: MsgId(msg_id as u64),
        from: session_id(sender)?,
        send_time,
        status,
        msg_type,
        content: content.into(),
        idempotency_key: idempotency_key.into(),
        client_msg_id: (!client_msg_id.is_empty()).then(|| client_msg_id.into()),
    })
}

/// The conversation, or `None` when the row was never created (see `ConversationRow`).
pub fn conversation(row: ConversationRow) -> Result<Option<Conversation>, StoreError> {
    let (app, id, kind, conv_type, name, avatar, owner, open, archived, created_at) = row;
    let Some(kind) = kind else {
        return Ok(None);
    };
    Ok(Some(Conversation {
        app: app_id(app)?,
        id: conv_id(id)?,
        kind: ConvKind::parse(&kind).unwrap_or(ConvKind::Group),
        conv_type: conv_type.unwrap_or_default(),
        name: name.unwrap_or_default(),
        avatar: avatar.unwrap_or_default(),
        owner: session_id(owner.unwrap_or_default())?,
        open: open.unwrap_or(false),
        archived: archived.unwrap_or(false),
        created_at: created_at.unwrap_or_default(),
    }))
}

pub fn app(row: AppRow) -> Result<AppRecord, StoreError> {
    let (
        id,
        org,
        name,
        secret_hash,
        signing_key,
        created_at,
        login_policy,
        require_friendship,
        spam,
        rate,
        burst,
        end_user_accounts,
        max,
        hook_url,
        hook_timeout_ms,
        hook_fail_open,
    ) = row;
    Ok(AppRecord {
        id: app_id(id)?,
        org,
        name,
        secret_hash,
        signing_key,
        created_at,
        settings: AppSettings {
            login_policy: LoginPolicy::parse(&login_policy).unwrap_or_default(),
            require_friendship,
            spam_unanswered_limit: u32::try_from(spam).unwrap_or(0),
            send_rate_per_sec: rate,
            send_burst: u32::try_from(burst).unwrap_or(0),
            end_user_accounts: end_user_accounts.unwrap_or(false),
            max_members: max.map_or(crate::DEFAULT_MAX_MEMBERS, |max| u32::try_from(max).unwrap_or(0)),
            before_send: hook_url.map(|url| BeforeSend {
                url,
                timeout_ms: hook_timeout_ms.map_or(crate::DEFAULT_BEFORE_SEND_TIMEOUT_MS, |ms| {
                    u32::try_from(ms).unwrap_or(crate::DEFAULT_BEFORE_SEND_TIMEOUT_MS)
                }),
                fail_open: hook_fail_open.unwrap_or(false),
            }),
        },
    })
}

/// The values of the app insert, in `cql::APP_INSERT` order.
pub fn app_values(app: &AppRecord) -> AppRow {
    (
        app.id.as_str().to_owned(),
        app.org.clone(),
        app.name.clone(),
        app.secret_hash.clone(),
        app.signing_key.clone(),
        app.created_at,
        app.settings.login_policy.as_str().to_owned(),
        app.settings.require_friendship,
        i64::from(app.settings.spam_unanswered_limit),
        app.settings.send_rate_per_sec,
        i64::from(app.settings.send_burst),
        Some(app.settings.end_user_accounts),
        Some(i64::from(app.settings.max_members)),
        app.settings.before_send.as_ref().map(|hook| hook.url.clone()),
        app.settings.before_send.as_ref().map(|hook| i64::from(hook.timeout_ms)),
        app.settings.before_send.as_ref().map(|hook| hook.fail_open),
    )
}

/// The values of `cql::APP_SET_SETTINGS`, in statement order.
pub type SettingsValues<'a> = (
    &'a str,
    bool,
    i64,
    f64,
    i64,
    bool,
    i64,
    Option<&'a str>,
    Option<i64>,
    Option<bool>,
    &'a str,
);

/// The settings columns of `UPDATE apps SET ... WHERE app_id = ?`, in statement order. No
/// before-send hook writes nulls, so removing the hook clears its columns.
pub fn settings_values<'a>(id: &'a AppId, settings: &'a AppSettings) -> SettingsValues<'a> {
    let hook = settings.before_send.as_ref();
    (
        settings.login_policy.as_str(),
        settings.require_friendship,
        i64::from(settings.spam_unanswered_limit),
        settings.send_rate_per_sec,
        i64::from(settings.send_burst),
        settings.end_user_accounts,
        i64::from(settings.max_members),
        hook.map(|hook| hook.url.as_str()),
        hook.map(|hook| i64::from(hook.timeout_ms)),
        hook.map(|hook| hook.fail_open),
        id.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(client_msg_id: Option<&str>) -> MessageRecord {
        MessageRecord {
            app: AppId::parse("app").unwrap(),
            conv: ConvId::parse("conv").unwrap(),
            seq: 1234,
            msg_id: MsgId(7_530_000_000_000_000_001),
            from: SessionId::parse("alice").unwrap(),
            send_time: 1_700_000_000_000_000_000,
            status: 0,
            msg_type: 1,
            content: "hello".into(),
            idempotency_key: "c:k1".into(),
            client_msg_id: client_msg_id.map(Into::into),
        }
    }

    /// What the node returns for a row written with `values`.
    fn read_back(values: MessageValues<'_>) -> MessageRow {
        let (app, conv, _bucket, seq, msg_id, sender, send_time, status, msg_type, content, key, client, _ts) = values;
        (
            app.into(),
            conv.into(),
            seq,
            msg_id,
            sender.into(),
            send_time,
            status,
            msg_type,
            content.into(),
            key.into(),
            client.into(),
        )
    }

    #[test]
    fn messages_round_trip() {
        for original in [record(Some("k1")), record(None)] {
            let values = message_values(&original, 99);
            assert_eq!(values.2, 1, "bucket of seq 1234");
            assert_eq!(values.12, 99, "write timestamp");
            assert_eq!(message(read_back(values)).unwrap(), original);
        }
    }

    #[test]
    fn any_message_id_round_trips() {
        let mut high = record(None);
        high.msg_id = MsgId(u64::MAX - 3);
        assert_eq!(
            message(read_back(message_values(&high, 1))).unwrap().msg_id,
            high.msg_id
        );
    }

    #[test]
    fn bad_ids_are_fatal() {
        let mut row = read_back(message_values(&record(None), 1));
        row.4 = String::new();
        assert!(matches!(message(row), Err(StoreError::Fatal(_))));
    }

    #[test]
    fn conversations_default_what_is_missing() {
        let row: ConversationRow = (
            "app".into(),
            "c".into(),
            Some("single".into()),
            Some(3),
            Some("name".into()),
            Some(String::new()),
            Some("alice".into()),
            Some(true),
            None,
            Some(5),
        );
        let conv = conversation(row.clone()).unwrap().unwrap();
        assert_eq!((conv.kind, conv.archived, conv.conv_type), (ConvKind::Single, false, 3));
        let mut archived = row.clone();
        archived.8 = Some(true);
        archived.2 = Some("unknown".into());
        let conv = conversation(archived).unwrap().unwrap();
        assert_eq!((conv.kind, conv.archived), (ConvKind::Group, true));
        let never_created: ConversationRow = (
            "app".into(),
            "c".into(),
            None,
            None,
            None,
            None,
            None,
            None,
            Some(true),
            None,
        );
        assert_eq!(
            conversation(never_created).unwrap(),
            None,
            "an archive flag alone is no conversation"
        );
        let mut no_owner = row;
        no_owner.6 = None;
        assert!(matches!(conversation(no_owner), Err(StoreError::Fatal(_))));
    }

    #[test]
    fn apps_round_trip() {
        let original = AppRecord {
            id: AppId::parse("default").unwrap(),
            org: "org".into(),
            name: "App".into(),
            secret_hash: vec![1, 2, 3],
            signing_key: vec![9; 32],
            created_at: 42,
            settings: AppSettings {
                login_policy: LoginPolicy::Kick,
                require_friendship: true,
                spam_unanswered_limit: 7,
                send_rate_per_sec: 2.5,
                send_burst: 11,
                end_user_accounts: true,
                max_members: 12,
                before_send: None,
            },
        };
        assert_eq!(app(app_values(&original)).unwrap(), original);
        let mut unknown = app_values(&original);
        unknown.6 = "later".into();
        unknown.8 = -1;
        let read = app(unknown).unwrap();
        assert_eq!(read.settings.login_policy, LoginPolicy::Multi);
        assert_eq!(read.settings.spam_unanswered_limit, 0);
        let values = settings_values(&original.id, &original.settings);
        assert_eq!(
            values,
            ("kick", true, 7, 2.5, 11, true, 12, None, None, None, "default")
        );
        let mut before_accounts_setting = app_values(&original);
        before_accounts_setting.11 = None;
        assert!(
            !app(before_accounts_setting).unwrap().settings.end_user_accounts,
            "a row from before the setting has end-user accounts off"
        );
        let mut before_the_cap = app_values(&original);
        before_the_cap.12 = None;
        assert_eq!(
            app(before_the_cap).unwrap().settings.max_members,
            crate::DEFAULT_MAX_MEMBERS,
            "a row from before the member cap has the default cap"
        );
    }

    #[test]
    fn the_before_send_hook_round_trips() {
        let hook = BeforeSend {
            url: "https://moderation.example/check".into(),
            timeout_ms: 750,
            fail_open: true,
        };
        let mut original = AppRecord {
            id: AppId::parse("default").unwrap(),
            org: "org".into(),
            name: "App".into(),
            secret_hash: vec![1],
            signing_key: vec![2],
            created_at: 1,
            settings: AppSettings::default(),
        };
        original.settings.before_send = Some(hook.clone());
        assert_eq!(app(app_values(&original)).unwrap(), original);
        let values = settings_values(&original.id, &original.settings);
        assert_eq!(
            (values.7, values.8, values.9),
            (Some(hook.url.as_str()), Some(750), Some(true))
        );

        let mut before_hooks = app_values(&original);
        (before_hooks.13, before_hooks.14, before_hooks.15) = (None, None, None);
        assert_eq!(
            app(before_hooks).unwrap().settings.before_send,
            None,
            "a row from before the hook has none"
        );
        let mut url_only = app_values(&original);
        (url_only.14, url_only.15) = (None, None);
        assert_eq!(
            app(url_only).unwrap().settings.before_send,
            Some(BeforeSend {
                timeout_ms: crate::DEFAULT_BEFORE_SEND_TIMEOUT_MS,
                fail_open: false,
                ..hook
            }),
            "a hook without a timeout or fail-open has the defaults"
        );
        original.settings.before_send = None;
        let cleared = settings_values(&original.id, &original.settings);
        assert_eq!(
            (cleared.7, cleared.8, cleared.9),
            (None, None, None),
            "no hook clears its columns"
        );
    }
}
