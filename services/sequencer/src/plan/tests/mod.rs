//! Unit tests of `plan_batch`: no I/O.

use super::*;
use herald_protocol::{AppId, ConvKind, GatewayId};
use std::collections::HashSet;

pub(super) fn sid(s: &str) -> SessionId {
    SessionId::parse(s).unwrap()
}

/// The key of conversation `conv` of app "a".
pub(super) fn key(conv: &str) -> ConvKey {
    (AppId::parse("a").unwrap(), ConvId::parse(conv).unwrap())
}

pub(super) fn state(conv: &str, members: &[&str], last_seq: u64, archived: bool) -> (ConvKey, ConvState) {
    state_in("a", conv, members, last_seq, archived)
}

pub(super) fn state_in(app: &str, conv: &str, members: &[&str], last_seq: u64, archived: bool) -> (ConvKey, ConvState) {
    let id = ConvId::parse(conv).unwrap();
    let conv = Conversation {
        app: AppId::parse(app).unwrap(),
        id: id.clone(),
        kind: ConvKind::Group,
        conv_type: 0,
        name: String::new(),
        avatar: String::new(),
        owner: sid(members[0]),
        open: true,
        archived,
        created_at: 0,
    };
    let state = ConvState::new(conv, members.iter().map(|m| sid(m)).collect(), last_seq);
    (state.key(), state)
}

pub(super) fn command(conv: &str, request: u64, action: Action) -> (u64, Command) {
    command_in("a", conv, request, action)
}

pub(super) fn command_in(app: &str, conv: &str, request: u64, action: Action) -> (u64, Command) {
    let command = Command {
        app: AppId::parse(app).unwrap(),
        conv: ConvId::parse(conv).unwrap(),
        reply_to: Some(ReplyTo {
            gateway: GatewayId::parse("g").unwrap(),
            request,
        }),
        action,
    };
    (request, command)
}

pub(super) fn send(conv: &str, from: &str, key: &str, request: u64) -> (u64, Command) {
    send_in("a", conv, from, key, request)
}

pub(super) fn send_in(app: &str, conv: &str, from: &str, key: &str, request: u64) -> (u64, Command) {
    command_in(
        app,
        conv,
        request,
        Action::Send(SendCommand {
            from: sid(from),
            idempotency_key: key.into(),
            client_msg_id: Some(key.into()),
            msg_type: 1,
            status: 0,
            content: format!("{from}:{key}").into(),
        }),
    )
}

pub(super) fn counter() -> impl FnMut() -> u64 {
    let mut n = 100;
    move || {
        n += 1;
        n
    }
}

