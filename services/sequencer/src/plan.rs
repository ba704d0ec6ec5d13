//! Sequencing as a plain function: given a batch of commands, the conversations' state and the
//! stored messages the batch refers to, decide every outcome, store change and event. No I/O.

use herald_protocol::bus::{Action, Command, Event, EventBody, MembersCommand, Reply, ReplyTo, SendCommand};
use herald_protocol::error_code::WireError;
use herald_protocol::{AppId, ConvId, ConvKind, ErrorCode, MessageRecord, MsgId, SessionId, Text, msg};
use herald_store::{AppSettings, Change, Conversation, DEFAULT_MAX_MEMBERS};
use std::collections::{HashMap, HashSet};

/// A conversation's key: its id is the app's own (a client may choose it), so never alone.
pub type ConvKey = (AppId, ConvId);

/// What the sequencer knows of one conversation while it owns its partition.
#[derive(Debug, Clone)]
pub struct ConvState {
    pub conv: Conversation,
    pub members: Vec<SessionId>,
    member_set: HashSet<SessionId>,
    pub last_seq: u64,
    /// The conversation's last `Seq` when this state was read from the store, at or after the
    /// start of the partition's current reader (`begin` clears the cache): a message after it
    /// was stored by this reader, whose batches publish their events before the next batch runs
    /// (a failed publish ends the reader), so a retry of it has no event to re-publish. One at
    /// or before it may have lost its event with an earlier reader or process.
    pub stored_before: u64,
    /// Read cursors loaded so far (absent: not loaded, not 0).
    pub read: HashMap<SessionId, u64>,
    /// Messages each member sent (1:1 conversations only: the anti-spam rule).
    pub sent_by: HashMap<SessionId, u64>,
}

impl ConvState {
    /// The key this state is cached under.
    pub fn key(&self) -> ConvKey {
        (self.conv.app.clone(), self.conv.id.clone())
    }

    pub fn new(conv: Conversation, members: Vec<SessionId>, last_seq: u64) -> Self {
        let member_set = members.iter().cloned().collect();
        Self {
            conv,
            members,
            member_set,
            last_seq,
            stored_before: last_seq,
            read: HashMap::new(),
            sent_by: HashMap::new(),
        }
    }

    /// The other member of a 1:1 conversation.
    fn peer_of(&self, session: &SessionId) -> Option<&SessionId> {
        (self.conv.kind == ConvKind::Single)
            .then(|| self.members.iter().find(|m| *m != session))
            .flatten()
    }

    pub fn is_member(&self, session: &SessionId) -> bool {
        self.member_set.contains(session)
    }

    /// Adds sessions that are not members yet (the caller dedupes).
    fn add_all(&mut self, sessions: &[SessionId]) {
        for session in sessions {
            if self.member_set.insert(session.clone()) {
                self.members.push(session.clone());
            }
        }
    }

    /// Removes the sessions that are members, in one pass; returns them.
    fn remove_all(&mut self, sessions: Vec<SessionId>) -> Vec<SessionId> {
        let removed: Vec<SessionId> = sessions.into_iter().filter(|s| self.member_set.remove(s)).collect();
        if !removed.is_empty() {
            let gone: HashSet<&SessionId> = removed.iter().collect();
            self.members.retain(|m| !gone.contains(m));
        }
        removed
    }
}

