//! Packs: the entries of one partition published together travel in one JetStream message.
//!
//! JetStream's cost is per message, not per byte: each one goes through the server's dedupe
//! map, its stream index, a publish acknowledgement and a consumer delivery (about 15 us of
//! `nats-server` CPU each at full load here, four messages per chat message). A publish batch's
//! entries of one partition are therefore sent as one message, a *pack*, marked with the
//! [`HEADER`] header. The sequencer's events of a batch share a partition and the gateway's
//! commands of a batch spread over a few, so at load a pack holds tens to hundreds of entries;
//! alone, an entry is published as a plain message, as before packs.
//!
//! **Positions.** Entry `index` of the message at stream sequence `seq` is at position
//! `seq << INDEX_BITS | index` ([`Positions::Packed`]): positions still increase in log order,
//! and a reader resuming after a position inside a pack reads that pack again and skips its
//! first members. Streams created before packs keep one entry per message and positions equal
//! to stream sequences ([`Positions::PerMessage`]), so their checkpoints keep their meaning; the
//! stream's metadata says which ([`FORMAT_KEY`]).
//!
//! **Dedupe.** The server compares whole messages: a pack's id is a digest of its members' ids,
//! so a batch published again whole is dropped, but an entry packed with others is not compared
//! on its own. An entry that may already be in the log (a replayed or re-published event) is
//! marked [`crate::Outgoing::repeat`] and always published alone, under its own id.
//!
//! **Body.** Members one after another, each `trace_len: u32 LE`, the trace (`traceparent`,
//! absent when the length is 0), `id_len: u32 LE`, the member's dedupe id (readers name events
//! by it: a webhook's event id stays the same when a replay publishes the event again),
//! `payload_len: u32 LE`, the payload.

use bytes::{BufMut, Bytes};
use std::collections::HashMap;

/// Marks a message whose body is a pack; its value is the format's version.
pub const HEADER: &str = "Herald-Pack";
pub const VERSION: &str = "1";
/// The stream metadata key recording how the stream's positions are numbered.
pub const FORMAT_KEY: &str = "herald.positions";
/// [`FORMAT_KEY`]'s value on streams whose messages may be packs.
pub const FORMAT_PACKED: &str = "packed-1";

/// Low bits of a packed position: the entry's index in its message.
pub const INDEX_BITS: u32 = 16;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// The most entries one pack holds.
pub const MAX_MEMBERS: usize = 1 << INDEX_BITS;
/// Bytes a member adds to a pack besides its trace, id and payload.
const MEMBER_OVERHEAD: usize = 12;

/// How a stream numbers its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// One entry per message; a position is the stream sequence (streams made before packs).
    PerMessage,
    /// Messages may be packs; a position is `seq << INDEX_BITS | index`.
    Packed,
}

impl Positions {
    /// The position of entry `index` of the message at stream sequence `seq`.
    pub fn of(self, seq: u64, index: usize) -> u64 {
        debug_assert!(
            seq < 1 << (64 - INDEX_BITS),
            "stream sequence {seq} past the packed range"
        );
        match self {
            Positions::PerMessage => seq,
            Positions::Packed => (seq << INDEX_BITS) | (index as u64 & INDEX_MASK),
        }
    }

    /// The highest position the message at `seq` may hold.
    pub fn last_of(self, seq: u64) -> u64 {
        match self {
            Positions::PerMessage => seq,
            Positions::Packed => (seq << INDEX_BITS) | INDEX_MASK,
        }
    }

    /// The stream sequence of the message holding `position`.
    pub fn seq(self, position: u64) -> u64 {
        match self {
            Positions::PerMessage => position,
            Positions::Packed => position >> INDEX_BITS,
        }
    }

    /// The first stream sequence a reader resuming after `position` must read: the message
    /// holding it when later members of it may follow.
    pub fn resume_seq(self, position: u64) -> u64 {
        let seq = match self {
            Positions::Packed if position & INDEX_MASK != INDEX_MASK => self.seq(position),
            _ => self.seq(position) + 1,
        };
        // stream sequences start at 1 (a position below the first message's is "from the start")
        seq.max(1)
    }
}

/// One entry to publish, as the planner sees it.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub partition: u32,
    /// Published on its own (see [`crate::Outgoing::repeat`]).
    pub alone: bool,
    /// Its trace's, id's and payload's bytes.
    pub size: usize,
}

/// Entries published as one message: indices into the batch, in publish order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub partition: u32,
    pub members: Vec<usize>,
}

