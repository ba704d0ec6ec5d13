//! The store conformance suite: every backend runs it against a real instance
//! (`tests/conformance` for SQLite; ScyllaDB when `HERALD_TEST_SCYLLA` names a node).
//! Each run uses fresh app ids, so a shared instance is fine.

use crate::{
    Account, AppRecord, AppSettings, Change, ConsoleUser, Conversation, Creation, Fence, FriendRequest, ListCursor,
    LoginPolicy, Org, Revocation, RevocationKind, Store, StoreError,
};
use herald_protocol::{AppId, ConvId, ConvKind, MessageRecord, MsgId, SessionId};

/// Runs every check; panics with the failing promise's name.
pub async fn run(store: &dyn Store) {
    let run_id = format!("{:x}", herald_protocol::timefmt::now_nanos());
    apps(store, &run_id).await;
    conversations(store, &run_id).await;
    single_pairs(store, &run_id).await;
    append_and_read(store, &run_id).await;
    append_is_idempotent(store, &run_id).await;
    append_never_overwrites(store, &run_id).await;
    idempotency_lookup(store, &run_id).await;
    fencing(store, &run_id).await;
    membership_and_archive(store, &run_id).await;
    read_cursors_and_lists(store, &run_id).await;
    list_pages(store, &run_id).await;
    lookups_and_hiding(store, &run_id).await;
    tenancy(store, &run_id).await;
    accounts_and_revocations(store, &run_id).await;
    friends(store, &run_id).await;
}

fn messages(records: &[MessageRecord]) -> Vec<Change> {
    records.iter().cloned().map(Change::Message).collect()
}

fn app_id(run: &str, name: &str) -> AppId {
    AppId::parse(format!("{name}-{run}")).unwrap()
}

fn session(name: &str) -> SessionId {
    SessionId::parse(name).unwrap()
}

fn conv(app: &AppId, id: &str, kind: ConvKind, owner: &str) -> Conversation {
    Conversation {
        app: app.clone(),
        id: ConvId::parse(id).unwrap(),
        kind,
        conv_type: 3,
        name: format!("name of {id}"),
        avatar: String::new(),
        owner: session(owner),
        open: true,
        archived: false,
        created_at: 1,
    }
}

/// A message record for `seq`, with idempotency key `k<seq>`.
pub fn record(app: &AppId, conv: &ConvId, seq: u64, from: &str) -> MessageRecord {
    MessageRecord {
        app: app.clone(),
        conv: conv.clone(),
        seq,
        msg_id: MsgId(1_000_000 + seq),
        from: session(from),
        send_time: 1_700_000_000_000_000_000 + seq as i64,
        status: 0,
        msg_type: 1,
        content: format!("message {seq}"),
        idempotency_key: format!("k{seq}"),
        client_msg_id: Some(format!("k{seq}")),
    }
}

fn fence(run: &str, name: &str, epoch: u64) -> Fence {
    Fence {
        scope: format!("{name}-{run}"),
        epoch,
    }
}

