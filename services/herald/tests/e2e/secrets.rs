//! Secrets (app secrets, tokens, passwords) never reach the logs (protocol §6; README "Security").

use crate::accounts::put;
use crate::support::{Api, Process, SECRET, free_addr, wait_healthy};
use serde_json::json;

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
