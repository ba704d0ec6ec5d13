//! Operations that HTTP routes and `/ws` actions both serve, each written once here: a history
//! window ending at a message, a message's `Seq` by id, a membership change. The transports only
//! read their request's shape and write their reply's.

use crate::budget::Budget;
use crate::error::ApiError;
use crate::history::{self, Page};
use crate::{Identity, Shared, commands, conversations as convs};
use herald_protocol::bus::{Action, Command, MembersCommand};
use herald_protocol::{ConvId, ErrorCode, MsgId};

/// What one caller may do, as that caller.
pub struct Api<'a> {
    shared: &'a Shared,
    me: &'a Identity,
}

impl<'a> Api<'a> {
    pub fn new(shared: &'a Shared, me: &'a Identity) -> Self {
        Self { shared, me }
    }

    /// Up to `count` messages ending at `newest(last Seq)`, oldest first, as the member sees
    /// them; a page cut by bytes keeps the newest.
    pub async fn newest_page(
        &self,
        conv: &ConvId,
        newest: impl FnOnce(u64) -> u64,
        count: u64,
    ) -> Result<Page, ApiError> {
        convs::require_member(self.shared, self.me, conv).await?;
        let last = self.shared.store.last_seq(&self.me.app, conv).await?;
        let newest = newest(last);
        let mut budget = Budget::reply(count as usize);
        let from = newest.saturating_sub(count.saturating_sub(1)).max(1);
        history::page_from_newest(self.shared, self.me, conv, from, newest, &mut budget).await
    }

    /// The `Seq` of message `id` of `conv`; 404 if it is not one of its messages.
    pub async fn seq_of(&self, conv: &ConvId, id: MsgId) -> Result<u64, ApiError> {
        self.shared
            .store
            .message_by_id(&self.me.app, conv, id)
            .await?
            .map(|m| m.seq)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "message not found in this conversation"))
    }

    /// A membership change of the caller's, to be ordered by the sequencer with the messages;
    /// 404 for an unknown conversation.
    pub async fn membership(&self, conv: ConvId, change: MembersCommand) -> Result<Command, ApiError> {
        if self.shared.store.conversation(&self.me.app, &conv).await?.is_none() {
            return Err(ApiError::new(ErrorCode::NotFound, "conversation not found"));
        }
        Ok(commands::command(self.me, conv, Action::Members(change)))
    }
}
