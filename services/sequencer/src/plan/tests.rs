//! Unit tests of `plan_batch`: no I/O.

use super::*;
use herald_protocol::{AppId, ConvKind, GatewayId};
use std::collections::HashSet;

fn sid(s: &str) -> SessionId {
    SessionId::parse(s).unwrap()
}

/// The key of conversation `conv` of app "a".
fn key(conv: &str) -> ConvKey {
    (AppId::parse("a").unwrap(), ConvId::parse(conv).unwrap())
}

fn state(conv: &str, members: &[&str], last_seq: u64, archived: bool) -> (ConvKey, ConvState) {
    state_in("a", conv, members, last_seq, archived)
}

fn state_in(app: &str, conv: &str, members: &[&str], last_seq: u64, archived: bool) -> (ConvKey, ConvState) {
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

fn command(conv: &str, request: u64, action: Action) -> (u64, Command) {
    command_in("a", conv, request, action)
}

fn command_in(app: &str, conv: &str, request: u64, action: Action) -> (u64, Command) {
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

fn send(conv: &str, from: &str, key: &str, request: u64) -> (u64, Command) {
    send_in("a", conv, from, key, request)
}

fn send_in(app: &str, conv: &str, from: &str, key: &str, request: u64) -> (u64, Command) {
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
            content: format!("{from}:{key}"),
        }),
    )
}

fn counter() -> impl FnMut() -> u64 {
    let mut n = 100;
    move || {
        n += 1;
        n
    }
}

