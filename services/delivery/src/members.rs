//! The members of the conversations a delivery worker fans out to: read from the store once,
//! then kept current by the membership events it delivers, in order (a conversation's events
//! all travel on one partition). Events carry no member lists, so they stay small.

use herald_protocol::bus::{Audience, Event, EventBody};
use herald_protocol::ws::READ_RECEIPT_MAX_MEMBERS;
use herald_protocol::{AppId, ConvId, SessionId};
use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};

/// A conversation's key: (app, id).
pub type ConvKey = (AppId, ConvId);

/// Most member entries kept per partition; past it the cache starts over (members are re-read).
pub const MAX_CACHED_MEMBERS: usize = 1_000_000;

/// Members per conversation, for one partition.
#[derive(Debug, Default)]
pub struct MemberCache {
    members: HashMap<ConvKey, Vec<SessionId>>,
    entries: usize,
}

impl MemberCache {
    /// The conversations among `events` whose members must be read before `recipients`.
    pub fn missing(&self, events: &[impl Borrow<Event>]) -> Vec<ConvKey> {
        let mut missing: Vec<ConvKey> = Vec::new();
        let mut seen = HashSet::new();
        for event in events.iter().map(Borrow::borrow) {
            // a read goes to its session, and its receipt to the other members
            let needs_members =
                matches!(event.body, EventBody::Read { .. }) || !matches!(event.body.audience(), Audience::Session(_));
            if !needs_members {
                continue;
            }
            let key = (event.app.clone(), event.conv.clone());
            if !self.members.contains_key(&key) && seen.insert(key.clone()) {
                missing.push(key);
            }
        }
        missing
    }

