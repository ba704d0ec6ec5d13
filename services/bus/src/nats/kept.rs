//! The values behind the stream messages this process published, kept a little while for its
//! own readers: when the sequencer and the delivery worker of a partition (or a gateway and the
//! sequencer) share a process, the reader takes the values instead of decoding the bytes it
//! reads back. The stream stays the record and the reader still reads every message from it;
//! only the decoding is saved. A message is recognized by its stream sequence and its
//! `Nats-Msg-Id`, so a stream recreated under the process (sequences starting over) never hands
//! a reader the values of another message.

use crate::{Log, Payload};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Entries kept at most (the oldest messages go first): a reader that keeps up reads a message
/// within milliseconds of its publish; one that lags decodes, as a reader in another process does.
pub const CAPACITY: usize = 16_384;

type Key = (Log, u32, u64);

struct Message {
    id: String,
    payloads: Vec<Payload>,
}

#[derive(Default)]
struct Inner {
    messages: HashMap<Key, Message>,
    order: VecDeque<Key>,
    entries: usize,
}

/// Published values by (log, partition, stream sequence).
pub struct Kept {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Kept {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Keeps the values of the message stored at `seq`, published under `id`.
    pub fn keep(&self, log: Log, partition: u32, seq: u64, id: String, payloads: Vec<Payload>) {
        if payloads.len() > self.capacity {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.entries += payloads.len();
        if let Some(replaced) = inner.messages.insert((log, partition, seq), Message { id, payloads }) {
            inner.entries -= replaced.payloads.len();
        } else {
            inner.order.push_back((log, partition, seq));
        }
        while inner.entries > self.capacity {
            let Some(oldest) = inner.order.pop_front() else { break };
            if let Some(gone) = inner.messages.remove(&oldest) {
                inner.entries -= gone.payloads.len();
            }
        }
    }

    /// The values of the message at `seq` if this process published it under `id`.
    pub fn get(&self, log: Log, partition: u32, seq: u64, id: &str) -> Option<Vec<Payload>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .messages
            .get(&(log, partition, seq))
            .filter(|message| message.id == id)
            .map(|message| message.payloads.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<Payload> {
        (0..n).map(|i| Payload::value(i as u64)).collect()
    }

    #[test]
    fn a_message_is_found_by_its_place_and_its_id_only() {
        let kept = Kept::new(100);
        kept.keep(Log::Events, 3, 7, "pack:a".into(), values(2));
        let found = kept.get(Log::Events, 3, 7, "pack:a").expect("kept");
        assert_eq!(found[1].as_value::<u64>(), Some(&1));
        assert!(
            kept.get(Log::Events, 3, 7, "pack:b").is_none(),
            "another message at that place"
        );
        assert!(kept.get(Log::Commands, 3, 7, "pack:a").is_none());
        assert!(kept.get(Log::Events, 2, 7, "pack:a").is_none());
    }

    #[test]
    fn the_oldest_messages_go_past_the_capacity() {
        let kept = Kept::new(10);
        for seq in 1..=4 {
            kept.keep(Log::Events, 0, seq, format!("m{seq}"), values(4));
        }
        assert!(kept.get(Log::Events, 0, 2, "m2").is_none());
        assert!(kept.get(Log::Events, 0, 3, "m3").is_some() && kept.get(Log::Events, 0, 4, "m4").is_some());
        kept.keep(Log::Events, 0, 5, "big".into(), values(11));
        assert!(
            kept.get(Log::Events, 0, 5, "big").is_none(),
            "larger than the capacity: not kept"
        );
    }
}