/// The decisions for one batch.
#[derive(Debug, Default)]
pub struct Plan {
    /// Store writes, in order.
    pub changes: Vec<Change>,
    /// Answers for the waiting requests.
    pub replies: Vec<(ReplyTo, Result<Reply, WireError>)>,
    /// Events to publish after the writes, with the log position of their command.
    pub events: Vec<(u64, Event)>,
    /// Indices into `events` of stored messages' events published again (a retried or replayed
    /// send), in order: those may be in the events log already.
    pub reemits: Vec<usize>,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

/// Re-publish the event of a retried message sent this recently, unless the current reader
/// published it (see `ConvState::stored_before`); the event log's dedupe window drops it if its
/// first publish happened alone. A command that may be a replay re-publishes whatever its age:
/// see `Known::replay_through`.
pub const REEMIT_WINDOW_NANOS: i64 = 120 * 1_000_000_000;

/// What the store already holds that the batch refers to.
#[derive(Debug, Default)]
pub struct Known {
    /// Messages matching the batch's idempotency keys.
    pub originals: Vec<MessageRecord>,
    /// Messages the batch recalls, by conversation and id.
    pub by_id: HashMap<(ConvKey, MsgId), MessageRecord>,
    /// The settings of the apps the batch touches (absent: defaults).
    pub settings: HashMap<AppId, AppSettings>,
    /// 1:1 senders and peers (app, a, b) who are friends, where an app requires friendship.
    pub friends: HashSet<(AppId, SessionId, SessionId)>,
    /// Commands at or before this log position may have been sequenced already, by an owner
    /// that crashed between the store append and the event publish. Such a command finds its
    /// effect in place (a stored message, a member already added or gone, a message already
    /// recalled) and publishes its event again: at least once, never lost. The event log
    /// dedupes a re-publish inside its window, and clients drop a push they already have. A
    /// command in that range that really was a no-op (a second join) publishes an event that
    /// restates the state; that is the price of never losing one.
    pub replay_through: u64,
}

/// A message the planner refers to: one the store holds, or one this batch writes (its index
/// in `plan.changes`, so the record is not copied once more per lookup map).
enum Ref {
    Stored(MessageRecord),
    Planned(usize),
}

impl Ref {
    fn get<'a>(&'a self, changes: &'a [Change]) -> &'a MessageRecord {
        match self {
            Ref::Stored(record) => record,
            Ref::Planned(index) => match &changes[*index] {
                Change::Message(record) | Change::Tombstone(record) => record,
                other => unreachable!("a planned message refers to {other:?}"),
            },
        }
    }
}

struct Planner<F> {
    originals: HashMap<(ConvKey, SessionId, Text), Ref>,
    by_id: HashMap<(ConvKey, MsgId), Ref>,
    settings: HashMap<AppId, AppSettings>,
    friends: HashSet<(AppId, SessionId, SessionId)>,
    reemitted: HashSet<MsgId>,
    replay_through: u64,
    cursors: HashMap<(AppId, ConvId, SessionId), u64>,
    next_id: F,
    now: i64,
    plan: Plan,
}

fn err(code: ErrorCode, text: &str) -> WireError {
    WireError::new(code, text)
}

/// Sequences `commands` (each with its log position). `states` holds every conversation that
/// exists (missing = unknown).
pub fn plan_batch(
    commands: Vec<(u64, Command)>,
    states: &mut HashMap<ConvKey, ConvState>,
    known: Known,
    next_id: impl FnMut() -> u64,
    now_nanos: i64,
) -> Plan {
    let mut planner = Planner {
        originals: known
            .originals
            .into_iter()
            .map(|r| {
                (
                    (
                        (r.app.clone(), r.conv.clone()),
                        r.from.clone(),
                        r.idempotency_key.clone(),
                    ),
                    Ref::Stored(r),
                )
            })
            .collect(),
        by_id: known.by_id.into_iter().map(|(key, r)| (key, Ref::Stored(r))).collect(),
        settings: known.settings,
        friends: known.friends,
        reemitted: HashSet::new(),
        replay_through: known.replay_through,
        cursors: HashMap::new(),
        next_id,
        now: now_nanos,
        plan: Plan::default(),
    };
    // sized for the batch up front: grown message by message, these maps rehashed several
    // times per batch
    planner.originals.reserve(commands.len());
    planner.by_id.reserve(commands.len());
    planner.reemitted.reserve(commands.len());
    planner.cursors.reserve(commands.len());
    planner.plan.changes.reserve(commands.len());
    planner.plan.replies.reserve(commands.len());
    planner.plan.events.reserve(commands.len());
    for (position, command) in commands {
        let reply_to = command.reply_to.clone();
        let outcome = match states.get_mut(&key_of(&command)) {
            Some(state) => planner.one(state, position, command),
            None => Err(err(ErrorCode::NotFound, "conversation not found")),
        };
        if outcome.is_err() {
            planner.plan.rejected += 1;
        }
        if let Some(reply_to) = reply_to {
            planner.plan.replies.push((reply_to, outcome));
        }
    }
    // read cursors only rise: one write per (conversation, session) per batch
    for ((app, conv, session), seq) in planner.cursors {
        planner.plan.changes.push(Change::ReadCursor {
            app,
            conv,
            session,
            seq,
        });
    }
    planner.plan
}

/// The conversation a command is for.
pub(crate) fn key_of(command: &Command) -> ConvKey {
    (command.app.clone(), command.conv.clone())
}

/// A membership command checked against its conversation.
enum Checked {
    /// Sessions to add (or remove), and by whom.
    Change {
        adding: bool,
        sessions: Vec<SessionId>,
        by: Option<SessionId>,
    },
    /// Nothing to change (a second join, a leave of a non-member): a replayed command restates
    /// the state it finds with this event.
    InPlace(Option<EventBody>),
}

/// Checks a membership command against the conversation's state.
fn check_members(state: &ConvState, change: MembersCommand, replayed: bool) -> Result<Checked, WireError> {
    let group = state.conv.kind == ConvKind::Group;
    let not_member = || err(ErrorCode::NotMember, "not a member of this conversation");
    let (adding, sessions, by) = match change {
        MembersCommand::Join { session } if state.is_member(&session) => {
            let restated = EventBody::MembersAdded {
                sessions: vec![session.clone()],
                by: Some(session),
            };
            return Ok(Checked::InPlace(replayed.then_some(restated)));
        }
        MembersCommand::Join { session } => {
            if !group || !state.conv.open {
                return Err(err(
                    ErrorCode::NotMember,
                    "this conversation is closed: ask to be invited",
                ));
            }
            (true, vec![session.clone()], Some(session))
        }
        MembersCommand::Leave { session } if !state.is_member(&session) => {
            if !replayed {
                return Err(not_member());
            }
            let restated = EventBody::MembersRemoved {
                sessions: vec![session.clone()],
                by: Some(session),
            };
            return Ok(Checked::InPlace(Some(restated)));
        }
        MembersCommand::Leave { session } => (false, vec![session.clone()], Some(session)),
        MembersCommand::Invite { by, sessions } => {
            if !state.is_member(&by) {
                return Err(not_member());
            }
            if !group {
                return Err(err(
                    ErrorCode::NotAllowed,
                    "a single conversation has exactly two members",
                ));
            }
            (true, sessions, Some(by))
        }
        MembersCommand::Remove { by, sessions } => {
            if state.conv.owner != by {
                return Err(err(ErrorCode::NotAllowed, "only the owner may remove members"));
            }
            (false, sessions, Some(by))
        }
        MembersCommand::AppJoin { sessions } => (true, sessions, None),
        MembersCommand::AppKick { sessions } => (false, sessions, None),
    };
    Ok(Checked::Change { adding, sessions, by })
}

impl<F: FnMut() -> u64> Planner<F> {
    fn one(&mut self, state: &mut ConvState, position: u64, command: Command) -> Result<Reply, WireError> {
        let Command { app, conv, action, .. } = command;
        match action {
            Action::Send(send) => self.send(state, position, app, conv, send),
            Action::Read { session, seq } => self.read(state, position, app, conv, session, seq),
            Action::Members(change) => self.members(state, position, app, conv, change),
            Action::Archive { archived } => {
                state.conv.archived = archived;
                self.plan.changes.push(Change::Archive {
                    app: app.clone(),
                    conv: conv.clone(),
                    archived,
                });
                self.event(position, app, conv, EventBody::Archived { archived });
                Ok(Reply::Done)
            }
            Action::Recall { session, msg_id } => self.recall(state, position, app, conv, session, msg_id),
        }
    }

