//! The long-poll registrations of this gateway: one mailbox per (app, session, platform),
//! registered in the hub like a connection, and unregistered once nobody polled it for `POLL_KEEP`.

use crate::hub::{ConnKind, Hub};
use crate::mailbox::Mailbox;
use herald_protocol::{AppId, Platform, SessionId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Key = (AppId, SessionId, Platform);

/// A (session, platform)'s mailbox and its registration in the hub.
#[derive(Clone)]
pub struct PollBox {
    pub mailbox: Arc<Mailbox>,
    pub conn_id: u64,
}

#[derive(Default)]
pub struct PollBoxes {
    boxes: Mutex<HashMap<Key, PollBox>>,
}

impl PollBoxes {
    /// The key's box, made by `make` when there is none; true when it was made now. Claimed
    /// under the lock, so two first polls at once share one registration.
    pub fn claim(&self, key: &Key, make: impl FnOnce() -> PollBox) -> (PollBox, bool) {
        let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
        match boxes.get(key) {
            Some(poll_box) => (poll_box.clone(), false),
            None => {
                let poll_box = make();
                boxes.insert(key.clone(), poll_box.clone());
                (poll_box, true)
            }
        }
    }

    /// Forgets the key's box if it is still the one registered as `conn_id`.
    pub fn forget(&self, key: &Key, conn_id: u64) {
        let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
        if boxes.get(key).is_some_and(|b| b.conn_id == conn_id) {
            boxes.remove(key);
        }
    }

    /// Unregisters mailboxes nobody polled for `POLL_KEEP`.
    pub async fn expire(&self, hub: &Hub) {
        let abandoned: Vec<_> = {
            let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<_> = boxes
                .iter()
                .filter(|(_, b)| b.mailbox.is_abandoned())
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| boxes.remove(&k).map(|b| (k, b)))
                .collect()
        };
        for ((app, session, _), poll_box) in abandoned {
            hub.unregister(&app, &session, poll_box.conn_id, ConnKind::Poll).await;
        }
    }
}