/// Splits a batch into messages: each partition's entries in runs that fit `limit` bytes and
/// [`MAX_MEMBERS`], an entry marked alone in a message of its own. Within a partition the
/// groups come in the entries' order (a group is listed where its first member is), so
/// publishing them in this order keeps the partition's order.
pub fn plan(items: &[Item], limit: usize) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    // each partition's open group (its index in `groups`) and that group's size
    let mut open: HashMap<u32, (usize, usize)> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let size = item.size + MEMBER_OVERHEAD;
        if item.alone {
            open.remove(&item.partition);
            groups.push(Group {
                partition: item.partition,
                members: vec![index],
            });
            continue;
        }
        if let Some((at, bytes)) = open.get_mut(&item.partition)
            && *bytes + size <= limit
            && groups[*at].members.len() < MAX_MEMBERS
        {
            *bytes += size;
            groups[*at].members.push(index);
            continue;
        }
        open.insert(item.partition, (groups.len(), size));
        groups.push(Group {
            partition: item.partition,
            members: vec![index],
        });
    }
    groups
}

/// One entry of a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<T, B> {
    pub trace: Option<T>,
    pub id: B,
    pub payload: B,
}

/// The groups in waves: wave `k` holds the `k`-th group of each partition (indices into
/// `groups`, in order), so a partition's groups can go out one wave after another.
pub fn waves(groups: &[Group]) -> Vec<Vec<usize>> {
    let mut waves: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashMap<u32, usize> = HashMap::new();
    for (index, group) in groups.iter().enumerate() {
        let wave = seen.entry(group.partition).or_insert(0);
        if *wave == waves.len() {
            waves.push(Vec::new());
        }
        waves[*wave].push(index);
        *wave += 1;
    }
    waves
}

/// A pack's body from its members.
pub fn encode<'a>(members: impl Iterator<Item = Member<&'a str, &'a [u8]>>, size_hint: usize) -> Bytes {
    let mut body = Vec::with_capacity(size_hint);
    for member in members {
        let trace = member.trace.unwrap_or("").as_bytes();
        for part in [trace, member.id, member.payload] {
            body.put_u32_le(part.len() as u32);
            body.put_slice(part);
        }
    }
    Bytes::from(body)
}

/// The size `encode` needs for members of these sizes (traces, ids and payloads).
pub fn encoded_size(sizes: impl Iterator<Item = usize>) -> usize {
    sizes.map(|s| s + MEMBER_OVERHEAD).sum()
}