async fn apps(store: &dyn Store, run: &str) {
    let app = AppRecord {
        id: app_id(run, "apps"),
        org: "org".into(),
        name: "App".into(),
        secret_hash: format!("hash-{run}").into_bytes(),
        signing_key: vec![7; 32],
        created_at: 5,
        settings: AppSettings::default(),
    };
    assert!(
        store.create_app_if_absent(&app).await.unwrap(),
        "apps: first insert inserts"
    );
    let mut other = app.clone();
    other.name = "Other".into();
    assert!(
        !store.create_app_if_absent(&other).await.unwrap(),
        "apps: insert is if-absent"
    );
    assert_eq!(store.app(&app.id).await.unwrap(), Some(app.clone()), "apps: read by id");
    assert!(
        !store.app(&app.id).await.unwrap().unwrap().settings.end_user_accounts,
        "apps: end-user accounts are off by default"
    );
    assert_eq!(
        store.app_by_secret_hash(&app.secret_hash).await.unwrap(),
        Some(app.clone()),
        "apps: read by secret hash"
    );
    assert_eq!(
        store.app_by_secret_hash(b"nope").await.unwrap(),
        None,
        "apps: unknown hash"
    );
    let rotated = format!("rotated-{run}").into_bytes();
    assert!(
        store.set_app_secret_hash(&app.id, &rotated).await.unwrap(),
        "apps: rotate"
    );
    assert_eq!(
        store.app_by_secret_hash(&app.secret_hash).await.unwrap(),
        None,
        "apps: old secret gone"
    );
    assert_eq!(
        store.app_by_secret_hash(&rotated).await.unwrap().map(|a| a.id),
        Some(app.id.clone()),
        "apps: new secret"
    );
    assert!(
        !store
            .set_app_secret_hash(&app_id(run, "missing"), &rotated)
            .await
            .unwrap(),
        "apps: rotate unknown"
    );
    let kick = AppSettings {
        login_policy: LoginPolicy::Kick,
        require_friendship: true,
        spam_unanswered_limit: 0,
        send_rate_per_sec: 2.5,
        send_burst: 3,
        end_user_accounts: true,
        max_members: 250,
    };
    assert!(store.set_app_settings(&app.id, &kick).await.unwrap(), "apps: settings");
    assert_eq!(
        store.app(&app.id).await.unwrap().unwrap().settings,
        kick,
        "apps: settings read back"
    );
}

async fn conversations(store: &dyn Store, run: &str) {
    let app = app_id(run, "convs");
    let group = conv(&app, "g1", ConvKind::Group, "alice");
    let members = [session("alice"), session("bob"), session("carol")];
    let created = store.create_conversation(&group, &members).await.unwrap();
    assert_eq!(
        created,
        Creation::Created(group.id.clone()),
        "conversations: group keeps its id"
    );
    let id = group.id.clone();
    assert_eq!(
        store.conversation(&app, &id).await.unwrap(),
        Some(group.clone()),
        "conversations: read back"
    );
    let mut listed = store.members(&app, &id).await.unwrap();
    listed.sort();
    assert_eq!(listed, members.to_vec(), "conversations: members");
    assert!(store.is_member(&app, &id, &session("bob")).await.unwrap());
    assert!(
        !store.is_member(&app, &id, &session("mallory")).await.unwrap(),
        "conversations: non-member"
    );
    let other_app = app_id(run, "convs-other");
    assert_eq!(
        store.conversation(&other_app, &id).await.unwrap(),
        None,
        "conversations: scoped to app"
    );
    assert!(
        !store.is_member(&other_app, &id, &session("bob")).await.unwrap(),
        "members: scoped to app"
    );
    let mut taken = conv(&app, "g1", ConvKind::Group, "mallory");
    taken.open = false;
    assert_eq!(
        store
            .create_conversation(&taken, &[session("mallory"), session("dave")])
            .await
            .unwrap(),
        Creation::IdTaken,
        "conversations: a taken id is refused"
    );
    let mut unchanged = store.members(&app, &id).await.unwrap();
    unchanged.sort();
    assert_eq!(
        (unchanged, store.conversation(&app, &id).await.unwrap()),
        (members.to_vec(), Some(group.clone())),
        "conversations: a refused creation writes no member and changes nothing"
    );
    racing_creations(store, run).await;
}

/// Two creations of one id at once: exactly one is written, with its members only.
async fn racing_creations(store: &dyn Store, run: &str) {
    let app = app_id(run, "race");
    for round in 0..10 {
        let id = format!("room-{round}");
        let (ann, bob) = (
            conv(&app, &id, ConvKind::Group, "ann"),
            conv(&app, &id, ConvKind::Group, "bob"),
        );
        let (ann_members, bob_members) = ([session("ann")], [session("bob")]);
        let (ann_created, bob_created) = tokio::join!(
            store.create_conversation(&ann, &ann_members),
            store.create_conversation(&bob, &bob_members)
        );
        let outcomes = [ann_created.unwrap(), bob_created.unwrap()];
        let winners: Vec<usize> = (0..2)
            .filter(|i| matches!(outcomes[*i], Creation::Created(_)))
            .collect();
        assert_eq!(winners.len(), 1, "race: exactly one creation wins: {outcomes:?}");
        assert!(
            outcomes.contains(&Creation::IdTaken),
            "race: the other is told the id is taken"
        );
        let winner = ["ann", "bob"][winners[0]];
        assert_eq!(
            store.members(&app, &ann.id).await.unwrap(),
            vec![session(winner)],
            "race: only the winner's members"
        );
        assert_eq!(
            store.conversation(&app, &ann.id).await.unwrap().map(|c| c.owner),
            Some(session(winner)),
            "race: the winner owns it"
        );
    }
}