    fn event(&mut self, position: u64, app: AppId, conv: ConvId, body: EventBody) {
        self.plan.events.push((position, Event { app, conv, body }));
    }

    fn send(
        &mut self,
        state: &mut ConvState,
        position: u64,
        app: AppId,
        conv: ConvId,
        send: SendCommand,
    ) -> Result<Reply, WireError> {
        let key = (
            (app.clone(), conv.clone()),
            send.from.clone(),
            send.idempotency_key.clone(),
        );
        // a retry answers the original, whatever changed since
        if let Some(original) = self.originals.get(&key) {
            self.plan.duplicates += 1;
            let original = original.get(&self.plan.changes).clone();
            let replayed = position <= self.replay_through;
            let recent = self.now - original.send_time < REEMIT_WINDOW_NANOS;
            if (replayed || recent && original.seq <= state.stored_before) && self.reemitted.insert(original.msg_id) {
                self.plan.reemits.push(self.plan.events.len());
                self.event(position, app, conv, EventBody::Message(original.clone()));
            }
            return Ok(Reply::Message(original));
        }
        if !state.is_member(&send.from) {
            return Err(err(ErrorCode::NotMember, "not a member of this conversation"));
        }
        if state.conv.archived {
            return Err(err(ErrorCode::Conflict, "conversation is archived"));
        }
        if let Some(peer) = state.peer_of(&send.from).cloned() {
            let defaults = AppSettings::default();
            let settings = self.settings.get(&app).unwrap_or(&defaults);
            if settings.require_friendship && !self.friends.contains(&(app.clone(), send.from.clone(), peer.clone())) {
                return Err(err(
                    ErrorCode::NotFriends,
                    "this app requires friendship for 1:1 messages",
                ));
            }
            let limit = u64::from(settings.spam_unanswered_limit);
            let answered = state.sent_by.get(&peer).copied().unwrap_or(0) > 0;
            if limit > 0 && !answered && state.sent_by.get(&send.from).copied().unwrap_or(0) >= limit {
                return Err(err(ErrorCode::RefusedBySpam, "the peer has not answered yet"));
            }
            *state.sent_by.entry(send.from.clone()).or_default() += 1;
        }
        state.last_seq += 1;
        let record = MessageRecord {
            app: app.clone(),
            conv: conv.clone(),
            seq: state.last_seq,
            msg_id: MsgId((self.next_id)()),
            from: send.from,
            send_time: self.now,
            status: send.status,
            msg_type: send.msg_type,
            content: send.content,
            idempotency_key: send.idempotency_key,
            client_msg_id: send.client_msg_id,
        };
        // the sender has read what it sent
        state.read.insert(record.from.clone(), record.seq);
        self.cursors
            .insert((app.clone(), conv.clone(), record.from.clone()), record.seq);
        self.plan.accepted += 1;
        let planned = self.plan.changes.len();
        self.plan.changes.push(Change::Message(record.clone()));
        // its event is in this batch already
        self.reemitted.insert(record.msg_id);
        self.by_id.insert((key.0.clone(), record.msg_id), Ref::Planned(planned));
        self.originals.insert(key, Ref::Planned(planned));
        self.event(position, app, conv, EventBody::Message(record.clone()));
        Ok(Reply::Message(record))
    }