pub(super) fn messages(plan: &Plan) -> Vec<&MessageRecord> {
    plan.changes
        .iter()
        .filter_map(|c| match c {
            Change::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

pub(super) fn tombstones(plan: &Plan) -> Vec<&MessageRecord> {
    plan.changes
        .iter()
        .filter_map(|c| match c {
            Change::Tombstone(m) => Some(m),
            _ => None,
        })
        .collect()
}

pub(super) fn codes(plan: &Plan) -> Vec<Option<ErrorCode>> {
    plan.replies
        .iter()
        .map(|(_, r)| r.as_ref().err().map(|e| e.code))
        .collect()
}

#[test]
fn seqs_continue_from_state_without_gaps_per_conversation() {
    let mut states = HashMap::from([state("c1", &["a", "b"], 41, false), state("c2", &["a"], 0, false)]);
    let commands = vec![
        send("c1", "a", "k1", 1),
        send("c2", "a", "k1", 2),
        send("c1", "b", "k1", 3),
    ];
    let plan = plan_batch(commands, &mut states, Known::default(), counter(), 5);
    let seqs: Vec<(String, u64)> = messages(&plan).iter().map(|r| (r.conv.to_string(), r.seq)).collect();
    assert_eq!(seqs, vec![("c1".into(), 42), ("c2".into(), 1), ("c1".into(), 43)]);
    assert_eq!(states[&key("c1")].last_seq, 43);
    assert_eq!(plan.events.len(), 3);
    assert_eq!(plan.replies.len(), 3);
    let cursors = plan
        .changes
        .iter()
        .filter(|c| matches!(c, Change::ReadCursor { .. }))
        .count();
    assert_eq!(
        cursors, 3,
        "each sender has read its own message, one cursor write per (conv, sender)"
    );
}

#[test]
fn a_repeated_key_in_one_batch_answers_the_first() {
    let mut states = HashMap::from([state("c", &["a"], 0, false)]);
    let plan = plan_batch(
        vec![send("c", "a", "k", 1), send("c", "a", "k", 2)],
        &mut states,
        Known::default(),
        counter(),
        5,
    );
    assert_eq!(messages(&plan).len(), 1);
    assert_eq!(plan.events.len(), 1);
    let ids: Vec<MsgId> = plan
        .replies
        .iter()
        .map(|(_, r)| match r.as_ref().unwrap() {
            Reply::Message(m) => m.msg_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn a_stored_key_answers_the_original_and_assigns_nothing() {
    let mut states = HashMap::from([state("c", &["a"], 7, false)]);
    let original = herald_store::testsuite::record(&AppId::parse("a").unwrap(), &ConvId::parse("c").unwrap(), 7, "a");
    let known = || Known {
        originals: vec![original.clone()],
        ..Known::default()
    };
    let plan = plan_batch(
        vec![send("c", "a", "k7", 1)],
        &mut states,
        known(),
        counter(),
        original.send_time + 1,
    );
    assert!(messages(&plan).is_empty());
    assert_eq!(plan.replies[0].1, Ok(Reply::Message(original.clone())));
    assert_eq!(plan.events.len(), 1, "a recent replay re-publishes its event");
    assert_eq!(plan.reemits, vec![0], "listed as a re-publish");
    let late = plan_batch(
        vec![send("c", "a", "k7", 1)],
        &mut states,
        known(),
        counter(),
        original.send_time + REEMIT_WINDOW_NANOS,
    );
    assert!(late.events.is_empty(), "an old replay does not");
    // stored after this state was read: by the current reader, which published its event
    states.get_mut(&key("c")).unwrap().stored_before = original.seq - 1;
    let ours = plan_batch(
        vec![send("c", "a", "k7", 1)],
        &mut states,
        known(),
        counter(),
        original.send_time + 1,
    );
    assert_eq!(ours.replies[0].1, Ok(Reply::Message(original.clone())));
    assert!(
        ours.events.is_empty() && ours.reemits.is_empty(),
        "a retry of a message the current reader published re-publishes nothing"
    );
    assert_eq!(states[&key("c")].last_seq, 7);
}

#[test]
fn rejections_assign_no_seq() {
    let mut states = HashMap::from([state("c", &["a"], 0, false), state("arch", &["a"], 3, true)]);
    let commands = vec![
        send("c", "mallory", "k", 1),
        send("nope", "a", "k", 2),
        send("arch", "a", "k", 3),
        send("c", "a", "k", 4),
    ];
    let plan = plan_batch(commands, &mut states, Known::default(), counter(), 5);
    assert_eq!(
        codes(&plan),
        vec![
            Some(ErrorCode::NotMember),
            Some(ErrorCode::NotFound),
            Some(ErrorCode::Conflict),
            None
        ]
    );
    assert_eq!(messages(&plan).len(), 1);
    assert_eq!(messages(&plan)[0].seq, 1);
    assert_eq!(plan.rejected, 3);
}

#[test]
fn a_kick_takes_effect_in_command_order() {
    let mut states = HashMap::from([state("c", &["owner", "x"], 0, false)]);
    let kick = command(
        "c",
        2,
        Action::Members(MembersCommand::AppKick {
            sessions: vec![sid("x")],
        }),
    );
    let plan = plan_batch(
        vec![send("c", "x", "before", 1), kick, send("c", "x", "after", 3)],
        &mut states,
        Known::default(),
        counter(),
        5,
    );
    assert_eq!(codes(&plan), vec![None, None, Some(ErrorCode::NotMember)]);
    let (_, removed) = &plan.events[1];
    assert!(
        matches!(&removed.body, EventBody::MembersRemoved { sessions, .. } if sessions.contains(&sid("x"))),
        "the kicked session hears of its removal"
    );
    assert!(plan.changes.contains(&Change::RemoveMember {
        app: AppId::parse("a").unwrap(),
        conv: ConvId::parse("c").unwrap(),
        session: sid("x")
    }));
}

#[test]
fn joins_follow_the_open_flag_and_removal_is_owner_only() {
    let (id, mut closed) = state("closed", &["owner"], 0, false);
    closed.conv.open = false;
    let mut states = HashMap::from([state("open", &["owner"], 0, false), (id, closed)]);
    let commands = vec![
        command("open", 1, Action::Members(MembersCommand::Join { session: sid("y") })),
        command("closed", 2, Action::Members(MembersCommand::Join { session: sid("y") })),
        command(
            "open",
            3,
            Action::Members(MembersCommand::Remove {
                by: sid("y"),
                sessions: vec![sid("owner")],
            }),
        ),
        command(
            "open",
            4,
            Action::Members(MembersCommand::Invite {
                by: sid("y"),
                sessions: vec![sid("z")],
            }),
        ),
        command(
            "open",
            5,
            Action::Members(MembersCommand::Remove {
                by: sid("owner"),
                sessions: vec![sid("z")],
            }),
        ),
        command("open", 6, Action::Members(MembersCommand::Leave { session: sid("z") })),
    ];
    let plan = plan_batch(commands, &mut states, Known::default(), counter(), 5);
    assert_eq!(
        codes(&plan),
        vec![
            None,
            Some(ErrorCode::NotMember),
            Some(ErrorCode::NotAllowed),
            None,
            None,
            Some(ErrorCode::NotMember)
        ]
    );
    let open = &states[&key("open")];
    assert!(open.is_member(&sid("y")) && !open.is_member(&sid("z")));
}

#[test]
fn read_cursors_only_rise_and_answer_unread() {
    let mut states = HashMap::from([state("c", &["a", "b"], 10, false)]);
    let read = |request, seq| command("c", request, Action::Read { session: sid("b"), seq });
    let plan = plan_batch(
        vec![read(1, Some(4)), read(2, Some(2)), read(3, Some(99))],
        &mut states,
        Known::default(),
        counter(),
        5,
    );
    let replies: Vec<Reply> = plan.replies.iter().map(|(_, r)| r.clone().unwrap()).collect();
    assert_eq!(
        replies,
        vec![
            Reply::Read { seq: 4, unread: 6 },
            Reply::Read { seq: 4, unread: 6 },
            Reply::Read { seq: 10, unread: 0 }
        ]
    );
    assert!(
        plan.events
            .iter()
            .all(|(_, e)| e.body.audience() == herald_protocol::bus::Audience::Session(&sid("b"))),
        "read pushes go to the reader's devices only"
    );
}

#[test]
fn recall_is_for_the_sender_or_owner_and_keeps_the_seq() {
    let mut states = HashMap::from([state("c", &["owner", "a", "b"], 0, false)]);
    let plan = plan_batch(
        vec![send("c", "a", "k", 1)],
        &mut states,
        Known::default(),
        counter(),
        5,
    );
    let Reply::Message(sent) = plan.replies[0].1.clone().unwrap() else {
        panic!()
    };
    let recall = |request, by: &str| {
        command(
            "c",
            request,
            Action::Recall {
                session: sid(by),
                msg_id: sent.msg_id,
            },
        )
    };
    let known = || Known {
        by_id: HashMap::from([((key("c"), sent.msg_id), sent.clone())]),
        ..Known::default()
    };
    let plan = plan_batch(
        vec![recall(2, "b"), recall(3, "owner"), recall(4, "a")],
        &mut states,
        known(),
        counter(),
        6,
    );
    assert_eq!(codes(&plan), vec![Some(ErrorCode::NotAllowed), None, None]);
    assert!(messages(&plan).is_empty(), "a recall inserts no message");
    let tombstones = tombstones(&plan);
    assert_eq!(tombstones.len(), 1, "a second recall changes nothing");
    assert_eq!(
        (tombstones[0].seq, tombstones[0].status, tombstones[0].content.as_str()),
        (sent.seq, msg::status::RECALLED, "")
    );
}

mod policies;
mod replays;