async fn single_pairs(store: &dyn Store, run: &str) {
    let app = app_id(run, "pairs");
    let first = conv(&app, "s1", ConvKind::Single, "alice");
    let created = store
        .create_conversation(&first, &[session("alice"), session("bob")])
        .await
        .unwrap();
    assert_eq!(created, Creation::Created(first.id.clone()));
    let again = conv(&app, "s2", ConvKind::Single, "bob");
    let existing = store
        .create_conversation(&again, &[session("bob"), session("alice")])
        .await
        .unwrap();
    assert_eq!(
        existing,
        Creation::PairExists(first.id.clone()),
        "single: the same pair gets the same conversation"
    );
    assert_eq!(
        store.conversation(&app, &again.id).await.unwrap(),
        None,
        "single: no second conversation"
    );
    let third = conv(&app, "s3", ConvKind::Single, "alice");
    let third_created = store
        .create_conversation(&third, &[session("alice"), session("carol")])
        .await
        .unwrap();
    assert_eq!(
        third_created,
        Creation::Created(third.id.clone()),
        "single: another pair gets its own"
    );
}

async fn append_and_read(store: &dyn Store, run: &str) {
    let app = app_id(run, "log");
    let conv_id = ConvId::parse("c").unwrap();
    let f = fence(run, "log", 1);
    store.claim_fence(&f).await.unwrap();
    assert_eq!(
        store.last_seq(&app, &conv_id).await.unwrap(),
        0,
        "log: empty conversation has seq 0"
    );
    let batch: Vec<_> = (1..=50).map(|s| record(&app, &conv_id, s, "alice")).collect();
    store.apply(&f, &messages(&batch)).await.unwrap();
    assert_eq!(store.last_seq(&app, &conv_id).await.unwrap(), 50, "log: last seq");
    let latest = store.latest_messages(&app, &conv_id, 30).await.unwrap();
    let seqs: Vec<u64> = latest.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (21..=50).rev().collect::<Vec<_>>(), "log: latest newest first");
    assert_eq!(latest[0], batch[49], "log: record round-trips");
    let range = store.messages_in_range(&app, &conv_id, 10, 20, 100).await.unwrap();
    assert_eq!(
        range.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (10..=20).collect::<Vec<_>>(),
        "log: range"
    );
    let capped = store.messages_in_range(&app, &conv_id, 1, 50, 5).await.unwrap();
    assert_eq!(capped.len(), 5, "log: range honours limit");
    let other = ConvId::parse("other").unwrap();
    assert!(
        store.latest_messages(&app, &other, 10).await.unwrap().is_empty(),
        "log: scoped to conversation"
    );
}

async fn append_is_idempotent(store: &dyn Store, run: &str) {
    let app = app_id(run, "idem");
    let conv_id = ConvId::parse("c").unwrap();
    let f = fence(run, "idem", 1);
    let batch: Vec<_> = (1..=10).map(|s| record(&app, &conv_id, s, "alice")).collect();
    store.apply(&f, &messages(&batch)).await.unwrap();
    store.apply(&f, &messages(&batch)).await.unwrap();
    let all = store.messages_in_range(&app, &conv_id, 0, u64::MAX, 100).await.unwrap();
    assert_eq!(all.len(), 10, "append: a replayed batch does not duplicate");
    assert_eq!(all, batch, "append: replay leaves the same rows");
}

