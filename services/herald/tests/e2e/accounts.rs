//! Accounts, tenancy, friends, presence and anti-spam (protocol §1, §6).

use crate::support::{Api, BusKind, Herald, Process, SECRET, free_addr, wait_healthy};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn get(api: &Api, path: &str, bearer: &str) -> (u16, Value) {
    let response = api
        .http
        .get(format!("{}{path}", api.base))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn put(api: &Api, path: &str, bearer: &str, body: Value) -> (u16, Value) {
    let response = api
        .http
        .put(format!("{}{path}", api.base))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// A console user with an org and an app: (console token, org id, app id, app secret).
async fn tenant(api: &Api, name: &str) -> (String, String, String, String) {
    let email = format!("{name}@example.com");
    let (status, body) = api
        .post(
            "/console/reg",
            "",
            json!({"email": email, "password": "correct horse", "nick": name}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .post(
            "/console/login",
            "",
            json!({"email": email, "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let console = body["data"]["token"].as_str().unwrap().to_owned();
    let (_, org) = api
        .post("/console/org", &console, json!({"name": format!("{name} inc")}))
        .await;
    let org = org["data"]["orgId"].as_str().unwrap().to_owned();
    let (status, app) = api
        .post(
            "/console/app",
            &console,
            json!({"orgId": org, "name": format!("{name} app")}),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    let (app_id, secret) = (
        app["data"]["appId"].as_str().unwrap().to_owned(),
        app["data"]["secret"].as_str().unwrap().to_owned(),
    );
    (console, org, app_id, secret)
}

async fn client_token(api: &Api, secret: &str, session: &str) -> String {
    let (status, body) = api
        .post("/inner/get_token", secret, json!({"session": session, "platform": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_str().unwrap().to_owned()
}

async fn tenants_are_isolated(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let (console_a, org_a, app_a, secret_a) = tenant(&api, "alpha").await;
    let (console_b, org_b, app_b, secret_b) = tenant(&api, "beta").await;
    let (status, body) = api
        .post(
            "/console/reg",
            "",
            json!({"email": "alpha@example.com", "password": "another one"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (409, Some(10006)),
        "one account per email"
    );
    let (status, _) = api
        .post(
            "/console/login",
            "",
            json!({"email": "alpha@example.com", "password": "wrong password"}),
        )
        .await;
    assert_eq!(status, 401);

    // the console shows each user its own orgs and apps, never a secret
    let (_, orgs) = get(&api, "/console/orgs", &console_a).await;
    assert_eq!(orgs["data"].as_array().unwrap().len(), 1);
    assert_eq!(orgs["data"][0]["orgId"], json!(org_a));
    for path in [
        format!("/console/org/{org_b}"),
        format!("/console/apps/{org_b}"),
        format!("/console/app/{app_b}"),
        format!("/console/app/{app_b}/settings"),
    ] {
        let (status, body) = get(&api, &path, &console_a).await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (404, Some(10005)),
            "{path} is not alpha's"
        );
    }
    let (status, _) = api
        .post(&format!("/console/app/{app_b}/rotate_secret"), &console_a, json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post("/console/app", &console_a, json!({"orgId": org_b, "name": "intruder"}))
        .await;
    assert_eq!(status, 404);
    let (_, app) = get(&api, &format!("/console/app/{app_a}"), &console_a).await;
    assert!(
        !app.to_string().contains(&secret_a),
        "an app is never shown with its secret"
    );
    let (_, apps) = get(&api, &format!("/console/apps/{org_a}"), &console_a).await;
    assert!(!apps.to_string().contains(&secret_a));

    // tokens and secrets of app A reach nothing of app B
    let token_b = client_token(&api, &secret_b, "bob").await;
    let conv_b = api.create_group(&token_b, &["bea"]).await;
    let token_a = client_token(&api, &secret_a, "bob").await;
    let (status, _) = api
        .post(
            "/send_msg",
            &token_a,
            json!({"conversation_id": conv_b, "content": "x"}),
        )
        .await;
    assert_eq!(status, 404, "another app's conversation does not exist for this token");
    let (status, _) = api
        .post(
            "/get_conversation_last_30_msg",
            &token_a,
            json!({"conversation_id": conv_b}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post(
            "/inner/kickout_conversation",
            &secret_a,
            json!({"conversation_id": conv_b, "sessions": ["bea"]}),
        )
        .await;
    assert_eq!(status, 404, "another app's secret cannot touch it");
    let (status, _) = api
        .post(
            "/inner/set_archive_conversations",
            &secret_a,
            json!({"conversation_ids": [conv_b], "is_archive": true}),
        )
        .await;
    assert_eq!(status, 404);
    let mut ws_a = api.ws(&token_a).await;
    assert_eq!(
        ws_a.request("msg-listHistory", json!({"convId": conv_b})).await["code"],
        10005
    );
    assert_eq!(
        ws_a.request("sync", json!({"convs": {conv_b.clone(): 0}})).await["code"],
        10005
    );
    let (_, joined) = api.post("/get_joined_conversation", &token_a, json!({})).await;
    assert!(
        joined["data"]["Conversations"].as_array().unwrap().is_empty(),
        "bob of app A has none of app B's conversations"
    );

    // rotation: the old secret stops, the new works; settings through the console
    let (_, rotated) = api
        .post(&format!("/console/app/{app_a}/rotate_secret"), &console_a, json!({}))
        .await;
    let new_secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
    let (status, _) = api.post("/inner/get_token", &secret_a, json!({"session": "x"})).await;
    assert_eq!(status, 401, "the old secret stops working");
    client_token(&api, &new_secret, "x").await;
    let (status, settings) = put(
        &api,
        &format!("/console/app/{app_a}/settings"),
        &console_a,
        json!({"require_friendship": true, "send_burst": 7}),
    )
    .await;
    assert_eq!(status, 200, "{settings}");
    let (_, settings) = get(&api, "/inner/settings", &new_secret).await;
    assert_eq!(
        (
            settings["data"]["require_friendship"].as_bool(),
            settings["data"]["send_burst"].as_u64()
        ),
        (Some(true), Some(7))
    );
    let (status, _) = put(
        &api,
        &format!("/console/app/{app_a}/settings"),
        &console_b,
        json!({"send_burst": 1}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = put(&api, "/inner/settings", &new_secret, json!({"made_up": 1})).await;
    assert_eq!(status, 400, "unknown settings are refused");
    let (status, _) = get(&api, "/console/orgs", &token_a).await;
    assert_eq!(status, 401, "a client token is not a console token");
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_user_accounts_and_revocation_across_gateway_processes() {
    let herald = Herald::start(BusKind::Nats).await;
    let api = herald.api();
    // a second gateway, as its own process, on the same bus and store
    let addr = free_addr();
    let env = herald.process_env(addr);
    let _gateway = Process::spawn("gateway-2", "gateway", &env, herald.data_dir.path());
    wait_healthy(addr).await;
    let other = Api::new(addr);

    // end-user accounts are an app setting, off by default
    let (status, body) = put(&api, "/inner/settings", SECRET, json!({"end_user_accounts": true})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = api
        .post("/user/register", "", json!({"user_name": "zed", "password": "short"}))
        .await;
    assert_eq!(status, 400, "passwords have a minimum length");
    let (status, _) = api
        .post(
            "/user/register",
            "",
            json!({"user_name": "zed", "password": "zed's password"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .post(
            "/user/register",
            "",
            json!({"user_name": "zed", "password": "another password"}),
        )
        .await;
    assert_eq!((status, body["code"].as_u64()), (409, Some(10006)));
    let (status, _) = api
        .post(
            "/user/login",
            "",
            json!({"user_name": "zed", "password": "not zed's password"}),
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = api
        .post(
            "/user/login",
            "",
            json!({"user_name": "zed", "password": "zed's password", "platform": 3}),
        )
        .await;
    assert_eq!(status, 200);
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    let (status, _) = other.post("/get_joined_conversation", &token, json!({})).await;
    assert_eq!(status, 200, "the token works on both gateways");
    let mut connected = other.ws(&token).await;
    assert_eq!(connected.request("ping", json!({})).await["data"], "pong");

    let (status, _) = api.post("/user/logout", &token, json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = api.post("/get_joined_conversation", &token, json!({})).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (401, Some(10101)),
        "revoked here at once"
    );
    let started = Instant::now();
    herald_testkit::eventually(
        Duration::from_secs(10),
        "the other gateway refuses the revoked token",
        || {
            let (other, token) = (other.clone(), token.clone());
            async move { (other.post("/get_joined_conversation", &token, json!({})).await.0 == 401).then_some(()) }
        },
    )
    .await;
    eprintln!(
        "revocation reached the second gateway process in {:?}",
        started.elapsed()
    );
    let kickout = connected.next_push("kickout").await;
    assert_eq!(
        kickout["data"]["reason"], "token revoked",
        "its live connection is closed too"
    );

    let (status, _) = api
        .post(
            "/user/set_password",
            "",
            json!({"user_name": "zed", "old_password": "wrong password", "new_password": "brand new password"}),
        )
        .await;
    assert_eq!(status, 401);
    let (_, body) = api
        .post(
            "/user/login",
            "",
            json!({"user_name": "zed", "password": "zed's password"}),
        )
        .await;
    let before = body["data"]["token"].as_str().unwrap().to_owned();
    let mut connected_before = other.ws(&before).await;
    assert_eq!(connected_before.request("ping", json!({})).await["data"], "pong");
    let (status, _) = api
        .post(
            "/user/set_password",
            "",
            json!({"user_name": "zed", "old_password": "zed's password", "new_password": "brand new password"}),
        )
        .await;
    assert_eq!(status, 200);
    // a password change revokes the session's earlier tokens, here at once and on the other gateway
    let (status, body) = api.post("/get_joined_conversation", &before, json!({})).await;
    assert_eq!((status, body["code"].as_u64()), (401, Some(10101)), "{body}");
    herald_testkit::eventually(
        Duration::from_secs(10),
        "the other gateway refuses a token from before the password change",
        || {
            let (other, before) = (other.clone(), before.clone());
            async move { (other.post("/get_joined_conversation", &before, json!({})).await.0 == 401).then_some(()) }
        },
    )
    .await;
    let kickout = connected_before.next_push("kickout").await;
    assert_eq!(
        kickout["data"]["reason"], "token revoked",
        "its live connection is told"
    );
    match connected_before.next_raw().await {
        Some(tokio_tungstenite::tungstenite::Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 4003, "closed as revoked")
        }
        other => panic!("expected the revoked connection to close, got {other:?}"),
    }
    let (status, _) = api
        .post(
            "/user/login",
            "",
            json!({"user_name": "zed", "password": "zed's password"}),
        )
        .await;
    assert_eq!(status, 401, "the old password is gone");
    let (_, body) = api
        .post(
            "/user/login",
            "",
            json!({"user_name": "zed", "password": "brand new password"}),
        )
        .await;
    let fresh = body["data"]["token"].as_str().unwrap().to_owned();
    let (status, _) = other.post("/get_joined_conversation", &fresh, json!({})).await;
    assert_eq!(status, 200, "a login after the password change works");

    // the app's backend can revoke every token of a session (a deleted user)
    let (status, _) = api
        .post("/inner/revoke_session", SECRET, json!({"session": "zed"}))
        .await;
    assert_eq!(status, 200);
    herald_testkit::eventually(
        Duration::from_secs(10),
        "session revocation reaches the other gateway",
        || {
            let (other, fresh) = (other.clone(), fresh.clone());
            async move { (other.post("/get_joined_conversation", &fresh, json!({})).await.0 == 401).then_some(()) }
        },
    )
    .await;
    let (_, body) = api
        .post(
            "/user/login",
            "",
            json!({"user_name": "zed", "password": "brand new password"}),
        )
        .await;
    let after = body["data"]["token"].as_str().unwrap().to_owned();
    let (status, _) = other.post("/get_joined_conversation", &after, json!({})).await;
    assert_eq!(status, 200, "a token issued after the revocation works");
    herald.stop().await;
}

async fn friends_and_presence(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let mut ann = api.ws(&api.token("ann", 1).await).await;
    let mut ben = api.ws(&api.token("ben", 1).await).await;
    let mut cal = api.ws(&api.token("cal", 1).await).await;

    assert_eq!(
        ann.request(
            "friend-request",
            json!({"linkKey": "ben", "information": "hi, it's ann"})
        )
        .await["status"],
        "ok"
    );
    let request = ben.next_push("friend-request").await;
    assert_eq!(
        (request["code"].as_u64(), request["data"]["linkKey"].as_str()),
        (Some(1000), Some("ann"))
    );
    assert_eq!(request["data"]["information"], "hi, it's ann");
    assert_eq!(
        ben.request("friend-respond", json!({"linkKey": "ann", "accept": true}))
            .await["status"],
        "ok"
    );
    let accepted = ann.next_push("friend-accepted").await;
    assert_eq!(
        (accepted["code"].as_u64(), accepted["data"]["linkKey"].as_str()),
        (Some(1001), Some("ben"))
    );
    assert_eq!(
        ben.request("friend-respond", json!({"linkKey": "ann", "accept": true}))
            .await["code"],
        10005,
        "answered once"
    );
    cal.request("friend-request", json!({"linkKey": "ann"})).await;
    ann.next_push("friend-request").await;
    ann.request("friend-respond", json!({"linkKey": "cal", "accept": false}))
        .await;
    let rejected = cal.next_push("friend-rejected").await;
    assert_eq!(rejected["code"], 1002);
    let list = ann.request("friend-list", json!({})).await;
    assert_eq!(list["data"]["friends"], json!(["ben"]));

    // presence: online when the first connection opens, offline when the last closes. The
    // tracker may still announce ben's arrival (it looks up friends when it handles the change,
    // which may be before or after the friendship): let it settle. A fixed window, because
    // whether that push comes at all depends on that race; nothing marks its end.
    while tokio::time::timeout(Duration::from_millis(1500), ann.next_push("presence"))
        .await
        .is_ok()
    {}
    let query = ann.request("presence-query", json!({"linkKeys": ["ben", "dan"]})).await;
    assert_eq!(query["data"]["presence"], json!({"ben": true, "dan": false}));
    let ben_token = api.token("ben", 2).await;
    let second = api.ws(&ben_token).await;
    drop(ben);
    // a fixed window: closing one of two connections changes no route, so no event exists
    // that could serve as a barrier; 1.5 s is many times the close's handling
    assert!(
        ann.is_quiet(Duration::from_millis(1500)).await,
        "ben still has a connection: no offline"
    );
    drop(second);
    let offline = ann.next_push("presence").await;
    assert_eq!(
        (offline["code"].as_u64(), offline["data"]["linkKey"].as_str()),
        (Some(2000), Some("ben"))
    );
    let ben_again = api.ws(&ben_token).await;
    let online = ann.next_push("presence").await;
    assert_eq!(
        (online["code"].as_u64(), online["data"]["online"].as_bool()),
        (Some(2001), Some(true))
    );
    // a fixed window: presence pushes and the pushes a barrier could use travel different
    // paths with no order between them, so "nothing arrives" can only be waited for
    assert!(
        cal.is_quiet(Duration::from_millis(300)).await,
        "only friends hear of it"
    );

    // presence is event-driven: a connection opened and closed at once is still announced,
    // online and then offline
    drop(ben_again);
    let offline = ann.next_push("presence").await;
    assert_eq!(offline["code"].as_u64(), Some(2000), "{offline}");
    drop(api.ws(&ben_token).await);
    let brief: Vec<(Option<u64>, Option<bool>)> = [ann.next_push("presence").await, ann.next_push("presence").await]
        .iter()
        .map(|p| (p["code"].as_u64(), p["data"]["online"].as_bool()))
        .collect();
    assert_eq!(brief, [(Some(2001), Some(true)), (Some(2000), Some(false))]);

    // require_friendship: 1:1 between non-friends is refused with 1003; groups are not affected
    let (status, _) = put(&api, "/inner/settings", SECRET, json!({"require_friendship": true})).await;
    assert_eq!(status, 200);
    let single = cal
        .request("conv-create", json!({"convType": "single", "linkKeys": ["ann"]}))
        .await;
    let single = single["data"]["convId"].as_str().unwrap().to_owned();
    let refused = cal
        .request("msg-im", json!({"convId": single, "msgContent": "hi"}))
        .await;
    assert_eq!(refused["code"], 1003);
    let friendly = ann
        .request("conv-create", json!({"convType": "single", "linkKeys": ["ben"]}))
        .await;
    let friendly = friendly["data"]["convId"].as_str().unwrap().to_owned();
    assert_eq!(
        ann.request("msg-im", json!({"convId": friendly, "msgContent": "hi ben"}))
            .await["status"],
        "ok"
    );
    assert_eq!(
        ann.request("friend-delete", json!({"linkKey": "ben"})).await["status"],
        "ok"
    );
    assert_eq!(
        ann.request("msg-im", json!({"convId": friendly, "msgContent": "still?"}))
            .await["code"],
        1003,
        "unfriended"
    );
    let group = cal
        .request("conv-create", json!({"convType": "multi", "linkKeys": ["ann"]}))
        .await;
    let group = group["data"]["convId"].as_str().unwrap().to_owned();
    assert_eq!(
        cal.request("msg-im", json!({"convId": group, "msgContent": "group ok"}))
            .await["status"],
        "ok"
    );
    herald.stop().await;
}

on_both_buses!(friends_and_presence);

/// One session on two gateways; the gateway process holding one connection is killed: the
/// session stays online while its other connection lives, and goes offline when that closes.
/// A session only on the killed gateway goes offline by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_survives_a_killed_gateway() {
    let herald = Herald::start(BusKind::Nats).await;
    let api = herald.api();
    let addr = free_addr();
    let env = herald.process_env(addr);
    let mut doomed = Process::spawn("gateway-doomed", "gateway", &env, herald.data_dir.path());
    wait_healthy(addr).await;
    let other = Api::new(addr);
    let mut watcher = api.ws(&api.token("watcher", 1).await).await;
    for friend in ["dual", "lonely"] {
        let mut f = api.ws(&api.token(friend, 1).await).await;
        befriend(&mut watcher, &mut f, friend).await;
    }
    let dual_here = api.ws(&api.token("dual", 3).await).await;
    let _dual_there = other.ws(&other.token("dual", 4).await).await;
    let _lonely_there = other.ws(&other.token("lonely", 4).await).await;
    herald_testkit::eventually(Duration::from_secs(10), "both online", || {
        let api = api.clone();
        async move {
            let mut ws = api.ws(&api.token("probe", 1).await).await;
            let reply = ws
                .request("presence-query", json!({"linkKeys": ["dual", "lonely"]}))
                .await;
            (reply["data"]["presence"] == json!({"dual": true, "lonely": true})).then_some(())
        }
    })
    .await;
    // let the tracker finish announcing the arrivals: whether one is announced depends on
    // whether the friendship was stored first, so no count of pushes can be waited for
    while tokio::time::timeout(Duration::from_millis(1500), watcher.next_push("presence"))
        .await
        .is_ok()
    {}

    doomed.kill9();
    let killed = Instant::now();
    let offline = watcher.next_push("presence").await;
    assert_eq!(
        (offline["code"].as_u64(), offline["data"]["linkKey"].as_str()),
        (Some(2000), Some("lonely")),
        "{offline}"
    );
    eprintln!(
        "a session of a killed gateway went offline after {:?}",
        killed.elapsed()
    );
    // a fixed window: dual keeps a route on the live gateway, so the withdrawal of the dead
    // gateway's routes is no change for it and no event follows that could be waited for
    assert!(
        watcher.is_quiet(Duration::from_secs(2)).await,
        "dual still has a connection on the live gateway"
    );
    drop(dual_here);
    let offline = watcher.next_push("presence").await;
    assert_eq!(
        (offline["code"].as_u64(), offline["data"]["linkKey"].as_str()),
        (Some(2000), Some("dual"))
    );
    herald.stop().await;
}

/// A gateway restarted under the same name (a pod keeps its name) is a new gateway: the
/// sessions its previous life held go offline, and a client that reconnects to it is online
/// and served again (issue 11 item 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_restarted_under_its_name_is_a_new_gateway() {
    let herald = Herald::start(BusKind::Nats).await;
    let api = herald.api();
    let addr = free_addr();
    let env = herald.process_env(addr);
    let mut pod = Process::spawn("pod-0", "gateway", &env, herald.data_dir.path());
    wait_healthy(addr).await;
    let restarting = Api::new(addr);
    let mut watcher = api.ws(&api.token("watcher", 1).await).await;
    let mut lonely = restarting.ws(&restarting.token("lonely", 1).await).await;
    // a push crosses gateways once the route of lonely's connection reached the other one
    lonely_routed(&api).await;
    befriend(&mut watcher, &mut lonely, "lonely").await;
    let conv = api.create_group(&api.token("watcher", 1).await, &["lonely"]).await;

    pod.kill9();
    drop(lonely);
    let _pod = Process::spawn("pod-0", "gateway", &env, herald.data_dir.path());
    wait_healthy(addr).await;
    let offline = watcher.next_push("presence").await;
    assert_eq!(
        (offline["code"].as_u64(), offline["data"]["linkKey"].as_str()),
        (Some(2000), Some("lonely")),
        "the previous life's session goes offline: {offline}"
    );
    let mut lonely = restarting.ws(&restarting.token("lonely", 1).await).await;
    lonely_routed(&api).await;
    let online = watcher.next_push("presence").await;
    assert_eq!(
        (online["code"].as_u64(), online["data"]["linkKey"].as_str()),
        (Some(2001), Some("lonely")),
        "{online}"
    );
    let (_, seq) = api
        .send_until_acked(&api.token("watcher", 1).await, &conv, "after-restart", "welcome back")
        .await;
    let pushed = lonely.next_message().await;
    assert_eq!(
        (pushed["Seq"].as_u64(), pushed["Content"].as_str()),
        (Some(seq), Some("welcome back"))
    );
    herald.stop().await;
}

/// `watcher` asks `friend` (whose session is `name`) for friendship, and `friend` accepts.
async fn befriend(watcher: &mut crate::support::WsClient, friend: &mut crate::support::WsClient, name: &str) {
    watcher.request("friend-request", json!({"linkKey": name})).await;
    friend.next_push("friend-request").await;
    friend
        .request("friend-respond", json!({"linkKey": "watcher", "accept": true}))
        .await;
    watcher.next_push("friend-accepted").await;
}

/// Waits until the gateway behind `api` routes to a connection of "lonely" (it answers
/// presence queries from its replica of the routing table).
async fn lonely_routed(api: &Api) {
    herald_testkit::eventually(
        Duration::from_secs(10),
        "lonely's route reaches the other gateway",
        || async {
            let mut probe = api.ws(&api.token("probe", 1).await).await;
            let reply = probe.request("presence-query", json!({"linkKeys": ["lonely"]})).await;
            (reply["data"]["presence"]["lonely"] == true).then_some(())
        },
    )
    .await;
}

async fn anti_spam_and_rate_limit_count_exactly(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let (status, _) = put(
        &api,
        "/inner/settings",
        SECRET,
        json!({"spam_unanswered_limit": 3, "send_rate_per_sec": 0}),
    )
    .await;
    assert_eq!(status, 200);
    let pat = api.token("pat", 1).await;
    let quinn = api.token("quinn", 1).await;
    let (_, body) = api
        .post(
            "/create_conversation",
            &pat,
            json!({"kind": "single", "sessions": ["quinn"]}),
        )
        .await;
    let conv = body["data"]["ConversationId"].as_str().unwrap().to_owned();
    let send = |token: String, text: &'static str| {
        let (api, conv) = (api.clone(), conv.clone());
        async move {
            api.post("/send_msg", &token, json!({"conversation_id": conv, "content": text}))
                .await
        }
    };
    for _ in 0..3 {
        assert_eq!(send(pat.clone(), "hello?").await.0, 200);
    }
    let (status, body) = send(pat.clone(), "hello??").await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (429, Some(10009)),
        "the 4th unanswered message is refused"
    );
    assert_eq!(send(quinn.clone(), "hi pat").await.0, 200);
    assert_eq!(
        send(pat.clone(), "at last").await.0,
        200,
        "once answered, the sender may go on"
    );

    // rate limit: burst 3 at 1/s
    let (status, _) = put(
        &api,
        "/inner/settings",
        SECRET,
        json!({"send_rate_per_sec": 1.0, "send_burst": 3}),
    )
    .await;
    assert_eq!(status, 200);
    let group = api.create_group(&pat, &["quinn"]).await;
    let mut accepted = 0;
    let mut limited = None;
    for i in 0..6 {
        let response = api
            .http
            .post(format!("{}/send_msg", api.base))
            .bearer_auth(&pat)
            .json(&json!({"conversation_id": group, "content": format!("{i}")}))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => accepted += 1,
            429 => {
                let retry_after = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap();
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["code"], 10008);
                limited.get_or_insert(retry_after);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(accepted, 3, "exactly the burst passes");
    assert!(limited.is_some_and(|s| s >= 1), "429 with Retry-After");
    let mut ws = api.ws(&pat).await;
    let reply = ws
        .request("msg-im", json!({"convId": group, "msgContent": "ws too"}))
        .await;
    assert_eq!(reply["code"], 10008, "the WebSocket gets an error frame");
    herald.stop().await;
}

/// Passwords, app secrets and tokens never appear in the logs of a full run (debug level).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let env = vec![
        ("HERALD_DATA_DIR", dir.path().join("data").display().to_string()),
        ("HERALD_HTTP_ADDR", addr.to_string()),
        ("HERALD_LOG", "debug".to_owned()),
    ];
    let mut herald = Process::spawn("logged", "up", &env, dir.path());
    wait_healthy(addr).await;
    let api = Api::new(addr);
    let console_password = "console-password-4815162342";
    let user_password = "user-password-1123581321";
    let guessed_bearer = "not-a-token-but-a-guess-271828";
    let guessed_secret = "wrong-secret-guess-000";
    // every step must do what it does in production, or the log never sees the secret at all
    let (status, _) = api
        .post(
            "/console/reg",
            "",
            json!({"email": "ops@example.com", "password": console_password, "nick": "ops"}),
        )
        .await;
    assert_eq!(status, 200, "console registration");
    let (status, login) = api
        .post(
            "/console/login",
            "",
            json!({"email": "ops@example.com", "password": console_password}),
        )
        .await;
    assert_eq!(status, 200, "console login");
    let console = login["data"]["token"].as_str().unwrap().to_owned();
    let (status, org) = api.post("/console/org", &console, json!({"name": "o"})).await;
    assert_eq!(status, 200, "org");
    let (status, app) = api
        .post(
            "/console/app",
            &console,
            json!({"orgId": org["data"]["orgId"], "name": "a"}),
        )
        .await;
    assert_eq!(status, 200, "app");
    let app_secret = app["data"]["secret"].as_str().unwrap().to_owned();
    let (status, rotated) = api
        .post(
            &format!("/console/app/{}/rotate_secret", app["data"]["appId"].as_str().unwrap()),
            &console,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "rotation");
    let rotated = rotated["data"]["secret"].as_str().unwrap().to_owned();
    let (status, _) = put(&api, "/inner/settings", SECRET, json!({"end_user_accounts": true})).await;
    assert_eq!(status, 200);
    let (status, _) = api
        .post(
            "/user/register",
            "",
            json!({"user_name": "logged", "password": user_password}),
        )
        .await;
    assert_eq!(status, 200, "account registration");
    let (status, login) = api
        .post(
            "/user/login",
            "",
            json!({"user_name": "logged", "password": user_password}),
        )
        .await;
    assert_eq!(status, 200, "account login");
    let token = login["data"]["token"].as_str().unwrap().to_owned();
    let client = api.token("someone", 1).await;
    let conv = api.create_group(&token, &["someone"]).await;
    let (status, _) = api
        .post(
            "/send_msg",
            &token,
            json!({"conversation_id": conv, "type": 1, "content": "hello", "client_msg_id": "k1"}),
        )
        .await;
    assert_eq!(status, 200, "send");
    let (status, _) = api
        .post(
            "/send_msg",
            guessed_bearer,
            json!({"conversation_id": conv, "type": 1, "content": "x"}),
        )
        .await;
    assert_eq!(status, 401, "a guessed bearer is refused");
    let (status, _) = api
        .post("/inner/get_token", guessed_secret, json!({"session": "x"}))
        .await;
    assert_eq!(status, 401, "a guessed app secret is refused");
    let mut ws = api.ws(&client).await;
    let pong = ws.request("ping", json!({})).await;
    assert_eq!(pong["status"], "ok", "{pong}");
    let (status, _) = api.post("/user/logout", &token, json!({})).await;
    assert_eq!(status, 200, "logout");
    herald.kill9();
    let log = std::fs::read_to_string(dir.path().join("logged.log")).unwrap();
    assert!(log.len() > 1000, "the run logged at debug level ({} bytes)", log.len());
    for (what, secret) in [
        ("console password", console_password),
        ("user password", user_password),
        ("app secret", app_secret.as_str()),
        ("rotated secret", rotated.as_str()),
        ("bootstrap secret", SECRET),
        ("console token", console.as_str()),
        ("client token", token.as_str()),
        ("another client token", client.as_str()),
        ("guessed secret", guessed_secret),
        ("guessed bearer", guessed_bearer),
    ] {
        assert!(!log.contains(secret), "the {what} appears in the logs");
    }
}

on_both_buses!(tenants_are_isolated);

on_both_buses!(anti_spam_and_rate_limit_count_exactly);
