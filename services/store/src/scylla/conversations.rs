//! Conversations and their members (a session's conversation list: `list.rs`).

use super::rows::{self, ConversationRow};
use super::store::ScyllaStore;
use crate::{Conversation, Creation, StoreError};
use herald_protocol::{AppId, ConvId, ConvKind, SessionId};

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

    /// Adds a member on both sides, by conversation and by session, as one logged batch: a
    /// crash between the two cannot leave a member whose conversation list lacks it (or the
    /// reverse).
    pub(super) async fn add_member(
        &self,
        app: &AppId,
        conv: &ConvId,
        session: &SessionId,
        joined_at: i64,
        timestamp: i64,
    ) -> Result<(), StoreError> {
        let (app, conv, session) = (app.as_str(), conv.as_str(), session.as_str());
        self.logged_pair(
            (&self.st.member_add, (app, conv, session, joined_at, timestamp)),
            (&self.st.membership_add, (app, session, conv, joined_at, timestamp)),
        )
        .await
    }

    /// The single conversation of `a` and `b`, if one was created. A pair row whose conversation
    /// row is missing is a creation that stopped half-way (see `create`): none yet, as for a
    /// pair never seen; the next send finishes it under that id.
    pub(super) async fn pair(&self, app: &AppId, a: &SessionId, b: &SessionId) -> Result<Option<ConvId>, StoreError> {
        let (low, high) = (a.min(b), a.max(b));
        let row: Option<(Option<String>,)> = self
            .first(&self.st.pair_select, (app.as_str(), low.as_str(), high.as_str()))
            .await?;
        let Some(id) = row.and_then(|(id,)| id) else {
            return Ok(None);
        };
        let id = rows::conv_id(id)?;
        Ok(self.conversation_row(app, &id).await?.map(|_| id))
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
            .map(|member| self.add_member(&conv.app, &conv.id, member, at, CREATION_TIMESTAMP))
            .collect();
        self.all(writes).await?;
        self.recount_members(&[(&conv.app, &conv.id)], CREATION_TIMESTAMP)
            .await?;
        Ok(Creation::Created(conv.id))
    }
}