    fn read(
        &mut self,
        state: &mut ConvState,
        position: u64,
        app: AppId,
        conv: ConvId,
        session: SessionId,
        seq: Option<u64>,
    ) -> Result<Reply, WireError> {
        if !state.is_member(&session) {
            return Err(err(ErrorCode::NotMember, "not a member of this conversation"));
        }
        let target = seq.unwrap_or(state.last_seq).min(state.last_seq);
        let cursor = state.read.get(&session).copied().unwrap_or(0).max(target);
        state.read.insert(session.clone(), cursor);
        let unread = state.last_seq - cursor;
        self.cursors
            .insert((app.clone(), conv.clone(), session.clone()), cursor);
        self.event(
            position,
            app,
            conv,
            EventBody::Read {
                session,
                seq: cursor,
                unread,
            },
        );
        Ok(Reply::Read { seq: cursor, unread })
    }

    fn recall(
        &mut self,
        state: &ConvState,
        position: u64,
        app: AppId,
        conv: ConvId,
        session: SessionId,
        msg_id: MsgId,
    ) -> Result<Reply, WireError> {
        if !state.is_member(&session) {
            return Err(err(ErrorCode::NotMember, "not a member of this conversation"));
        }
        let key = ((app.clone(), conv.clone()), msg_id);
        let target = self
            .by_id
            .get(&key)
            .map(|r| r.get(&self.plan.changes))
            .filter(|m| m.app == app && m.conv == conv)
            .ok_or_else(|| err(ErrorCode::NotFound, "message not found"))?;
        if target.from != session && state.conv.owner != session {
            return Err(err(
                ErrorCode::NotAllowed,
                "only the sender or the owner may recall a message",
            ));
        }
        if target.status == msg::status::RECALLED {
            if position <= self.replay_through {
                let tombstone = target.clone();
                self.event(position, app, conv, EventBody::Recalled(tombstone));
            }
            return Ok(Reply::Done);
        }
        let mut tombstone = target.clone();
        tombstone.status = msg::status::RECALLED;
        tombstone.content = Default::default();
        self.by_id.insert(key, Ref::Planned(self.plan.changes.len()));
        self.plan.changes.push(Change::Tombstone(tombstone.clone()));
        self.event(position, app, conv, EventBody::Recalled(tombstone));
        Ok(Reply::Done)
    }

