//! Accounts, tenancy and anti-spam (protocol §1, §6); friends and presence are in `presence.rs`.

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

pub(crate) async fn put(api: &Api, path: &str, bearer: &str, body: Value) -> (u16, Value) {
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
pub(crate) async fn tenant(api: &Api, name: &str) -> (String, String, String, String) {
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

on_both_buses!(tenants_are_isolated);

on_both_buses!(anti_spam_and_rate_limit_count_exactly);
