//! History pages: a conversation's messages as a member sees them, read in chunks until the
//! reply budget is spent, always a contiguous `Seq` run. Shared by the history routes, `/ws`
//! `msg-listHistory` and `sync`.

use crate::Identity;
use crate::budget::Budget;
use crate::error::ApiError;
use herald_protocol::{ConvId, MessageRecord, MsgData, msg};
use herald_store::{MAX_PAGE, QueryStore};

/// One member's view of one conversation's log.
pub struct Reader<'a> {
    pub store: &'a dyn QueryStore,
    pub me: &'a Identity,
    pub conv: &'a ConvId,
}

/// Messages read per store call while a page fills: a page of big messages stops after a few
/// reads instead of loading a thousand messages it cannot carry.
const READ_CHUNK: u64 = 64;

/// A history page: what fitted, and whether the budget left some of the asked messages out.
pub struct Page {
    pub msgs: Vec<MsgData>,
    pub cut: bool,
}

impl Reader<'_> {
    /// `Seq` in `from..=to`, at most `limit` (and the page cap), oldest first, rendered for `me`.
    pub async fn range(&self, from: u64, to: u64, limit: usize) -> Result<Vec<MsgData>, ApiError> {
        if to < from || limit == 0 {
            return Ok(Vec::new());
        }
        let (records, hidden) = self
            .store
            .member_range(
                &self.me.app,
                &self.me.session,
                self.conv,
                (from, to),
                limit.min(MAX_PAGE),
            )
            .await?;
        Ok(rendered(&records, &hidden))
    }

    /// `Seq` in `from..=to`, oldest first, as many as `budget` admits: a contiguous run from `from`.
    pub async fn page_from_oldest(&self, from: u64, to: u64, budget: &mut Budget) -> Result<Page, ApiError> {
        let mut msgs = Vec::new();
        let mut next = from.max(1);
        while next <= to {
            if budget.is_full() {
                return Ok(Page { msgs, cut: true });
            }
            let chunk_end = to.min(next.saturating_add(READ_CHUNK - 1));
            let chunk = self.range(next, chunk_end, budget.items_left()).await?;
            let complete = chunk.len() as u64 == chunk_end - next + 1;
            if chunk.is_empty() {
                break;
            }
            for msg in chunk {
                if !budget.admit(&msg) {
                    return Ok(Page { msgs, cut: true });
                }
                next = msg.seq.saturating_add(1);
                msgs.push(msg);
            }
            if !complete && !budget.is_full() {
                // the log ends before `to`
                break;
            }
            if chunk_end == u64::MAX {
                break;
            }
        }
        Ok(Page { msgs, cut: false })
    }

    /// `Seq` in `from..=to`, as many of the newest as `budget` admits: a contiguous run ending at `to`,
    /// oldest first.
    pub async fn page_from_newest(&self, from: u64, to: u64, budget: &mut Budget) -> Result<Page, ApiError> {
        let from = from.max(1);
        let mut newest_first = Vec::new();
        let mut upper = to;
        let mut cut = false;
        'read: while upper >= from {
            if budget.is_full() {
                cut = true;
                break;
            }
            let lower = from.max(upper.saturating_sub(READ_CHUNK - 1));
            let chunk = self.range(lower, upper, MAX_PAGE).await?;
            for msg in chunk.into_iter().rev() {
                if !budget.admit(&msg) {
                    cut = true;
                    break 'read;
                }
                newest_first.push(msg);
            }
            if lower == from {
                break;
            }
            upper = lower - 1;
        }
        newest_first.reverse();
        Ok(Page {
            msgs: newest_first,
            cut,
        })
    }
}

/// `records` as the reader sees them: those in `hidden` (deleted by the reader for itself) are
/// tombstones (`Status` 1, no content).
fn rendered(records: &[MessageRecord], hidden: &[u64]) -> Vec<MsgData> {
    records
        .iter()
        .map(|record| {
            let mut wire = record.to_wire();
            if hidden.contains(&record.seq) && wire.status == msg::status::NORMAL {
                wire.status = msg::status::DELETED_FOR_ME;
                wire.content.clear();
            }
            wire
        })
        .collect()
}