async fn append_never_overwrites(store: &dyn Store, run: &str) {
    let app = app_id(run, "occupied");
    let conv_id = ConvId::parse("c").unwrap();
    let f = fence(run, "occupied", 1);
    let original = record(&app, &conv_id, 1, "alice");
    store
        .apply(&f, &messages(std::slice::from_ref(&original)))
        .await
        .unwrap();
    let mut intruder = record(&app, &conv_id, 1, "mallory");
    intruder.msg_id = MsgId(original.msg_id.0 + 1);
    intruder.idempotency_key = "other".into();
    intruder.content = "overwritten".into();
    assert!(
        store
            .apply(&f, &messages(std::slice::from_ref(&intruder)))
            .await
            .is_err(),
        "append: a different message at an occupied seq is refused"
    );
    let mut wrong_tombstone = intruder.clone();
    wrong_tombstone.status = herald_protocol::msg::status::RECALLED;
    assert!(
        store.apply(&f, &[Change::Tombstone(wrong_tombstone)]).await.is_err(),
        "append: a tombstone names the message it replaces"
    );
    let mut stray = record(&app, &conv_id, 2, "alice");
    stray.status = herald_protocol::msg::status::RECALLED;
    assert!(
        store.apply(&f, &[Change::Tombstone(stray)]).await.is_err(),
        "append: a tombstone of no stored message is refused"
    );
    assert_eq!(
        store.messages_in_range(&app, &conv_id, 0, u64::MAX, 10).await.unwrap(),
        vec![original.clone()],
        "append: the acknowledged message is untouched"
    );
    let mut tombstone = original.clone();
    tombstone.status = herald_protocol::msg::status::RECALLED;
    tombstone.content.clear();
    let batch = [Change::Tombstone(tombstone.clone())];
    store.apply(&f, &batch).await.unwrap();
    store.apply(&f, &batch).await.unwrap();
    store
        .apply(&f, &messages(std::slice::from_ref(&original)))
        .await
        .unwrap();
    assert_eq!(
        store.messages_in_range(&app, &conv_id, 0, u64::MAX, 10).await.unwrap(),
        vec![tombstone],
        "recall: the tombstone replaces its message, and a replayed append does not undo it"
    );
}

async fn idempotency_lookup(store: &dyn Store, run: &str) {
    let app = app_id(run, "keys");
    let conv_id = ConvId::parse("c").unwrap();
    let f = fence(run, "keys", 1);
    let batch: Vec<_> = (1..=5).map(|s| record(&app, &conv_id, s, "alice")).collect();
    store.apply(&f, &messages(&batch)).await.unwrap();
    let found = store
        .find_idempotent(
            &app,
            &conv_id,
            &[
                (session("alice"), "k2".into()),
                (session("alice"), "k9".into()),
                (session("bob"), "k3".into()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![batch[1].clone()],
        "idempotency: found by (sender, key) only"
    );
}

async fn fencing(store: &dyn Store, run: &str) {
    let app = app_id(run, "fence");
    let conv_id = ConvId::parse("c").unwrap();
    store.claim_fence(&fence(run, "fence", 5)).await.unwrap();
    let stale = store
        .apply(
            &fence(run, "fence", 4),
            &messages(&[record(&app, &conv_id, 1, "alice")]),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Fenced { .. })),
        "fence: a lower epoch cannot append"
    );
    store
        .apply(
            &fence(run, "fence", 5),
            &messages(&[record(&app, &conv_id, 1, "alice")]),
        )
        .await
        .unwrap();
    store.claim_fence(&fence(run, "fence", 6)).await.unwrap();
    let old = store
        .apply(
            &fence(run, "fence", 5),
            &messages(&[record(&app, &conv_id, 2, "alice")]),
        )
        .await;
    assert!(
        matches!(old, Err(StoreError::Fenced { .. })),
        "fence: the old owner is cut off after a claim"
    );
    assert!(
        matches!(
            store.claim_fence(&fence(run, "fence", 3)).await,
            Err(StoreError::Fenced { .. })
        ),
        "fence: claims never go backwards"
    );
    assert_eq!(
        store.last_seq(&app, &conv_id).await.unwrap(),
        1,
        "fence: refused appends wrote nothing"
    );
}

