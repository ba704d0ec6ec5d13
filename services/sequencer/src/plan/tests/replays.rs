//! Replayed commands: their effects found in place, their events published again.

use super::*;

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
    recalled.content = Default::default();
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
