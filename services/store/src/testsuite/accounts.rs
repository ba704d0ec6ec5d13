//! The `AccountStore` part of the suite: console users, orgs and their apps, server keys,
//! end-user accounts, and the revocation feed.

use super::{app_id, session};
use crate::{Account, AppRecord, AppSettings, ConsoleUser, Org, Revocation, RevocationKind, Store};
use herald_protocol::AppId;

/// Runs this part's checks; panics with the failing promise's name.
pub async fn run(store: &dyn Store, run: &str) {
    tenancy(store, run).await;
    accounts_and_revocations(store, run).await;
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
