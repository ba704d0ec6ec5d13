//! History operations: windows of a conversation's messages as a member sees them, within the
//! reply budget.

use super::Api;
use crate::Identity;
use crate::budget::Budget;
use crate::error::ApiError;
use crate::history::{Page, Reader};
use herald_protocol::{ConvId, ErrorCode, MsgId};
use herald_store::MAX_PAGE;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Messages in a "30 around a message" window.
pub const AROUND_COUNT: u64 = 30;
/// Conversations one `sync` may name, and messages one reply carries at most (all conversations
/// together; the reply budget may cut it sooner).
pub const SYNC_MAX_CONVS: usize = 100;
pub const SYNC_MAX_MSGS: usize = MAX_PAGE;

/// A request field as the transport parsed it; its error is reported when the operation reaches it.
pub type Parsed<T> = Result<T, ApiError>;

/// Which side of a message a window around it reads.
pub enum Around {
    Before,
    After,
}

impl Api {
    /// `me`'s view of `conv`'s log.
    fn reader<'a>(&'a self, me: &'a Identity, conv: &'a ConvId) -> Reader<'a> {
        Reader {
            store: self.query.as_ref(),
            me,
            conv,
        }
    }

    /// Up to `count` messages ending at `newest(last Seq)`, oldest first, as the member sees
    /// them; a page cut by bytes keeps the newest.
    pub async fn newest_page(
        &self,
        me: &Identity,
        conv: &ConvId,
        newest: impl FnOnce(u64) -> u64,
        count: u64,
    ) -> Result<Page, ApiError> {
        self.require_member(me, conv).await?;
        let last = self.log.last_seq(&me.app, conv).await?;
        let newest = newest(last);
        let mut budget = Budget::reply(count as usize);
        let from = newest.saturating_sub(count.saturating_sub(1)).max(1);
        self.reader(me, conv).page_from_newest(from, newest, &mut budget).await
    }

    /// Up to `count` messages from `Seq` `from` on, oldest first, as the member sees them; a
    /// page cut by bytes keeps the oldest. Past the end: an empty page.
    pub async fn oldest_page(&self, me: &Identity, conv: &ConvId, from: u64, count: u64) -> Result<Page, ApiError> {
        self.require_member(me, conv).await?;
        let last = self.log.last_seq(&me.app, conv).await?;
        let from = from.max(1);
        if from > last || count == 0 {
            return Ok(Page {
                msgs: Vec::new(),
                cut: false,
            });
        }
        let to = from.saturating_add(count - 1).min(last);
        let mut budget = Budget::reply(count.min(MAX_PAGE as u64) as usize);
        self.reader(me, conv).page_from_oldest(from, to, &mut budget).await
    }

    /// The last `Seq` `me` has read in `conv` (0: none); members only.
    pub async fn read_cursor(&self, me: &Identity, conv: &ConvId) -> Result<u64, ApiError> {
        self.require_member(me, conv).await?;
        Ok(self.log.read_cursor(&me.app, conv, &me.session).await?)
    }

    /// The messages from `start` to `end` (either order), inclusive; at most `MAX_PAGE` (413
    /// beyond); a page cut by bytes keeps the oldest. The ids come as the transport read them:
    /// an unreadable one is reported after the membership check.
    pub async fn range(
        &self,
        me: &Identity,
        conv: &ConvId,
        start: Parsed<MsgId>,
        end: Parsed<MsgId>,
    ) -> Result<Page, ApiError> {
        self.require_member(me, conv).await?;
        let start = self.seq_of(me, conv, start?).await?;
        let end = self.seq_of(me, conv, end?).await?;
        let (low, high) = (start.min(end), start.max(end));
        if high - low >= MAX_PAGE as u64 {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("a range holds at most {MAX_PAGE} messages"),
            ));
        }
        let mut budget = Budget::reply(MAX_PAGE);
        self.reader(me, conv).page_from_oldest(low, high, &mut budget).await
    }

    /// The 30 messages before or after message `id`; a page cut by bytes keeps those nearest to it.
    pub async fn around(
        &self,
        me: &Identity,
        conv: &ConvId,
        id: Parsed<MsgId>,
        side: Around,
    ) -> Result<Page, ApiError> {
        self.require_member(me, conv).await?;
        let seq = self.seq_of(me, conv, id?).await?;
        let mut budget = Budget::reply(AROUND_COUNT as usize);
        let reader = self.reader(me, conv);
        match side {
            Around::Before => {
                let (from, to) = (seq.saturating_sub(AROUND_COUNT).max(1), seq.saturating_sub(1));
                if to == 0 {
                    return Ok(Page {
                        msgs: Vec::new(),
                        cut: false,
                    });
                }
                reader.page_from_newest(from, to, &mut budget).await
            }
            Around::After => {
                let (from, to) = (seq.saturating_add(1), seq.saturating_add(AROUND_COUNT));
                reader.page_from_oldest(from, to, &mut budget).await
            }
        }
    }

    /// What follows each `lastSeq`, in pages (protocol §5): conversations in id order, each
    /// contiguous from its `lastSeq`, until `SYNC_MAX_MSGS` messages or the reply budget; a
    /// conversation cut short (or not reached) says `hasMore` and continues from its last `Seq`.
    pub async fn sync(&self, me: &Identity, convs: BTreeMap<String, u64>) -> Result<Value, ApiError> {
        if convs.len() > SYNC_MAX_CONVS {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("at most {SYNC_MAX_CONVS} conversations per sync"),
            ));
        }
        let mut asked = Vec::with_capacity(convs.len());
        for (conv, after) in convs {
            let conv = ConvId::parse(conv)?;
            self.require_member(me, &conv).await?;
            asked.push((conv, after));
        }
        let mut budget = Budget::reply(SYNC_MAX_MSGS);
        let mut out = Map::new();
        for (conv, after) in asked {
            let last = self.log.last_seq(&me.app, &conv).await?;
            let from = after.saturating_add(1);
            let page = self.reader(me, &conv).page_from_oldest(from, last, &mut budget).await?;
            let reached = page.msgs.last().map_or(after, |m| m.seq);
            out.insert(
                conv.to_string(),
                json!({"msgs": page.msgs, "lastSeq": last, "hasMore": reached < last}),
            );
        }
        Ok(json!({"convs": out}))
    }
}
