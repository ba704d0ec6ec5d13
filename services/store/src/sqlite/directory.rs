//! `DirectoryStore` on SQLite: apps, conversations (single pairs deduplicated in the creating
//! transaction) and members.

use super::rows::{self, APP_COLUMNS, CONVERSATION_COLUMNS};
use super::{SqliteStore, map_err};
use crate::{AppRecord, AppSettings, Conversation, Creation, DirectoryStore, StoreError};
use async_trait::async_trait;
use herald_protocol::{AppId, ConvId, ConvKind, SessionId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The `before_send_*` columns of `settings`: no hook is a NULL URL (its timeout and fail-open
/// then keep their defaults).
fn before_send_values(settings: &AppSettings) -> (Option<String>, u32, bool) {
    match &settings.before_send {
        Some(hook) => (Some(hook.url.clone()), hook.timeout_ms, hook.fail_open),
        None => (None, crate::DEFAULT_BEFORE_SEND_TIMEOUT_MS, false),
    }
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn create_app_if_absent(&self, app: &AppRecord) -> Result<bool, StoreError> {
        let app = app.clone();
        let before_send = before_send_values(&app.settings);
        self.write(move |conn| {
            let inserted = conn
                .execute(
                    &format!("INSERT INTO apps ({APP_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) ON CONFLICT (app_id) DO NOTHING"),
                    params![
                        app.id.as_str(), app.org, app.name, app.secret_hash, app.signing_key, app.created_at,
                        app.settings.login_policy.as_str(), app.settings.require_friendship,
                        app.settings.spam_unanswered_limit, app.settings.send_rate_per_sec, app.settings.send_burst,
                        app.settings.end_user_accounts, app.settings.max_members, before_send.0, before_send.1,
                        before_send.2
                    ],
                )
                .map_err(map_err)?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn app(&self, id: &AppId) -> Result<Option<AppRecord>, StoreError> {
        let id = id.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps WHERE app_id = ?1"))?
                .query_row([id.as_str()], rows::app)
                .optional()
        })
        .await
    }

    async fn app_by_secret_hash(&self, secret_hash: &[u8]) -> Result<Option<AppRecord>, StoreError> {
        let hash = secret_hash.to_vec();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps WHERE secret_hash = ?1"))?
                .query_row([hash], rows::app)
                .optional()
        })
        .await
    }

    async fn set_app_secret_hash(&self, id: &AppId, secret_hash: &[u8]) -> Result<bool, StoreError> {
        let (id, hash) = (id.clone(), secret_hash.to_vec());
        self.write(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE apps SET secret_hash = ?2 WHERE app_id = ?1",
                    params![id.as_str(), hash],
                )
                .map_err(map_err)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn set_app_settings(&self, id: &AppId, settings: &AppSettings) -> Result<bool, StoreError> {
        let (id, settings) = (id.clone(), settings.clone());
        let before_send = before_send_values(&settings);
        self.write(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE apps SET login_policy = ?2, require_friendship = ?3, spam_unanswered_limit = ?4, \
                     send_rate_per_sec = ?5, send_burst = ?6, end_user_accounts = ?7, max_members = ?8, \
                     before_send_url = ?9, before_send_timeout_ms = ?10, before_send_fail_open = ?11 WHERE app_id = ?1",
                    params![
                        id.as_str(),
                        settings.login_policy.as_str(),
                        settings.require_friendship,
                        settings.spam_unanswered_limit,
                        settings.send_rate_per_sec,
                        settings.send_burst,
                        settings.end_user_accounts,
                        settings.max_members,
                        before_send.0,
                        before_send.1,
                        before_send.2
                    ],
                )
                .map_err(map_err)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn create_conversation(&self, conv: &Conversation, members: &[SessionId]) -> Result<Creation, StoreError> {
        let conv = conv.clone();
        let members = members.to_vec();
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            if conv.kind == ConvKind::Single {
                let mut pair: Vec<&str> = members.iter().map(SessionId::as_str).collect();
                pair.sort_unstable();
                pair.dedup();
                if pair.len() != 2 {
                    return Err(StoreError::Fatal("a single conversation has exactly two members".into()));
                }
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT conv_id FROM single_pairs WHERE app_id = ?1 AND session_a = ?2 AND session_b = ?3",
                        params![conv.app.as_str(), pair[0], pair[1]],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                if let Some(existing) = existing {
                    let existing = ConvId::parse(existing).map_err(|e| StoreError::Fatal(e.to_string()))?;
                    return Ok(Creation::PairExists(existing));
                }
                tx.execute(
                    "INSERT INTO single_pairs (app_id, session_a, session_b, conv_id) VALUES (?1, ?2, ?3, ?4)",
                    params![conv.app.as_str(), pair[0], pair[1], conv.id.as_str()],
                )
                .map_err(map_err)?;
            }
            let inserted = tx.execute(
                &format!("INSERT INTO conversations ({CONVERSATION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING"),
                params![
                    conv.app.as_str(), conv.id.as_str(), conv.kind.as_str(), conv.conv_type, conv.name,
                    conv.avatar, conv.owner.as_str(), conv.open, conv.archived, conv.created_at
                ],
            )
            .map_err(map_err)?;
            if inserted == 0 {
                // the id is taken: write nothing (dropping `tx` rolls back a pair written above)
                return Ok(Creation::IdTaken);
            }
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO members (app_id, conv_id, session, joined_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")
                    .map_err(map_err)?;
                for member in &members {
                    insert
                        .execute(params![conv.app.as_str(), conv.id.as_str(), member.as_str(), conv.created_at])
                        .map_err(map_err)?;
                }
            }
            tx.commit().map_err(map_err)?;
            Ok(Creation::Created(conv.id))
        })
        .await
    }

    async fn single_between(&self, app: &AppId, a: &SessionId, b: &SessionId) -> Result<Option<ConvId>, StoreError> {
        let (app, low, high) = (app.clone(), a.min(b).clone(), a.max(b).clone());
        let found: Option<String> = self
            .read(move |c| {
                c.prepare_cached(
                    "SELECT conv_id FROM single_pairs WHERE app_id = ?1 AND session_a = ?2 AND session_b = ?3",
                )?
                .query_row([app.as_str(), low.as_str(), high.as_str()], |r| r.get(0))
                .optional()
            })
            .await?;
        found
            .map(|id| ConvId::parse(id).map_err(|e| StoreError::Fatal(e.to_string())))
            .transpose()
    }

    async fn conversation(&self, app: &AppId, conv: &ConvId) -> Result<Option<Conversation>, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| conversation_row(c, &app, &conv)).await
    }

    async fn members(&self, app: &AppId, conv: &ConvId) -> Result<Vec<SessionId>, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT session FROM members WHERE app_id = ?1 AND conv_id = ?2 ORDER BY session")?
                .query_map([app.as_str(), conv.as_str()], |r| rows::session(r, 0))?
                .collect()
        })
        .await
    }

    async fn conversation_for(
        &self,
        app: &AppId,
        conv: &ConvId,
        session: &SessionId,
    ) -> Result<Option<(Conversation, bool)>, StoreError> {
        let (app, conv, session) = (app.clone(), conv.clone(), session.clone());
        self.read(move |c| {
            let Some(conversation) = conversation_row(c, &app, &conv)? else {
                return Ok(None);
            };
            Ok(Some((conversation, member_exists(c, &app, &conv, &session)?)))
        })
        .await
    }

    async fn is_member(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<bool, StoreError> {
        let (app, conv, session) = (app.clone(), conv.clone(), session.clone());
        self.read(move |c| member_exists(c, &app, &conv, &session)).await
    }
}

fn conversation_row(c: &Connection, app: &AppId, conv: &ConvId) -> rusqlite::Result<Option<Conversation>> {
    c.prepare_cached(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE app_id = ?1 AND conv_id = ?2"
    ))?
    .query_row([app.as_str(), conv.as_str()], rows::conversation)
    .optional()
}

fn member_exists(c: &Connection, app: &AppId, conv: &ConvId, session: &SessionId) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT EXISTS(SELECT 1 FROM members WHERE app_id = ?1 AND conv_id = ?2 AND session = ?3)")?
        .query_row([app.as_str(), conv.as_str(), session.as_str()], |r| r.get(0))
}
