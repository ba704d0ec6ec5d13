//! A session's conversation list, a page at a time, in a bounded number of round trips.
//!
//! Per page: the session's memberships, read cursors and hidden conversations (one partition
//! each, read at once); then the page's conversation rows, heads and member counts, each one
//! multi-partition `IN` read per `IN_GROUP` conversations; then, per conversation, one read of its
//! log from the head on, which holds the last message and shows whether a batch cut short by a
//! crash left rows above the head (see `last_seq`). Each conversation used to cost five reads
//! one after another (row, head, tail scan, last message, member count); it now costs one, plus
//! three shared by up to `IN_GROUP` conversations. What a page returns is unchanged, and equal
//! to SQLite's (the conformance suite).

use super::buckets::{bucket_bounds, bucket_of, seq_from_cql};
use super::paging::{Slice, contiguous_run, slice_values};
use super::rows::{self, ConversationRow, MessageRow};
use super::store::ScyllaStore;
use crate::{ConvSummary, ListCursor, StoreError};
use herald_protocol::{AppId, ConvId, MessageRecord, SessionId};
use std::collections::HashMap;

/// Most partition keys in one `IN` read: ScyllaDB refuses more than
/// `max_partition_key_restrictions_per_query` (100 by default).
pub const IN_GROUP: usize = 100;
/// Rows of the log read from the head on. One (the head itself) unless a crash cut a batch short.
pub const TAIL_PEEK: usize = 8;

/// What the rows at and above the head say about the last `Seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// The last `Seq` (0: an empty log).
    Last(u64),
    /// The rows above the head may go on past what was read: walk the log (`last_seq_of`).
    ReadOn,
}

/// The last `Seq` from `seqs`, the ascending `Seq`s of the head's bucket from `max(head, 1)` to
/// `bucket_end`, at most `peek` of them: the head plus the rows just above it without a gap.
pub fn tail_of(head: u64, seqs: &[u64], bucket_end: u64, peek: usize) -> Tail {
    let run = contiguous_run(head + 1, seqs.iter().copied().filter(|seq| *seq > head));
    let last = head + run as u64;
    let may_go_on = last > head && (last >= bucket_end || (seqs.len() >= peek && seqs.last() == Some(&last)));
    if may_go_on || (head >= bucket_end && head > 0) {
        Tail::ReadOn
    } else {
        Tail::Last(last)
    }
}

impl ScyllaStore {
    /// The last message of a conversation whose head is `head`.
    async fn last_message(&self, app: &AppId, conv: &ConvId, head: u64) -> Result<Option<MessageRecord>, StoreError> {
        let from = head.max(1);
        let bucket = bucket_of(from);
        let (_, bucket_end) = bucket_bounds(bucket);
        let slice = Slice {
            bucket,
            from,
            to: bucket_end,
            limit: TAIL_PEEK,
        };
        let peek: Vec<MessageRow> = self
            .rows(&self.st.messages_ascending, slice_values(app, conv, &slice))
            .await?;
        let seqs: Vec<u64> = peek.iter().map(|row| seq_from_cql(row.2)).collect();
        match tail_of(head, &seqs, bucket_end, TAIL_PEEK) {
            Tail::Last(0) => Ok(None),
            Tail::Last(last) => peek
                .into_iter()
                .find(|row| seq_from_cql(row.2) == last)
                .map(rows::message)
                .transpose(),
            Tail::ReadOn => match self.last_seq_of(app, conv).await? {
                0 => Ok(None),
                last => self.message_at(app, conv, last).await,
            },
        }
    }

    /// Rows, heads and member counts of up to `IN_GROUP` conversations.
    async fn page_group(&self, app: &AppId, ids: &[&str]) -> Result<PageGroup, StoreError> {
        let keys = (app.as_str(), ids.to_vec());
        let (convs, heads, counts) = futures::try_join!(
            self.rows::<ConversationRow, 2>(&self.st.convs_select, keys.clone()),
            self.rows::<(String, Option<i64>), 2>(&self.st.heads_select, keys.clone()),
            self.rows::<(String, String, Option<i64>), 2>(&self.st.member_counts_select, keys),
        )?;
        Ok(PageGroup {
            convs: convs.into_iter().map(|row| (row.1.clone(), row)).collect(),
            heads: heads
                .into_iter()
                .filter_map(|(conv, seq)| seq.map(|seq| (conv, seq_from_cql(seq))))
                .collect(),
            counts: counts
                .into_iter()
                .filter_map(|(_, conv, count)| count.map(|count| (conv, seq_from_cql(count))))
                .collect(),
        })
    }

