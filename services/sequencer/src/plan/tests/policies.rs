//! App policies (anti-spam, friendship, member caps) and tenancy in planning.

use super::*;

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