    fn members(
        &mut self,
        state: &mut ConvState,
        position: u64,
        app: AppId,
        conv: ConvId,
        change: MembersCommand,
    ) -> Result<Reply, WireError> {
        let replayed = position <= self.replay_through;
        let (adding, mut sessions, by) = match check_members(state, change, replayed)? {
            Checked::Change { adding, sessions, by } => (adding, sessions, by),
            Checked::InPlace(restated) => {
                if let Some(body) = restated {
                    self.event(position, app, conv, body);
                }
                return Ok(Reply::Done);
            }
        };
        let requested = if replayed { sessions.clone() } else { Vec::new() };
        let changed = if adding {
            let max = self.settings.get(&app).map_or(DEFAULT_MAX_MEMBERS, |s| s.max_members);
            let mut fresh = HashSet::new();
            sessions.retain(|s| !state.is_member(s) && fresh.insert(s.clone()));
            if state.members.len().saturating_add(sessions.len()) > max as usize {
                return Err(err(
                    ErrorCode::TooLarge,
                    &format!("a conversation has at most {max} members"),
                ));
            }
            state.add_all(&sessions);
            sessions
        } else {
            state.remove_all(sessions)
        };
        for session in &changed {
            let (app, conv, session) = (app.clone(), conv.clone(), session.clone());
            self.plan.changes.push(if adding {
                Change::AddMember {
                    app,
                    conv,
                    session,
                    at: self.now,
                }
            } else {
                Change::RemoveMember { app, conv, session }
            });
        }
        let changed = if changed.is_empty() && replayed {
            // a replay finds its own effect in place: tell of it again
            let mut seen = HashSet::new();
            requested
                .into_iter()
                .filter(|s| state.is_member(s) == adding && seen.insert(s.clone()))
                .collect()
        } else {
            changed
        };
        if !changed.is_empty() {
            // delivery tells the members after an add, and before a removal
            let body = if adding {
                EventBody::MembersAdded { sessions: changed, by }
            } else {
                EventBody::MembersRemoved { sessions: changed, by }
            };
            self.event(position, app, conv, body);
        }
        Ok(Reply::Done)
    }
}

#[cfg(test)]
mod tests;
