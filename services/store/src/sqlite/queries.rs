//! `QueryStore` on SQLite: history pages, the conversation list, and per-session hiding.

use super::rows::{self, CONV_KEY, CONVERSATION_COLUMNS, MESSAGE_COLUMNS};
use super::{SqliteStore, map_err, sql_seq};
use crate::{ConvSummary, ListCursor, QueryStore, StoreError};
use async_trait::async_trait;
use herald_protocol::{AppId, ConvId, MessageRecord, SessionId};
use rusqlite::{Connection, OptionalExtension, params};

#[async_trait]
impl QueryStore for SqliteStore {
    async fn latest_messages(
        &self,
        app: &AppId,
        conv: &ConvId,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let limit = limit.min(crate::MAX_PAGE);
        if let Some(records) = self.tails.latest(app, conv, limit) {
            return Ok(records);
        }
        let (app, conv) = (app.clone(), conv.clone());
        let limit = limit as i64;
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ck = {CONV_KEY} ORDER BY seq DESC LIMIT ?3"
            ))?;
            stmt.query_map(params![app.as_str(), conv.as_str(), limit], rows::message)?
                .collect()
        })
        .await
    }

    async fn messages_in_range(
        &self,
        app: &AppId,
        conv: &ConvId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        if let Some(records) = self.tails.range(app, conv, (from, to), limit.min(crate::MAX_PAGE)) {
            return Ok(records);
        }
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| range(c, &app, &conv, (from, to), limit)).await
    }

    async fn conversations_of(
        &self,
        app: &AppId,
        session: &SessionId,
        after: Option<&ListCursor>,
        limit: usize,
    ) -> Result<Vec<ConvSummary>, StoreError> {
        let (app, session, tails) = (app.clone(), session.clone(), self.tails.clone());
        let after = after.map(|cursor| (cursor.joined_at, cursor.conv.to_string()));
        let limit = limit.min(crate::MAX_CONVERSATIONS) as i64;
        self.read(move |c| {
            let mut list = c.prepare_cached(&format!(
                "SELECT {}, COALESCE(r.seq, 0), h.at_seq, \
                   (SELECT COUNT(*) FROM members mm WHERE mm.app_id = m.app_id AND mm.conv_id = m.conv_id), m.joined_at \
                 FROM members m \
                 JOIN conversations c ON c.app_id = m.app_id AND c.conv_id = m.conv_id \
                 LEFT JOIN read_cursors r ON r.app_id = m.app_id AND r.conv_id = m.conv_id AND r.session = m.session \
                 LEFT JOIN hidden_conversations h ON h.app_id = m.app_id AND h.conv_id = m.conv_id AND h.session = m.session \
                 WHERE m.app_id = ?1 AND m.session = ?2 AND (?3 IS NULL OR (m.joined_at, m.conv_id) < (?3, ?4)) \
                 ORDER BY m.joined_at DESC, m.conv_id DESC LIMIT ?5",
                rows::qualified(CONVERSATION_COLUMNS, "c")
            ))?;
            let (after_joined, after_conv) = match &after {
                Some((joined_at, conv)) => (Some(*joined_at), Some(conv.as_str())),
                None => (None, None),
            };
            let rows = list
                .query_map(params![app.as_str(), session.as_str(), after_joined, after_conv, limit], |row| {
                    Ok((
                        rows::conversation(row)?,
                        row.get::<_, i64>(10)? as u64,
                        row.get::<_, Option<i64>>(11)?,
                        row.get::<_, i64>(12)? as u64,
                        row.get::<_, i64>(13)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut last = c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ck = {CONV_KEY} ORDER BY seq DESC LIMIT 1"
            ))?;
            let mut summaries = Vec::with_capacity(rows.len());
            for (conv, read_seq, hidden_at, member_count, joined_at) in rows {
                let last = match tails.latest(&app, &conv.id, 1) {
                    Some(mut newest) => newest.pop(),
                    None => last.query_row(params![app.as_str(), conv.id.as_str()], rows::message).optional()?,
                };
                summaries.push(ConvSummary {
                    conv,
                    joined_at,
                    last,
                    read_seq,
                    hidden_at: hidden_at.map(|s| s as u64),
                    member_count,
                });
            }
            Ok(summaries)
        })
        .await
    }

    async fn hide_message(&self, app: &AppId, session: &SessionId, conv: &ConvId, seq: u64) -> Result<(), StoreError> {
        let (app, session, conv) = (app.clone(), session.clone(), conv.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO hidden_messages (app_id, session, conv_id, seq) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![app.as_str(), session.as_str(), conv.as_str(), seq as i64],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn member_range(
        &self,
        app: &AppId,
        session: &SessionId,
        conv: &ConvId,
        (from, to): (u64, u64),
        limit: usize,
    ) -> Result<(Vec<MessageRecord>, Vec<u64>), StoreError> {
        let held = self.tails.range(app, conv, (from, to), limit.min(crate::MAX_PAGE));
        let (app, session, conv) = (app.clone(), session.clone(), conv.clone());
        self.read(move |c| {
            let records = match held {
                Some(records) => records,
                None => range(c, &app, &conv, (from, to), limit)?,
            };
            let hidden = match crate::seq_span(&records) {
                Some(span) => hidden(c, &app, &session, &conv, span)?,
                None => Vec::new(),
            };
            Ok((records, hidden))
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
        let (app, session, conv) = (app.clone(), session.clone(), conv.clone());
        self.read(move |c| hidden(c, &app, &session, &conv, (from, to))).await
    }

    async fn hide_conversation(
        &self,
        app: &AppId,
        session: &SessionId,
        conv: &ConvId,
        at_seq: u64,
    ) -> Result<(), StoreError> {
        let (app, session, conv) = (app.clone(), session.clone(), conv.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO hidden_conversations (app_id, session, conv_id, at_seq) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (app_id, session, conv_id) DO UPDATE SET at_seq = excluded.at_seq",
                params![app.as_str(), session.as_str(), conv.as_str(), at_seq as i64],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }
}

/// Messages with `Seq` in `from..=to`, oldest first, at most `limit` (and the page cap).
fn range(
    c: &Connection,
    app: &AppId,
    conv: &ConvId,
    (from, to): (u64, u64),
    limit: usize,
) -> rusqlite::Result<Vec<MessageRecord>> {
    let limit = limit.min(crate::MAX_PAGE) as i64;
    c.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ck = {CONV_KEY} AND seq >= ?3 AND seq <= ?4 ORDER BY seq ASC LIMIT ?5"
    ))?
    .query_map(
        params![app.as_str(), conv.as_str(), sql_seq(from), sql_seq(to), limit],
        rows::message,
    )?
    .collect()
}

/// The `Seq`s in `from..=to` of `conv` that `session` deleted for itself.
fn hidden(
    c: &Connection,
    app: &AppId,
    session: &SessionId,
    conv: &ConvId,
    (from, to): (u64, u64),
) -> rusqlite::Result<Vec<u64>> {
    c.prepare_cached(
        "SELECT seq FROM hidden_messages WHERE app_id = ?1 AND session = ?2 AND conv_id = ?3 AND seq >= ?4 AND seq <= ?5",
    )?
    .query_map(
        params![app.as_str(), session.as_str(), conv.as_str(), sql_seq(from), sql_seq(to)],
        |r| r.get::<_, i64>(0).map(|s| s as u64),
    )?
    .collect()
}
