//! The `DirectoryStore` part of the suite: apps, conversations (created once, racing, single
//! pairs), and membership and archive changes applied through the log.

use super::{app_id, conv, fence, session};
use crate::{AppRecord, AppSettings, Change, Creation, LoginPolicy, Store};
use herald_protocol::{AppId, ConvId, ConvKind};

/// Runs this part's checks; panics with the failing promise's name.
pub async fn run(store: &dyn Store, run: &str) {
    apps(store, run).await;
    conversations(store, run).await;
    single_pairs(store, run).await;
    membership_and_archive(store, run).await;
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
        before_send: None,
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
    assert_eq!(
        store.conversation_for(&app, &id, &session("bob")).await.unwrap(),
        Some((group.clone(), true)),
        "conversation_for: a member"
    );
    assert_eq!(
        store.conversation_for(&app, &id, &session("mallory")).await.unwrap(),
        Some((group.clone(), false)),
        "conversation_for: not a member"
    );
    let other_app = app_id(run, "convs-other");
    assert_eq!(
        store.conversation(&other_app, &id).await.unwrap(),
        None,
        "conversations: scoped to app"
    );
    assert_eq!(
        store.conversation_for(&other_app, &id, &session("bob")).await.unwrap(),
        None,
        "conversation_for: scoped to app"
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
    single_lookup(store, run, &first.id, &third.id).await;
}

/// `single_between` finds a pair's conversation in either order and creates nothing: `alice` and
/// `bob` share `alice_bob`, `alice` and `carol` share `alice_carol` (made by `single_pairs`).
async fn single_lookup(store: &dyn Store, run: &str, alice_bob: &ConvId, alice_carol: &ConvId) {
    let app = app_id(run, "pairs");
    let between = |a: &'static str, b: &'static str, app: AppId| async move {
        store.single_between(&app, &session(a), &session(b)).await.unwrap()
    };
    for (a, b) in [("alice", "bob"), ("bob", "alice")] {
        assert_eq!(
            between(a, b, app.clone()).await.as_ref(),
            Some(alice_bob),
            "single lookup: {a} and {b} find their conversation"
        );
    }
    assert_eq!(
        between("carol", "alice", app.clone()).await.as_ref(),
        Some(alice_carol),
        "single lookup: each pair its own"
    );
    for (a, b) in [
        ("bob", "carol"),
        ("carol", "bob"),
        ("alice", "alice"),
        ("alice", "dave"),
    ] {
        assert_eq!(
            between(a, b, app.clone()).await,
            None,
            "single lookup: {a} and {b} share none"
        );
    }
    let other_app = app_id(run, "other-pairs");
    let theirs = conv(&other_app, "s1", ConvKind::Single, "bob");
    store
        .create_conversation(&theirs, &[session("bob"), session("carol")])
        .await
        .unwrap();
    assert_eq!(
        between("carol", "bob", other_app.clone()).await,
        Some(theirs.id),
        "single lookup: found in its app"
    );
    assert_eq!(
        between("bob", "carol", app.clone()).await,
        None,
        "single lookup: another app's pair is not this app's"
    );
    assert_eq!(
        between("alice", "bob", other_app).await,
        None,
        "single lookup: this app's pair is not another app's"
    );
    let after = store
        .create_conversation(
            &conv(&app, "s4", ConvKind::Single, "bob"),
            &[session("bob"), session("carol")],
        )
        .await
        .unwrap();
    assert!(
        matches!(after, Creation::Created(_)),
        "single lookup: a pair looked up and not found is still new: {after:?}"
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
    for (archived, promise) in [(true, "archive: set"), (false, "archive: cleared")] {
        let change = Change::Archive {
            app: app.clone(),
            conv: group.id.clone(),
            archived,
        };
        store.apply(&f, &[change]).await.unwrap();
        let stored = store.conversation(&app, &group.id).await.unwrap().unwrap();
        assert_eq!(stored.archived, archived, "{promise}");
    }
}