async fn membership_and_archive(store: &dyn Store, run: &str) {
    let app = app_id(run, "members");
    let group = conv(&app, "g", ConvKind::Group, "alice");
    store.create_conversation(&group, &[session("alice")]).await.unwrap();
    let f = fence(run, "members", 1);
    let add = |s: &str| Change::AddMember {
        app: app.clone(),
        conv: group.id.clone(),
        session: session(s),
        at: 2,
    };
    let remove = |s: &str| Change::RemoveMember {
        app: app.clone(),
        conv: group.id.clone(),
        session: session(s),
    };
    // applied in order: the last word on a session wins
    store
        .apply(
            &f,
            &[
                add("bob"),
                add("carol"),
                remove("bob"),
                add("dave"),
                remove("dave"),
                add("dave"),
            ],
        )
        .await
        .unwrap();
    store.apply(&f, &[add("carol")]).await.unwrap();
    let mut members = store.members(&app, &group.id).await.unwrap();
    members.sort();
    assert_eq!(
        members,
        vec![session("alice"), session("carol"), session("dave")],
        "members: changes apply in order, idempotently"
    );
    store
        .apply(
            &f,
            &[Change::Archive {
                app: app.clone(),
                conv: group.id.clone(),
                archived: true,
            }],
        )
        .await
        .unwrap();
    assert!(
        store.conversation(&app, &group.id).await.unwrap().unwrap().archived,
        "archive: set"
    );
    store
        .apply(
            &f,
            &[Change::Archive {
                app: app.clone(),
                conv: group.id.clone(),
                archived: false,
            }],
        )
        .await
        .unwrap();
    assert!(
        !store.conversation(&app, &group.id).await.unwrap().unwrap().archived,
        "archive: cleared"
    );
}

async fn read_cursors_and_lists(store: &dyn Store, run: &str) {
    let app = app_id(run, "lists");
    let a = conv(&app, "a", ConvKind::Group, "alice");
    let b = conv(&app, "b", ConvKind::Group, "alice");
    store
        .create_conversation(&a, &[session("alice"), session("bob")])
        .await
        .unwrap();
    store.create_conversation(&b, &[session("alice")]).await.unwrap();
    let f = fence(run, "lists", 1);
    let batch: Vec<_> = (1..=5).map(|s| record(&app, &a.id, s, "bob")).collect();
    store.apply(&f, &messages(&batch)).await.unwrap();
    let cursor = |seq| Change::ReadCursor {
        app: app.clone(),
        conv: a.id.clone(),
        session: session("alice"),
        seq,
    };
    store.apply(&f, &[cursor(3), cursor(2)]).await.unwrap();
    assert_eq!(
        store.read_cursor(&app, &a.id, &session("alice")).await.unwrap(),
        3,
        "cursor: never goes back"
    );
    assert_eq!(
        store.read_cursor(&app, &a.id, &session("bob")).await.unwrap(),
        0,
        "cursor: default 0"
    );
    let list = store
        .conversations_of(&app, &session("alice"), None, 100)
        .await
        .unwrap();
    assert_eq!(list.len(), 2, "list: every conversation of the session");
    let of_a = list.iter().find(|s| s.conv.id == a.id).unwrap();
    assert_eq!(of_a.last.as_ref().map(|m| m.seq), Some(5), "list: last message");
    assert_eq!(
        (of_a.read_seq, of_a.unread(), of_a.member_count),
        (3, 2, 2),
        "list: unread and members"
    );
    let of_b = list.iter().find(|s| s.conv.id == b.id).unwrap();
    assert_eq!(
        (of_b.last.clone(), of_b.unread()),
        (None, 0),
        "list: empty conversation"
    );
    store
        .hide_conversation(&app, &session("alice"), &a.id, 5)
        .await
        .unwrap();
    let hidden = store
        .conversations_of(&app, &session("alice"), None, 100)
        .await
        .unwrap();
    assert!(
        hidden.iter().find(|s| s.conv.id == a.id).unwrap().is_hidden(),
        "list: hidden after delete"
    );
    store
        .apply(&f, &messages(&[record(&app, &a.id, 6, "bob")]))
        .await
        .unwrap();
    let back = store
        .conversations_of(&app, &session("alice"), None, 100)
        .await
        .unwrap();
    assert!(
        !back.iter().find(|s| s.conv.id == a.id).unwrap().is_hidden(),
        "list: back after a new message"
    );
    assert!(
        store
            .conversations_of(&app_id(run, "other"), &session("alice"), None, 100)
            .await
            .unwrap()
            .is_empty(),
        "list: scoped to app"
    );
}

