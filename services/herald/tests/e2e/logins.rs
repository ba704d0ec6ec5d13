//! Logins as an attacker would try them (protocol §6): end-user accounts off until the app turns
//! them on, failed logins throttled per account and per address, a login flood bounded, and
//! revocations seen whatever the clock of the process that wrote them.

use crate::support::{Api, BusKind, Herald, SECRET};
use herald_store::AccountStore;
use serde_json::{Value, json};
use std::time::Duration;

async fn put_settings(api: &Api, secret: &str, body: Value) -> (u16, Value) {
    let response = api
        .http
        .put(format!("{}/inner/settings", api.base))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// Status, `Retry-After` and body of a POST.
async fn post_with_headers(api: &Api, path: &str, body: Value) -> (u16, Option<u64>, Value) {
    let response = api
        .http
        .post(format!("{}{path}", api.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry_after, response.json().await.unwrap_or(Value::Null))
}

async fn enable_accounts(api: &Api) {
    let (status, body) = put_settings(api, SECRET, json!({"end_user_accounts": true})).await;
    assert_eq!(
        (status, body["data"]["end_user_accounts"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
}

async fn register(api: &Api, user: &str, password: &str) {
    let (status, body) = api
        .post("/user/register", "", json!({"user_name": user, "password": password}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_user_accounts_are_off_until_the_app_turns_them_on() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    let response = api
        .http
        .get(format!("{}/inner/settings", api.base))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    let settings: Value = response.json().await.unwrap();
    assert_eq!(
        settings["data"]["end_user_accounts"],
        json!(false),
        "off by default on app `default`: {settings}"
    );
    // a backend-minted user: nobody may claim its session name with an account
    let minted = api.token("mia", 1).await;
    let account = json!({"user_name": "mia", "password": "takeover attempt"});
    for path in ["/user/register", "/user/login"] {
        let (status, body) = api.post(path, "", account.clone()).await;
        assert_eq!((status, body["code"].as_u64()), (403, Some(10003)), "{path}: {body}");
    }
    let (status, body) = api
        .post(
            "/user/set_password",
            "",
            json!({"user_name": "mia", "old_password": "takeover attempt", "new_password": "another attempt"}),
        )
        .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(10003)), "{body}");
    let (status, _) = api.post("/get_joined_conversation", &minted, json!({})).await;
    assert_eq!(status, 200, "the minted token is untouched");

    enable_accounts(&api).await;
    register(&api, "kim", "kim's password").await;
    let (status, body) = api
        .post(
            "/user/login",
            "",
            json!({"user_name": "kim", "password": "kim's password"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["token"].as_str().unwrap();
    let (status, _) = api.post("/get_joined_conversation", token, json!({})).await;
    assert_eq!(status, 200);
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sixth_wrong_password_of_an_account_locks_it_for_the_minute() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    enable_accounts(&api).await;
    register(&api, "zoe", "zoe's password").await;
    register(&api, "yan", "yan's password").await;
    let wrong = json!({"user_name": "zoe", "password": "a wrong guess"});
    for attempt in 1..=5 {
        let (status, _, body) = post_with_headers(&api, "/user/login", wrong.clone()).await;
        assert_eq!((status, body["code"].as_u64()), (401, Some(10101)), "attempt {attempt}");
    }
    let (status, retry_after, body) = post_with_headers(&api, "/user/login", wrong).await;
    assert_eq!((status, body["code"].as_u64()), (429, Some(10008)), "{body}");
    assert!(
        retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "Retry-After within the minute: {retry_after:?}"
    );
    let (status, _, body) = post_with_headers(
        &api,
        "/user/login",
        json!({"user_name": "zoe", "password": "zoe's password"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (429, Some(10008)),
        "locked out: the right password is refused too"
    );
    let (status, _, _) = post_with_headers(
        &api,
        "/user/set_password",
        json!({"user_name": "zoe", "old_password": "zoe's password", "new_password": "a new password"}),
    )
    .await;
    assert_eq!(status, 429, "set_password is throttled with the account");
    let (status, _, _) = post_with_headers(
        &api,
        "/user/login",
        json!({"user_name": "yan", "password": "yan's password"}),
    )
    .await;
    assert_eq!(status, 200, "another account is not locked");

    // the console alike
    let console = json!({"email": "ops@example.com", "password": "console password"});
    let (status, _) = api.post("/console/reg", "", console.clone()).await;
    assert_eq!(status, 200);
    let wrong = json!({"email": "ops@example.com", "password": "a wrong guess"});
    for attempt in 1..=5 {
        let (status, _, _) = post_with_headers(&api, "/console/login", wrong.clone()).await;
        assert_eq!(status, 401, "console attempt {attempt}");
    }
    let (status, retry_after, body) = post_with_headers(&api, "/console/login", console).await;
    assert_eq!((status, body["code"].as_u64()), (429, Some(10008)), "{body}");
    assert!(retry_after.is_some());
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_guessing_across_accounts_is_locked_out() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    enable_accounts(&api).await;
    register(&api, "ann", "ann's password").await;
    // four guesses at each of five accounts: no account reaches its limit, the address does
    for attempt in 0..20 {
        let user = format!("guess{}", attempt / 4);
        let (status, _, _) = post_with_headers(
            &api,
            "/user/login",
            json!({"user_name": user, "password": "a wrong guess"}),
        )
        .await;
        assert_eq!(status, 401, "attempt {attempt}");
    }
    let (status, retry_after, body) = post_with_headers(
        &api,
        "/user/login",
        json!({"user_name": "ann", "password": "ann's password"}),
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (429, Some(10008)), "{body}");
    assert!(retry_after.is_some());
    herald.stop().await;
}

/// A second app, from the console: its secret.
async fn other_app(api: &Api) -> String {
    let console = json!({"email": "other@example.com", "password": "console password"});
    api.post("/console/reg", "", console.clone()).await;
    let (_, login) = api.post("/console/login", "", console).await;
    let token = login["data"]["token"].as_str().unwrap().to_owned();
    let (_, org) = api.post("/console/org", &token, json!({"name": "other"})).await;
    let (status, app) = api
        .post(
            "/console/app",
            &token,
            json!({"orgId": org["data"]["orgId"], "name": "other"}),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    app["data"]["secret"].as_str().unwrap().to_owned()
}

/// 200 logins at once are bounded (the ones past the hashing queue are refused at once) and
/// another app's history reads all succeed while they are in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_bounded_and_does_not_stall_history_reads() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    enable_accounts(&api).await;
    let other_secret = other_app(&api).await;
    let (status, body) = api
        .post(
            "/inner/get_token",
            &other_secret,
            json!({"session": "alice", "platform": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let alice = body["data"].as_str().unwrap().to_owned();
    let conv = api.create_group(&alice, &["bob"]).await;
    api.send_until_acked(&alice, &conv, "m1", "before the flood").await;

    let flood: Vec<_> = (0..200)
        .map(|n| {
            let api = api.clone();
            tokio::spawn(async move {
                let body = json!({"user_name": format!("flood{n}"), "password": "a wrong guess"});
                post_with_headers(&api, "/user/login", body).await.0
            })
        })
        .collect();
    let reads: Vec<_> = (0..20)
        .map(|_| {
            let (api, alice, conv) = (api.clone(), alice.clone(), conv.clone());
            tokio::spawn(async move {
                api.post(
                    "/get_conversation_last_30_msg",
                    &alice,
                    json!({"conversation_id": conv}),
                )
                .await
            })
        })
        .collect();
    for read in reads {
        let (status, body) = read.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["Msg"][0]["Content"], "before the flood", "{body}");
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for login in flood {
        *statuses.entry(login.await.unwrap()).or_default() += 1;
    }
    assert!(
        statuses.keys().all(|s| [401, 429, 503].contains(s)),
        "logins answer wrong password, throttled or busy: {statuses:?}"
    );
    let refused = statuses.get(&429).unwrap_or(&0) + statuses.get(&503).unwrap_or(&0);
    assert!(
        refused > 0,
        "logins past the bound are refused, not queued: {statuses:?}"
    );
    herald.stop().await;
}

/// A revocation written after a newer one, with an older creation time (a gateway whose clock is
/// behind), is still applied by the gateway: its token is refused and its connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_from_a_slow_clock_is_still_applied() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    let decoy = api.token("decoy", 1).await;
    let sam = api.token("sam", 1).await;
    let mut connected = api.ws(&sam).await;
    assert_eq!(connected.request("ping", json!({})).await["data"], "pong");
    // another writer of the same store (as another gateway process is)
    let store = herald_store::sqlite::SqliteStore::open(herald.data_dir.path())
        .await
        .unwrap();
    let app = herald_protocol::AppId::parse("default").unwrap();
    let now_nanos = herald_protocol::timefmt::now_nanos();
    let now_millis = (now_nanos / 1_000_000) as i64;
    let session_revocation = |session: &str, created_at: i64| herald_store::Revocation {
        app: app.clone(),
        kind: herald_store::RevocationKind::Session,
        key: session.into(),
        not_before: now_millis + 1,
        expires_at: 4_000_000_000,
        created_at,
    };
    // a fast clock first: the gateway reads it...
    store
        .revoke(&session_revocation("decoy", now_nanos + 60_000_000_000))
        .await
        .unwrap();
    herald_testkit::eventually(Duration::from_secs(10), "the decoy revocation is applied", || {
        let (api, decoy) = (api.clone(), decoy.clone());
        async move { (api.post("/get_joined_conversation", &decoy, json!({})).await.0 == 401).then_some(()) }
    })
    .await;
    // ...then a slow one, a minute older
    store.revoke(&session_revocation("sam", now_nanos)).await.unwrap();
    herald_testkit::eventually(Duration::from_secs(10), "the slow-clock revocation is applied", || {
        let (api, sam) = (api.clone(), sam.clone());
        async move { (api.post("/get_joined_conversation", &sam, json!({})).await.0 == 401).then_some(()) }
    })
    .await;
    let kickout = connected.next_push("kickout").await;
    assert_eq!(kickout["data"]["reason"], "token revoked");
    herald.stop().await;
}