fn messages(plan: &Plan) -> Vec<&MessageRecord> {
    plan.changes
        .iter()
        .filter_map(|c| match c {
            Change::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn tombstones(plan: &Plan) -> Vec<&MessageRecord> {
    plan.changes
        .iter()
        .filter_map(|c| match c {
            Change::Tombstone(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn codes(plan: &Plan) -> Vec<Option<ErrorCode>> {
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
    let late = plan_batch(
        vec![send("c", "a", "k7", 1)],
        &mut states,
        known(),
        counter(),
        original.send_time + REEMIT_WINDOW_NANOS,
    );
    assert!(late.events.is_empty(), "an old replay does not");
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

fn single(conv: &str, a: &str, b: &str) -> (ConvKey, ConvState) {
    let (id, mut state) = state(conv, &[a, b], 0, false);
    state.conv.kind = ConvKind::Single;
    (id, state)
}

#[test]
fn unanswered_messages_are_capped_until_the_peer_answers() {
    let mut states = HashMap::from([single("s", "a", "b")]);
    let commands: Vec<_> = (1..=7).map(|i| send("s", "a", &format!("k{i}"), i)).collect();
    let plan = plan_batch(commands, &mut states, Known::default(), counter(), 5);
    let refused = codes(&plan)
        .iter()
        .filter(|c| **c == Some(ErrorCode::RefusedBySpam))
        .count();
    assert_eq!((messages(&plan).len(), refused), (5, 2), "default limit 5");
    let plan = plan_batch(
        vec![send("s", "b", "answer", 8), send("s", "a", "k8", 9)],
        &mut states,
        Known::default(),
        counter(),
        5,
    );
    assert_eq!(codes(&plan), vec![None, None], "after an answer the sender may go on");
}

#[test]
fn the_spam_limit_follows_the_app_settings() {
    let mut states = HashMap::from([single("s", "a", "b")]);
    let app = AppId::parse("a").unwrap();
    let settings = |limit| Known {
        settings: HashMap::from([(
            app.clone(),
            AppSettings {
                spam_unanswered_limit: limit,
                ..AppSettings::default()
            },
        )]),
        ..Known::default()
    };
    let commands: Vec<_> = (1..=3).map(|i| send("s", "a", &format!("k{i}"), i)).collect();
    let plan = plan_batch(commands.clone(), &mut states, settings(2), counter(), 5);
    assert_eq!(messages(&plan).len(), 2);
    let mut fresh = HashMap::from([single("s", "a", "b")]);
    let plan = plan_batch(commands, &mut fresh, settings(0), counter(), 5);
    assert_eq!(messages(&plan).len(), 3, "0 turns the rule off");
}

#[test]
fn required_friendship_refuses_strangers_in_one_to_one_only() {
    let mut states = HashMap::from([single("s", "a", "b"), state("g", &["a", "b"], 0, false)]);
    let app = AppId::parse("a").unwrap();
    let require = AppSettings {
        require_friendship: true,
        ..AppSettings::default()
    };
    let known = |friends: bool| Known {
        settings: HashMap::from([(app.clone(), require.clone())]),
        friends: if friends {
            HashSet::from([(AppId::parse("a").unwrap(), sid("a"), sid("b"))])
        } else {
            HashSet::new()
        },
        ..Known::default()
    };
    let plan = plan_batch(
        vec![send("s", "a", "k1", 1), send("g", "a", "k2", 2)],
        &mut states,
        known(false),
        counter(),
        5,
    );
    assert_eq!(
        codes(&plan),
        vec![Some(ErrorCode::NotFriends), None],
        "groups are not affected"
    );
    let plan = plan_batch(vec![send("s", "a", "k3", 3)], &mut states, known(true), counter(), 5);
    assert_eq!(codes(&plan), vec![None]);
}

#[test]
fn two_apps_with_one_conversation_id_stay_apart() {
    let mut states = HashMap::from([
        state_in("a", "general", &["alice"], 4, false),
        state_in("b", "general", &["bob"], 0, false),
    ]);
    let commands = vec![
        send_in("a", "general", "alice", "k", 1),
        send_in("b", "general", "bob", "k", 2),
        send_in("b", "general", "alice", "k2", 3),
        send_in("a", "general", "bob", "k2", 4),
    ];
    let plan = plan_batch(commands, &mut states, Known::default(), counter(), 5);
    assert_eq!(
        codes(&plan),
        vec![None, None, Some(ErrorCode::NotMember), Some(ErrorCode::NotMember)],
        "each app's members are its own"
    );
    let seqs: Vec<(&str, u64)> = messages(&plan).iter().map(|r| (r.app.as_str(), r.seq)).collect();
    assert_eq!(
        seqs,
        vec![("a", 5), ("b", 1)],
        "each app's conversation counts its own Seq"
    );
    let apps: Vec<&str> = plan.events.iter().map(|(_, event)| event.app.as_str()).collect();
    assert_eq!(
        apps,
        vec!["a", "b"],
        "each event names its app, whose members delivery reads"
    );
    let members = |app: &str| {
        states[&(AppId::parse(app).unwrap(), ConvId::parse("general").unwrap())]
            .members
            .clone()
    };
    assert_eq!((members("a"), members("b")), (vec![sid("alice")], vec![sid("bob")]));
}

#[test]
fn a_key_or_a_recalled_id_of_one_app_means_nothing_in_another() {
    let mut states = HashMap::from([
        state_in("a", "general", &["alice"], 1, false),
        state_in("b", "general", &["alice"], 0, false),
    ]);
    let original = herald_store::testsuite::record(
        &AppId::parse("a").unwrap(),
        &ConvId::parse("general").unwrap(),
        1,
        "alice",
    );
    let known = Known {
        originals: vec![original.clone()],
        by_id: HashMap::from([((key("general"), original.msg_id), original.clone())]),
        ..Known::default()
    };
    let recall = command_in(
        "b",
        "general",
        2,
        Action::Recall {
            session: sid("alice"),
            msg_id: original.msg_id,
        },
    );
    let plan = plan_batch(
        vec![send_in("b", "general", "alice", "k1", 1), recall],
        &mut states,
        known,
        counter(),
        5,
    );
    let Ok(Reply::Message(sent)) = &plan.replies[0].1 else {
        panic!("app b's send is a new message: {:?}", plan.replies[0].1)
    };
    assert_eq!(
        (sent.app.as_str(), sent.seq),
        ("b", 1),
        "app a's key is not app b's retry"
    );
    assert_eq!(
        codes(&plan)[1],
        Some(ErrorCode::NotFound),
        "app a's message is not app b's to recall"
    );
    assert!(tombstones(&plan).is_empty());
}

#[test]
fn an_event_of_a_large_group_stays_small_on_the_bus() {
    let members: Vec<String> = (0..5_000).map(|i| format!("member-with-a-longish-name-{i}")).collect();
    let names: Vec<&str> = members.iter().map(String::as_str).collect();
    let mut states = HashMap::from([state("big", &names, 0, false)]);
    let plan = plan_batch(
        vec![send("big", &members[0], "k", 1)],
        &mut states,
        Known::default(),
        counter(),
        5,
    );
    let (_, event) = &plan.events[0];
    let encoded = herald_protocol::codec::encode(event).unwrap();
    assert!(
        encoded.len() < 1024,
        "a message event for 5,000 members is {} bytes on the bus",
        encoded.len()
    );
}

#[test]
fn members_beyond_the_app_cap_are_refused() {
    let mut states = HashMap::from([state("g", &["owner", "a"], 0, false)]);
    let known = || Known {
        settings: HashMap::from([(
            AppId::parse("a").unwrap(),
            AppSettings {
                max_members: 4,
                ..AppSettings::default()
            },
        )]),
        ..Known::default()
    };
    let invite = |request, names: &[&str]| {
        command(
            "g",
            request,
            Action::Members(MembersCommand::Invite {
                by: sid("owner"),
                sessions: names.iter().map(|n| sid(n)).collect(),
            }),
        )
    };
    let join = |request, name: &str| {
        command(
            "g",
            request,
            Action::Members(MembersCommand::Join { session: sid(name) }),
        )
    };
    let commands = vec![
        invite(1, &["b", "c", "d"]),
        invite(2, &["a", "b", "b", "b"]),
        join(3, "c"),
        join(4, "d"),
    ];
    let plan = plan_batch(commands, &mut states, known(), counter(), 5);
    assert_eq!(
        codes(&plan),
        vec![Some(ErrorCode::TooLarge), None, None, Some(ErrorCode::TooLarge)],
        "2 + 3 > 4; members and repeats do not count; the fourth member fits, the fifth does not"
    );
    assert_eq!(
        states[&key("g")].members,
        vec![sid("owner"), sid("a"), sid("b"), sid("c")]
    );
    let added = plan
        .changes
        .iter()
        .filter(|c| matches!(c, Change::AddMember { .. }))
        .count();
    assert_eq!(added, 2, "a refused invite adds no one");
}

/// Issue 11 item 4: an owner can crash between the store append and the event publish. The
/// next owner replays those commands and finds their effect in place; each publishes its event
/// again, whatever its age, so an acknowledged change is never left unpushed. Outside the
/// replay range the same commands stay quiet no-ops (a retry long after) or errors.
#[test]
fn replayed_commands_publish_their_events_again() {
    let app = AppId::parse("a").unwrap();
    let conv = ConvId::parse("c").unwrap();
    let mut original = herald_store::testsuite::record(&app, &conv, 7, "owner");
    original.idempotency_key = "k7".into();
    let mut recalled = herald_store::testsuite::record(&app, &conv, 6, "owner");
    recalled.status = msg::status::RECALLED;
    recalled.content.clear();
    let members = |request, change| command("c", request, Action::Members(change));
    let commands = || {
        vec![
            send("c", "owner", "k7", 1),
            members(2, MembersCommand::Join { session: sid("a") }),
            members(3, MembersCommand::Leave { session: sid("gone") }),
            members(
                4,
                MembersCommand::Invite {
                    by: sid("owner"),
                    sessions: vec![sid("a"), sid("b"), sid("a")],
                },
            ),
            members(
                5,
                MembersCommand::Remove {
                    by: sid("owner"),
                    sessions: vec![sid("gone")],
                },
            ),
            command(
                "c",
                6,
                Action::Recall {
                    session: sid("owner"),
                    msg_id: recalled.msg_id,
                },
            ),
        ]
    };
    let known = |replay_through| Known {
        originals: vec![original.clone()],
        by_id: HashMap::from([((key("c"), recalled.msg_id), recalled.clone())]),
        replay_through,
        ..Known::default()
    };
    // long after the original send: the retry window no longer applies
    let now = original.send_time + 10 * REEMIT_WINDOW_NANOS;

    let mut states = HashMap::from([state("c", &["owner", "a", "b"], 7, false)]);
    let replay = plan_batch(commands(), &mut states, known(6), counter(), now);
    assert!(
        replay.changes.is_empty(),
        "a replay writes nothing: {:?}",
        replay.changes
    );
    assert_eq!(
        codes(&replay),
        vec![None; 6],
        "every replayed command answers as it did"
    );
    let events: Vec<(u64, String)> = replay
        .events
        .iter()
        .map(|(position, event)| {
            let body = match &event.body {
                EventBody::Message(m) => format!("message {}", m.seq),
                EventBody::MembersAdded { sessions, .. } => format!("added {sessions:?}"),
                EventBody::MembersRemoved { sessions, .. } => format!("removed {sessions:?}"),
                EventBody::Recalled(m) => format!("recalled {}", m.seq),
                other => format!("{other:?}"),
            };
            (*position, body)
        })
        .collect();
    let expected = [
        (1, "message 7"),
        (2, r#"added [SessionId("a")]"#),
        (3, r#"removed [SessionId("gone")]"#),
        (4, r#"added [SessionId("a"), SessionId("b")]"#),
        (5, r#"removed [SessionId("gone")]"#),
        (6, "recalled 6"),
    ];
    assert_eq!(events, expected.map(|(p, b)| (p, b.to_owned())).to_vec());

    let mut states = HashMap::from([state("c", &["owner", "a", "b"], 7, false)]);
    let fresh = plan_batch(commands(), &mut states, known(0), counter(), now);
    assert!(fresh.events.is_empty(), "outside the replay range: {:?}", fresh.events);
    assert_eq!(
        codes(&fresh),
        vec![None, None, Some(ErrorCode::NotMember), None, None, None]
    );
}