/// A long list comes in pages: newest membership first, ties by id, each entry exactly once.
async fn list_pages(store: &dyn Store, run: &str) {
    let app = app_id(run, "pages");
    let mut expected = Vec::new();
    for i in 0..7 {
        let mut group = conv(&app, &format!("p{i}"), ConvKind::Group, "alice");
        // two share each joined_at: the id breaks the tie
        group.created_at = 100 + i / 2;
        store.create_conversation(&group, &[session("alice")]).await.unwrap();
        expected.push((group.created_at, group.id));
    }
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<ConvId> = expected.into_iter().map(|(_, id)| id).collect();
    let mut seen = Vec::new();
    let mut after: Option<ListCursor> = None;
    loop {
        let page = store
            .conversations_of(&app, &session("alice"), after.as_ref(), 3)
            .await
            .unwrap();
        assert!(page.len() <= 3, "pages: at most the limit");
        let Some(last) = page.last() else { break };
        after = Some(last.cursor());
        seen.extend(page.iter().map(|s| s.conv.id.clone()));
    }
    assert_eq!(seen, expected, "pages: every conversation once, in list order");
    assert_eq!(
        store.conversations_of(&app, &session("alice"), None, 0).await.unwrap(),
        Vec::new(),
        "pages: limit 0"
    );
}

