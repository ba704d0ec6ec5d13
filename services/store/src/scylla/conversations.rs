//! Conversations, their members, and a session's conversation list.

use super::buckets::seq_from_cql;
use super::rows::{self, ConversationRow};
use super::store::ScyllaStore;
use crate::{ConvSummary, Conversation, Creation, ListCursor, StoreError};
use herald_protocol::{AppId, ConvId, ConvKind, SessionId};
use std::collections::HashMap;

/// Timestamp of what `create_conversation` writes beside its conversation row (members, count,
/// archive flag): below every fenced write, so whatever the sequencer changed later wins, and
/// creating again only adds what was never there (as SQLite's `ON CONFLICT DO NOTHING`).
const CREATION_TIMESTAMP: i64 = 1;

impl ScyllaStore {
    pub(super) async fn conversation_row(
        &self,
        app: &AppId,
        conv: &ConvId,
    ) -> Result<Option<Conversation>, StoreError> {
        let row: Option<ConversationRow> = self.first(&self.st.conv_select, (app.as_str(), conv.as_str())).await?;
        Ok(row.map(rows::conversation).transpose()?.flatten())
    }

    /// Active members, in session order.
    pub(super) async fn members_of(&self, app: &AppId, conv: &ConvId) -> Result<Vec<SessionId>, StoreError> {
        // a partition holding only its static count reads as one row without a session
        let rows: Vec<(Option<String>, Option<bool>)> = self
            .rows(&self.st.members_select, (app.as_str(), conv.as_str()))
            .await?;
        rows.into_iter()
            .filter_map(|(session, active)| session.filter(|_| active == Some(true)))
            .map(rows::session_id)
            .collect()
    }

    pub(super) async fn member(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<bool, StoreError> {
        let row: Option<(Option<bool>,)> = self
            .first(&self.st.member_select, (app.as_str(), conv.as_str(), session.as_str()))
            .await?;
        Ok(matches!(row, Some((Some(true),))))
    }

    pub(super) async fn create(&self, conv: &Conversation, members: &[SessionId]) -> Result<Creation, StoreError> {
        let mut conv = conv.clone();
        if conv.kind == ConvKind::Single {
            let mut pair: Vec<&str> = members.iter().map(SessionId::as_str).collect();
            pair.sort_unstable();
            pair.dedup();
            if pair.len() != 2 {
                return Err(StoreError::Fatal(
                    "a single conversation has exactly two members".into(),
                ));
            }
            let values = (conv.app.as_str(), pair[0], pair[1], conv.id.as_str());
            let outcome = self.lwt(&self.st.pair_insert, values).await?;
            if !outcome.applied {
                let existing = rows::conv_id(outcome.text("conv_id").unwrap_or_default().to_owned())?;
                if existing != conv.id {
                    if self.conversation_row(&conv.app, &existing).await?.is_some() {
                        return Ok(Creation::PairExists(existing));
                    }
                    // an earlier creation of this pair stopped half-way: finish it under its id
                    conv.id = existing;
                }
            }
        }
        let (app, id) = (conv.app.as_str(), conv.id.as_str());
        let values = (
            app,
            id,
            conv.kind.as_str(),
            conv.conv_type,
            conv.name.as_str(),
            conv.avatar.as_str(),
            conv.owner.as_str(),
            conv.open,
            conv.created_at,
        );
        let inserted = self.lwt(&self.st.conv_insert, values).await?;
        // a group's id may be the client's choice: when it is taken, nothing more is written (the
        // members go only with a conversation created here). A single's id is its pair's, so a
        // racing creation of the same pair writes the same members and both may finish.
        if !inserted.applied && conv.kind == ConvKind::Group {
            return Ok(Creation::IdTaken);
        }
        self.write(&self.st.conv_set_archived, (CREATION_TIMESTAMP, conv.archived, app, id))
            .await?;
        let at = conv.created_at;
        let writes = members
            .iter()
            .map(|member| async move {
                let session = member.as_str();
                self.write(&self.st.member_add, (app, id, session, at, CREATION_TIMESTAMP))
                    .await?;
                self.write(&self.st.membership_add, (app, session, id, at, CREATION_TIMESTAMP))
                    .await
            })
            .collect();
        self.all(writes).await?;
        self.recount_members(&[(&conv.app, &conv.id)], CREATION_TIMESTAMP)
            .await?;
        Ok(Creation::Created(conv.id))
    }

    async fn summary(
        &self,
        app: &AppId,
        conv_id: String,
        joined_at: i64,
        read_seq: u64,
        hidden_at: Option<u64>,
    ) -> Result<Option<ConvSummary>, StoreError> {
        let conv_id = rows::conv_id(conv_id)?;
        let Some(conv) = self.conversation_row(app, &conv_id).await? else {
            return Ok(None);
        };
        let last = match self.last_seq_of(app, &conv_id).await? {
            0 => None,
            seq => self.message_at(app, &conv_id, seq).await?,
        };
        let count: Option<(Option<i64>,)> = self
            .first(&self.st.member_count_select, (app.as_str(), conv_id.as_str()))
            .await?;
        let member_count = count.and_then(|(count,)| count).map(seq_from_cql).unwrap_or(0);
        Ok(Some(ConvSummary {
            conv,
            joined_at,
            last,
            read_seq,
            hidden_at,
            member_count,
        }))
    }

    pub(super) async fn list(
        &self,
        app: &AppId,
        session: &SessionId,
        after: Option<&ListCursor>,
        limit: usize,
    ) -> Result<Vec<ConvSummary>, StoreError> {
        let keys = (app.as_str(), session.as_str());
        let memberships: Vec<(String, Option<i64>, Option<bool>)> =
            self.rows(&self.st.memberships_select, keys).await?;
        let mut joined: Vec<(String, i64)> = memberships
            .into_iter()
            .filter(|(_, _, active)| *active == Some(true))
            .map(|(conv, joined_at, _)| (conv, joined_at.unwrap_or_default()))
            .collect();
        // newest membership first, ties by id, like SQLite's ORDER BY joined_at DESC, conv_id DESC
        joined.sort_by(|(a_conv, a_at), (b_conv, b_at)| (b_at, b_conv).cmp(&(a_at, a_conv)));
        if let Some(after) = after {
            joined.retain(|(conv, joined_at)| (*joined_at, conv.as_str()) < (after.joined_at, after.conv.as_str()));
        }
        joined.truncate(limit.min(crate::MAX_CONVERSATIONS));
        let cursors: HashMap<String, i64> = self
            .rows::<(String, Option<i64>)>(&self.st.cursors_of_session, keys)
            .await?
            .into_iter()
            .filter_map(|(conv, seq)| seq.map(|seq| (conv, seq)))
            .collect();
        let hidden: HashMap<String, i64> = self
            .rows::<(String, Option<i64>)>(&self.st.hidden_conversations_of_session, keys)
            .await?
            .into_iter()
            .filter_map(|(conv, at)| at.map(|at| (conv, at)))
            .collect();
        let summaries = joined
            .into_iter()
            .map(|(conv_id, joined_at)| {
                let read_seq = cursors.get(&conv_id).copied().map(seq_from_cql).unwrap_or(0);
                let hidden_at = hidden.get(&conv_id).copied().map(seq_from_cql);
                self.summary(app, conv_id, joined_at, read_seq, hidden_at)
            })
            .collect();
        let summaries: Vec<Option<ConvSummary>> = self.in_order(summaries).await?;
        Ok(summaries.into_iter().flatten().collect())
    }
}