    /// Rows, heads and member counts of the page's conversations, `IN_GROUP` at a time.
    async fn page_groups(&self, app: &AppId, ids: &[&str]) -> Result<PageGroup, StoreError> {
        let groups: Vec<PageGroup> = self
            .in_order(ids.chunks(IN_GROUP).map(|group| self.page_group(app, group)).collect())
            .await?;
        let mut page = PageGroup::default();
        for group in groups {
            page.convs.extend(group.convs);
            page.heads.extend(group.heads);
            page.counts.extend(group.counts);
        }
        Ok(page)
    }

    pub(super) async fn list(
        &self,
        app: &AppId,
        session: &SessionId,
        after: Option<&ListCursor>,
        limit: usize,
    ) -> Result<Vec<ConvSummary>, StoreError> {
        let keys = (app.as_str(), session.as_str());
        let (memberships, cursors, hidden) = futures::try_join!(
            self.rows::<(String, Option<i64>, Option<bool>), 2>(&self.st.memberships_select, keys),
            self.rows::<(String, Option<i64>), 2>(&self.st.cursors_of_session, keys),
            self.rows::<(String, Option<i64>), 2>(&self.st.hidden_conversations_of_session, keys),
        )?;
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
        let cursors: HashMap<String, i64> = cursors
            .into_iter()
            .filter_map(|(conv, seq)| seq.map(|seq| (conv, seq)))
            .collect();
        let hidden: HashMap<String, i64> = hidden
            .into_iter()
            .filter_map(|(conv, at)| at.map(|at| (conv, at)))
            .collect();

        let ids: Vec<&str> = joined.iter().map(|(conv, _)| conv.as_str()).collect();
        let mut page = self.page_groups(app, &ids).await?;

        // the conversations that exist, in list order (a membership may outlive a creation cut short)
        let mut found = Vec::new();
        for (conv_id, joined_at) in joined {
            let Some(row) = page.convs.remove(&conv_id) else {
                continue;
            };
            let Some(conv) = rows::conversation(row)? else {
                continue;
            };
            let head = page.heads.get(&conv_id).copied().unwrap_or(0);
            let member_count = page.counts.get(&conv_id).copied().unwrap_or(0);
            let read_seq = cursors.get(&conv_id).copied().map(seq_from_cql).unwrap_or(0);
            let hidden_at = hidden.get(&conv_id).copied().map(seq_from_cql);
            found.push((conv, joined_at, head, member_count, read_seq, hidden_at));
        }
        let lasts: Vec<Option<MessageRecord>> = self
            .in_order(
                found
                    .iter()
                    .map(|(conv, _, head, ..)| self.last_message(app, &conv.id, *head))
                    .collect(),
            )
            .await?;
        Ok(found
            .into_iter()
            .zip(lasts)
            .map(
                |((conv, joined_at, _, member_count, read_seq, hidden_at), last)| ConvSummary {
                    conv,
                    joined_at,
                    last,
                    read_seq,
                    hidden_at,
                    member_count,
                },
            )
            .collect())
    }
}

/// What the `IN` reads of a page found, by conversation id.
#[derive(Default)]
struct PageGroup {
    convs: HashMap<String, ConversationRow>,
    heads: HashMap<String, u64>,
    counts: HashMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const END: u64 = 999;

    #[test]
    fn the_head_alone_is_the_last() {
        assert_eq!(tail_of(5, &[5], END, TAIL_PEEK), Tail::Last(5));
        assert_eq!(tail_of(0, &[], END, TAIL_PEEK), Tail::Last(0), "an empty log");
        assert_eq!(
            tail_of(5, &[], END, TAIL_PEEK),
            Tail::Last(5),
            "the head's row unreadable: no last message, as before"
        );
    }

    #[test]
    fn rows_left_above_the_head_count_up_to_the_gap() {
        assert_eq!(tail_of(3, &[3, 4, 5, 7], END, TAIL_PEEK), Tail::Last(5));
        assert_eq!(
            tail_of(0, &[1, 2], END, TAIL_PEEK),
            Tail::Last(2),
            "no head written yet"
        );
        assert_eq!(tail_of(3, &[3, 5], END, TAIL_PEEK), Tail::Last(3), "a gap right above");
    }

    #[test]
    fn a_run_that_may_go_on_is_read_on() {
        let full: Vec<u64> = (3..3 + TAIL_PEEK as u64).collect();
        assert_eq!(tail_of(3, &full, END, TAIL_PEEK), Tail::ReadOn, "the peek was all run");
        assert_eq!(
            tail_of(997, &[997, 998, 999], END, TAIL_PEEK),
            Tail::ReadOn,
            "into the next bucket"
        );
        assert_eq!(
            tail_of(999, &[999], END, TAIL_PEEK),
            Tail::ReadOn,
            "the head ends its bucket"
        );
        let gapped = [3, 4, 6, 7, 8, 9, 10, 11];
        assert_eq!(
            tail_of(3, &gapped, END, TAIL_PEEK),
            Tail::Last(4),
            "a gap inside the peek"
        );
    }
}