async fn lookups_and_hiding(store: &dyn Store, run: &str) {
    let app = app_id(run, "lookups");
    let conv_id = ConvId::parse("c").unwrap();
    let f = fence(run, "lookups", 1);
    let batch: Vec<_> = (1..=4).map(|s| record(&app, &conv_id, s, "alice")).collect();
    store.apply(&f, &messages(&batch)).await.unwrap();
    assert_eq!(
        store.message_by_id(&app, &conv_id, batch[2].msg_id).await.unwrap(),
        Some(batch[2].clone()),
        "by id"
    );
    assert_eq!(
        store.message_by_id(&app, &conv_id, MsgId(1)).await.unwrap(),
        None,
        "by id: unknown"
    );
    store.hide_message(&app, &session("bob"), &conv_id, 2).await.unwrap();
    store.hide_message(&app, &session("bob"), &conv_id, 2).await.unwrap();
    store.hide_message(&app, &session("bob"), &conv_id, 4).await.unwrap();
    let mut hidden = store.hidden_seqs(&app, &session("bob"), &conv_id, 1, 3).await.unwrap();
    hidden.sort();
    assert_eq!(hidden, vec![2], "hidden: per session, in range");
    assert!(
        store
            .hidden_seqs(&app, &session("alice"), &conv_id, 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "hidden: others see all"
    );
    let mut recalled = batch[0].clone();
    recalled.status = herald_protocol::msg::status::RECALLED;
    recalled.content.clear();
    store.apply(&f, &[Change::Tombstone(recalled.clone())]).await.unwrap();
    assert_eq!(
        store.messages_in_range(&app, &conv_id, 1, 1, 1).await.unwrap(),
        vec![recalled],
        "recall: the tombstone keeps its seq"
    );
}

async fn tenancy(store: &dyn Store, run: &str) {
    let user = ConsoleUser {
        id: format!("u-{run}"),
        email: format!("{run}@example.com"),
        password_hash: "$argon2id$fake".into(),
        nick: "Nick".into(),
        created_at: 1,
    };
    assert!(store.create_console_user(&user).await.unwrap(), "console: register");
    let mut twin = user.clone();
    twin.id = format!("u2-{run}");
    assert!(
        !store.create_console_user(&twin).await.unwrap(),
        "console: one account per email"
    );
    assert_eq!(
        store.console_user_by_email(&user.email).await.unwrap(),
        Some(user.clone()),
        "console: by email"
    );
    let org = Org {
        id: format!("o-{run}"),
        name: "Org".into(),
        description: String::new(),
        owner: user.id.clone(),
        created_at: 2,
    };
    store.create_org(&org).await.unwrap();
    assert_eq!(store.org(&org.id).await.unwrap(), Some(org.clone()), "orgs: read back");
    assert_eq!(
        store.orgs_of(&user.id).await.unwrap(),
        vec![org.clone()],
        "orgs: of the owner"
    );
    assert!(
        store.is_org_member(&org.id, &user.id).await.unwrap(),
        "orgs: the owner is a member"
    );
    assert!(
        !store.is_org_member(&org.id, &twin.id).await.unwrap(),
        "orgs: others are not"
    );
    assert!(
        store.orgs_of(&twin.id).await.unwrap().is_empty(),
        "orgs: none for others"
    );
    let app = AppRecord {
        id: app_id(run, "orgapp"),
        org: org.id.clone(),
        name: "A".into(),
        secret_hash: format!("orghash-{run}").into_bytes(),
        signing_key: vec![1; 32],
        created_at: 3,
        settings: AppSettings::default(),
    };
    store.create_app_if_absent(&app).await.unwrap();
    assert_eq!(store.apps_of_org(&org.id).await.unwrap(), vec![app], "apps: of the org");
    let name = format!("key-{run}");
    assert_eq!(
        store.server_key(&name, b"first").await.unwrap(),
        b"first".to_vec(),
        "server key: created"
    );
    assert_eq!(
        store.server_key(&name, b"second").await.unwrap(),
        b"first".to_vec(),
        "server key: kept"
    );
}

async fn accounts_and_revocations(store: &dyn Store, run: &str) {
    let app = app_id(run, "accounts");
    let account = Account {
        app: app.clone(),
        user_name: session("zoe"),
        password_hash: "h1".into(),
        created_at: 1,
    };
    assert!(store.create_account(&account).await.unwrap(), "accounts: register");
    assert!(
        !store.create_account(&account).await.unwrap(),
        "accounts: a name once per app"
    );
    assert!(
        store
            .create_account(&Account {
                app: app_id(run, "accounts-b"),
                ..account.clone()
            })
            .await
            .unwrap(),
        "accounts: per app"
    );
    assert_eq!(
        store.account(&app, &session("zoe")).await.unwrap(),
        Some(account.clone())
    );
    assert!(store.set_account_password(&app, &session("zoe"), "h2").await.unwrap());
    assert_eq!(
        store
            .account(&app, &session("zoe"))
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "h2"
    );
    assert!(!store.set_account_password(&app, &session("nobody"), "h").await.unwrap());

    revocation_feed(store, &app, run).await;
}

/// This app's entries of a feed read.
fn feed_of(feed: &crate::RevocationFeed, app: &AppId) -> Vec<Revocation> {
    feed.revocations.iter().filter(|r| r.app == *app).cloned().collect()
}

async fn revocation_feed(store: &dyn Store, app: &AppId, run: &str) {
    let start = store.revocations_since(0, 1_000).await.unwrap();
    assert_eq!(feed_of(&start, app), vec![], "revocations: none yet");
    let base = herald_protocol::timefmt::now_nanos();
    let token = Revocation {
        app: app.clone(),
        kind: RevocationKind::Token,
        key: format!("jti-{run}"),
        not_before: 0,
        expires_at: 4_000_000_000,
        created_at: base + 1,
    };
    let session_wide = Revocation {
        app: app.clone(),
        kind: RevocationKind::Session,
        key: "zoe".into(),
        not_before: 100,
        expires_at: 4_000_000_000,
        created_at: base + 2,
    };
    let expired = Revocation {
        app: app.clone(),
        kind: RevocationKind::Token,
        key: format!("old-{run}"),
        not_before: 0,
        expires_at: 10,
        created_at: base + 3,
    };
    for r in [&token, &session_wide, &expired] {
        store.revoke(r).await.unwrap();
    }
    let seen = store.revocations_since(start.cursor, 1_000).await.unwrap();
    assert_eq!(
        feed_of(&seen, app),
        vec![token.clone(), session_wide.clone()],
        "revocations: new and unexpired, oldest first"
    );
    let again = store.revocations_since(seen.cursor, 1_000).await.unwrap();
    assert!(
        feed_of(&again, app)
            .iter()
            .all(|r| [&token, &session_wide].contains(&r)),
        "revocations: nothing new after the cursor (a backend may repeat what it returned)"
    );
    let later = Revocation {
        not_before: 200,
        created_at: base + 5,
        ..session_wide.clone()
    };
    store.revoke(&later).await.unwrap();
    let moved = store.revocations_since(again.cursor, 1_000).await.unwrap();
    assert!(
        feed_of(&moved, app).contains(&later),
        "revocations: a session's cutoff moves on"
    );

    // a revocation written after the reader's cursor moved past newer ones, with an older
    // creation time (a gateway whose clock is 30 s behind): the next read still returns it
    let slow_clock = Revocation {
        app: app.clone(),
        kind: RevocationKind::Session,
        key: "yan".into(),
        not_before: 300,
        expires_at: 4_000_000_000,
        created_at: base - 30 * 1_000_000_000,
    };
    store.revoke(&slow_clock).await.unwrap();
    let next = store.revocations_since(moved.cursor, 1_000).await.unwrap();
    assert!(
        feed_of(&next, app).contains(&slow_clock),
        "revocations: an entry with an older clock, written later, is still read"
    );
}

async fn friends(store: &dyn Store, run: &str) {
    let app = app_id(run, "friends");
    let (ann, ben, cat) = (session("ann"), session("ben"), session("cat"));
    let request = FriendRequest {
        app: app.clone(),
        from: ann.clone(),
        to: ben.clone(),
        information: "hi".into(),
        created_at: 1,
    };
    store.put_friend_request(&request).await.unwrap();
    assert_eq!(
        store.take_friend_request(&app, &ben, &ann).await.unwrap(),
        None,
        "requests: directed"
    );
    assert_eq!(
        store.take_friend_request(&app, &ann, &ben).await.unwrap(),
        Some(request),
        "requests: taken"
    );
    assert_eq!(
        store.take_friend_request(&app, &ann, &ben).await.unwrap(),
        None,
        "requests: taken once"
    );
    store.set_friends(&app, &ann, &ben, true, 2).await.unwrap();
    store.set_friends(&app, &ann, &cat, true, 2).await.unwrap();
    assert!(store.are_friends(&app, &ben, &ann).await.unwrap(), "friends: both ways");
    assert!(!store.are_friends(&app, &ben, &cat).await.unwrap());
    assert_eq!(
        store.friends_of(&app, &ann).await.unwrap(),
        vec![ben.clone(), cat.clone()]
    );
    store.set_friends(&app, &ben, &ann, false, 3).await.unwrap();
    assert!(
        !store.are_friends(&app, &ann, &ben).await.unwrap(),
        "friends: unfriended both ways"
    );
    assert_eq!(store.friends_of(&app, &ann).await.unwrap(), vec![cat]);
    assert!(
        store.friends_of(&app_id(run, "other"), &ann).await.unwrap().is_empty(),
        "friends: per app"
    );

    let conv_id = ConvId::parse("spam").unwrap();
    let f = fence(run, "friends", 1);
    let batch = vec![
        record(&app, &conv_id, 1, "ann"),
        record(&app, &conv_id, 2, "ann"),
        record(&app, &conv_id, 3, "ben"),
    ];
    store.apply(&f, &messages(&batch)).await.unwrap();
    let mut counts = store.sender_counts(&app, &conv_id).await.unwrap();
    counts.sort();
    assert_eq!(counts, vec![(session("ann"), 2), (session("ben"), 1)], "sender counts");
}