/// A malformed pack (a member running past the end, or a trace that is not UTF-8).
#[derive(Debug, thiserror::Error)]
#[error("malformed pack: {0}")]
pub struct Malformed(&'static str);

/// A pack's members, each id and payload a slice of `body` (no copy).
pub fn decode(body: &Bytes) -> Result<Vec<Member<String, Bytes>>, Malformed> {
    let mut members = Vec::new();
    let mut at = 0;
    let take = |at: &mut usize| -> Result<Bytes, Malformed> {
        let len_end = at
            .checked_add(4)
            .filter(|end| *end <= body.len())
            .ok_or(Malformed("length"))?;
        let len = u32::from_le_bytes(body[*at..len_end].try_into().expect("four bytes")) as usize;
        let end = len_end
            .checked_add(len)
            .filter(|end| *end <= body.len())
            .ok_or(Malformed("member past the end"))?;
        *at = end;
        Ok(body.slice(len_end..end))
    };
    while at < body.len() {
        if members.len() == MAX_MEMBERS {
            return Err(Malformed("too many members"));
        }
        let trace = take(&mut at)?;
        let trace = match trace.is_empty() {
            true => None,
            false => Some(String::from_utf8(trace.to_vec()).map_err(|_| Malformed("trace not UTF-8"))?),
        };
        let id = take(&mut at)?;
        members.push(Member {
            trace,
            id,
            payload: take(&mut at)?,
        });
    }
    Ok(members)
}

/// A pack's dedupe id: a digest of its partition and its members' ids, so the same batch
/// published again is dropped as a whole.
pub fn dedupe_id<'a>(partition: u32, ids: impl Iterator<Item = &'a str>) -> String {
    let mut input = partition.to_le_bytes().to_vec();
    for id in ids {
        input.extend_from_slice(&(id.len() as u64).to_le_bytes());
        input.extend_from_slice(id.as_bytes());
    }
    format!("pack:{:032x}", twox_hash::XxHash3_128::oneshot(&input))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(partition: u32, size: usize) -> Item {
        Item {
            partition,
            alone: false,
            size,
        }
    }

    #[test]
    fn packed_positions_increase_in_log_order_and_resume_inside_a_pack() {
        let p = Positions::Packed;
        assert!(p.of(7, 0) < p.of(7, 1) && p.of(7, 1) < p.last_of(7) && p.last_of(7) < p.of(8, 0));
        assert_eq!((p.seq(p.of(9, 3)), p.resume_seq(p.of(9, 3))), (9, 9));
        assert_eq!(p.resume_seq(p.last_of(9)), 10);
        // "after nothing" and "after the message before" both start at that message
        assert_eq!(p.resume_seq(p.of(9, 0) - 1), 9);
        let m = Positions::PerMessage;
        assert_eq!((m.of(9, 0), m.last_of(9), m.resume_seq(9)), (9, 9, 10));
        // a position before the first message's resumes at the stream's first sequence
        assert_eq!(
            (p.resume_seq(1), p.resume_seq(p.last_of(0)), m.resume_seq(0)),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_partition_s_entries_share_a_pack_in_order_and_alone_ones_split_it() {
        let mut items = vec![item(1, 10), item(2, 10), item(1, 10), item(1, 10), item(2, 10)];
        items[3].alone = true;
        let groups = plan(&items, 1000);
        let members: Vec<(u32, Vec<usize>)> = groups.into_iter().map(|g| (g.partition, g.members)).collect();
        assert_eq!(members, vec![(1, vec![0, 2]), (2, vec![1, 4]), (1, vec![3])]);
        // an entry after an alone one opens a new pack after it
        let mut items = vec![item(1, 10); 4];
        items[1].alone = true;
        let members: Vec<Vec<usize>> = plan(&items, 1000).into_iter().map(|g| g.members).collect();
        assert_eq!(members, vec![vec![0], vec![1], vec![2, 3]]);
    }

    #[test]
    fn a_partition_s_groups_go_out_one_wave_after_another() {
        let group = |partition| Group {
            partition,
            members: vec![],
        };
        let groups = [group(1), group(2), group(1), group(1), group(3)];
        assert_eq!(waves(&groups), vec![vec![0, 1, 4], vec![2], vec![3]]);
        assert!(waves(&[]).is_empty());
    }

    #[test]
    fn packs_stay_within_the_byte_limit() {
        let items = vec![item(0, 400); 10];
        let groups = plan(&items, 1000);
        assert!(
            groups
                .iter()
                .all(|g| encoded_size(g.members.iter().map(|i| items[*i].size)) <= 1000)
        );
        assert_eq!(groups.iter().map(|g| g.members.len()).sum::<usize>(), 10);
        // too large for any pack: alone (the server refuses it, as it would unpacked)
        assert_eq!(plan(&[item(0, 5000), item(0, 1)], 1000).len(), 2);
    }

    fn member<'a>(trace: Option<&'a str>, id: &'a str, payload: &'a [u8]) -> Member<&'a str, &'a [u8]> {
        Member {
            trace,
            id: id.as_bytes(),
            payload,
        }
    }

    #[test]
    fn a_pack_reads_back_what_was_packed() {
        let members = vec![
            member(Some("00-ab-cd-01"), "evt:1", b"one"),
            member(None, "", b""),
            member(None, "msg:3", b"three"),
        ];
        let body = encode(members.iter().cloned(), 0);
        let sizes = members
            .iter()
            .map(|m| m.trace.map_or(0, str::len) + m.id.len() + m.payload.len());
        assert_eq!(body.len(), encoded_size(sizes));
        let read = decode(&body).unwrap();
        let read: Vec<Member<&str, &[u8]>> = read
            .iter()
            .map(|m| Member {
                trace: m.trace.as_deref(),
                id: m.id.as_ref(),
                payload: m.payload.as_ref(),
            })
            .collect();
        assert_eq!(read, members);
    }

    #[test]
    fn a_truncated_or_garbled_pack_is_refused() {
        let body = encode([member(None, "id", b"payload")].into_iter(), 0);
        for cut in 1..body.len() {
            assert!(decode(&body.slice(..cut)).is_err(), "cut at {cut}");
        }
        let bad_trace = encode([member(Some("\u{fffd}"), "id", b"x")].into_iter(), 0);
        let mut garbled = bad_trace.to_vec();
        garbled[4] = 0xff;
        assert!(decode(&Bytes::from(garbled)).is_err());
        assert!(decode(&Bytes::from_static(&[0xff, 0xff, 0xff, 0xff])).is_err());
    }

    #[test]
    fn a_pack_s_id_names_its_partition_and_members() {
        let id = |p, ids: &[&str]| dedupe_id(p, ids.iter().copied());
        assert_eq!(id(1, &["a", "b"]), id(1, &["a", "b"]));
        assert_ne!(id(1, &["a", "b"]), id(2, &["a", "b"]));
        assert_ne!(id(1, &["a", "b"]), id(1, &["b", "a"]));
        assert_ne!(id(1, &["ab", ""]), id(1, &["a", "b"]));
    }
}