    /// Whether `more` entries fit; if not, the caller clears first.
    pub fn fits(&self, more: usize) -> bool {
        self.entries.saturating_add(more) <= MAX_CACHED_MEMBERS
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn clear(&mut self) {
        self.members.clear();
        self.entries = 0;
    }

    /// Members as the store holds them now (at least as new as the events still to deliver).
    pub fn insert(&mut self, key: ConvKey, members: Vec<SessionId>) {
        self.entries = self.entries.saturating_add(members.len());
        if let Some(old) = self.members.insert(key, members) {
            self.entries = self.entries.saturating_sub(old.len());
        }
    }

    /// The sessions `event` is for; a membership event also updates the cached members. Applying
    /// events in order to members read at any later point of the log converges on the store's.
    pub fn recipients(&mut self, event: &Event) -> Vec<SessionId> {
        let key = (event.app.clone(), event.conv.clone());
        match (&event.body, event.body.audience()) {
            (_, Audience::Session(session)) => vec![session.clone()],
            (EventBody::MembersAdded { sessions, .. }, _) => {
                let members = self.members.entry(key).or_default();
                let present: HashSet<SessionId> = members.iter().cloned().collect();
                let before = members.len();
                let mut fresh = HashSet::new();
                members.extend(
                    sessions
                        .iter()
                        .filter(|s| !present.contains(*s) && fresh.insert(*s))
                        .cloned(),
                );
                self.entries = self.entries.saturating_add(members.len() - before);
                members.clone()
            }
            (_, Audience::MembersAndRemoved(removed)) => {
                let gone: HashSet<&SessionId> = removed.iter().collect();
                let members = self.members.entry(key).or_default();
                let mut recipients = members.clone();
                let before = members.len();
                members.retain(|m| !gone.contains(m));
                self.entries = self.entries.saturating_sub(before - members.len());
                let present: HashSet<&SessionId> = recipients.iter().collect();
                let absent: Vec<SessionId> = removed.iter().filter(|s| !present.contains(s)).cloned().collect();
                recipients.extend(absent);
                recipients
            }
            (_, Audience::Members) => self.members.get(&key).cloned().unwrap_or_default(),
        }
    }

    /// Who gets `event`'s read receipt: for a read in a conversation of at most
    /// `READ_RECEIPT_MAX_MEMBERS`, the members other than the reader (as of this point of the
    /// log); nobody otherwise.
    pub fn receipt_recipients(&self, event: &Event) -> Vec<SessionId> {
        let EventBody::Read { session, .. } = &event.body else {
            return Vec::new();
        };
        match self.members.get(&(event.app.clone(), event.conv.clone())) {
            Some(members) if members.len() <= READ_RECEIPT_MAX_MEMBERS => {
                members.iter().filter(|m| *m != session).cloned().collect()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_protocol::bus::EventBody;

    fn sids(names: &[&str]) -> Vec<SessionId> {
        names.iter().map(|n| SessionId::parse(*n).unwrap()).collect()
    }

    fn event(body: EventBody) -> Event {
        Event {
            app: AppId::parse("a").unwrap(),
            conv: ConvId::parse("c").unwrap(),
            body,
        }
    }

    fn key() -> ConvKey {
        (AppId::parse("a").unwrap(), ConvId::parse("c").unwrap())
    }

    #[test]
    fn membership_events_update_the_members_in_order() {
        let mut cache = MemberCache::default();
        let archived = event(EventBody::Archived { archived: true });
        assert_eq!(cache.missing(std::slice::from_ref(&archived)), vec![key()]);
        cache.insert(key(), sids(&["alice", "bob"]));
        assert!(cache.missing(std::slice::from_ref(&archived)).is_empty());
        assert_eq!(cache.recipients(&archived), sids(&["alice", "bob"]));

        let added = event(EventBody::MembersAdded {
            sessions: sids(&["carol", "bob", "carol"]),
            by: None,
        });
        assert_eq!(
            cache.recipients(&added),
            sids(&["alice", "bob", "carol"]),
            "the members after an add"
        );
        let removed = event(EventBody::MembersRemoved {
            sessions: sids(&["bob", "zed"]),
            by: None,
        });
        assert_eq!(
            cache.recipients(&removed),
            sids(&["alice", "bob", "carol", "zed"]),
            "the members before a removal, and whoever it removes"
        );
        assert_eq!(cache.recipients(&archived), sids(&["alice", "carol"]));
        assert_eq!(cache.entries, 2);
        let read = event(EventBody::Read {
            session: SessionId::parse("alice").unwrap(),
            seq: 1,
            unread: 0,
        });
        assert!(
            cache.missing(std::slice::from_ref(&read)).is_empty(),
            "a read of a conversation whose members are known reads nothing"
        );
        assert_eq!(cache.recipients(&read), sids(&["alice"]));
    }

    #[test]
    fn a_reads_receipt_goes_to_the_other_members_of_a_small_conversation_only() {
        let mut cache = MemberCache::default();
        let read = event(EventBody::Read {
            session: SessionId::parse("alice").unwrap(),
            seq: 3,
            unread: 0,
        });
        assert_eq!(
            cache.missing(std::slice::from_ref(&read)),
            vec![key()],
            "its members are read"
        );
        cache.insert(key(), sids(&["alice", "bob", "carol"]));
        assert_eq!(cache.receipt_recipients(&read), sids(&["bob", "carol"]));
        assert_eq!(
            cache.recipients(&read),
            sids(&["alice"]),
            "the read itself: her devices"
        );
        let archived = event(EventBody::Archived { archived: true });
        assert!(
            cache.receipt_recipients(&archived).is_empty(),
            "only reads have receipts"
        );

        let crowd: Vec<String> = (0..=READ_RECEIPT_MAX_MEMBERS).map(|i| format!("m{i}")).collect();
        let crowd: Vec<&str> = crowd.iter().map(String::as_str).collect();
        cache.clear();
        cache.insert(key(), sids(&crowd));
        assert!(
            cache.receipt_recipients(&read).is_empty(),
            "no receipts past {READ_RECEIPT_MAX_MEMBERS} members"
        );
    }

    #[test]
    fn members_read_after_later_changes_converge() {
        // the store already holds both changes when the members are read
        let mut cache = MemberCache::default();
        cache.insert(key(), sids(&["alice", "bob"]));
        let removed = event(EventBody::MembersRemoved {
            sessions: sids(&["bob"]),
            by: None,
        });
        let added = event(EventBody::MembersAdded {
            sessions: sids(&["bob"]),
            by: None,
        });
        cache.recipients(&removed);
        assert_eq!(cache.recipients(&added), sids(&["alice", "bob"]));
    }
}
