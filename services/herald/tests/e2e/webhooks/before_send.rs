//! The before-send hook: allow, reject, replace; no answer in time, refused or allowed as the
//! app chose; never asked twice for one idempotent retry.

use super::{HOOK_ARGS, accepted};
use crate::support::{BusKind, Herald, Receiver, SECRET};
use serde_json::{Value, json};
use std::time::Duration;

async fn set_hook(api: &crate::support::Api, hook: Value) {
    let response = api
        .http
        .put(format!("{}/inner/settings", api.base))
        .bearer_auth(SECRET)
        .json(&json!({"before_send": hook, "send_rate_per_sec": 0}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
}

async fn send(api: &crate::support::Api, token: &str, conv: &str, key: &str, content: &str) -> (u16, Value) {
    api.post(
        "/send_msg",
        token,
        json!({"conversation_id": conv, "type": 1, "content": content, "client_msg_id": key}),
    )
    .await
}

async fn the_hook_allows_rejects_and_replaces(kind: BusKind) {
    let herald = Herald::start_with(kind, HOOK_ARGS).await;
    let api = herald.api();
    let hook = Receiver::start().await;
    hook.answer_with(|asked| {
        let content = asked["data"]["Content"].as_str().unwrap_or_default();
        let answer = if content.contains("spam") {
            json!({"action": "reject", "reason": "looks like spam"})
        } else if content.contains("darn") {
            json!({"action": "replace", "content": content.replace("darn", "****")})
        } else if content.contains("slow") {
            return (200, json!({"action": "allow"}).to_string(), Duration::from_millis(1500));
        } else {
            json!({"action": "allow"})
        };
        (200, answer.to_string(), Duration::ZERO)
    });
    set_hook(&api, json!({"url": hook.url, "timeout_ms": 500})).await;
    let alice = api.token("alice", 1).await;
    let conv = api.create_group(&alice, &["bob"]).await;

    let (status, body) = send(&api, &alice, &conv, "k1", "hello").await;
    assert_eq!(status, 200, "allowed: {body}");
    let (status, body) = send(&api, &alice, &conv, "k2", "buy spam now").await;
    assert_eq!((status, &body["code"]), (403, &json!(10011)), "{body}");
    assert!(body["error"].as_str().unwrap().contains("looks like spam"), "{body}");
    let (status, body) = send(&api, &alice, &conv, "k3", "darn it").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(&api, &alice, &conv, "k4", "slow one").await;
    assert_eq!(
        (status, &body["code"]),
        (503, &json!(10010)),
        "no answer in time, fail closed: {body}"
    );
    let (status, history) = api
        .post(
            "/get_conversation_last_30_msg",
            &alice,
            json!({"conversation_id": conv, "desc": false}),
        )
        .await;
    assert_eq!(status, 200);
    let contents: Vec<&str> = history["data"]["Msg"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        vec!["hello", "**** it"],
        "the rejected and the unanswered are not stored"
    );
    let asked = hook.received();
    assert_eq!(asked[0].body["type"], "message.before_send");
    assert_eq!(asked[0].body["data"]["FromSession"], "alice");
    assert_eq!(asked[0].body["data"]["ClientMsgId"], "k1");

    // a retry of a stored message is not asked again
    let before = hook.received().len();
    let (status, body) = send(&api, &alice, &conv, "k1", "hello").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(hook.received().len(), before, "the hook is not asked twice for one key");

    // fail open: no answer in time allows
    set_hook(&api, json!({"url": hook.url, "timeout_ms": 500, "fail_open": true})).await;
    let (status, body) = send(&api, &alice, &conv, "k5", "slow but open").await;
    assert_eq!(status, 200, "{body}");
    // off again
    set_hook(&api, Value::Null).await;
    let before = hook.received().len();
    let (status, _) = send(&api, &alice, &conv, "k6", "spam unchecked").await;
    assert_eq!(status, 200);
    assert_eq!(hook.received().len(), before);
    herald.stop().await;
}
on_both_buses!(the_hook_allows_rejects_and_replaces);

/// A hook's request is signed with the app's first endpoint's secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_request_is_signed() {
    let herald = Herald::start_with(BusKind::Embedded, HOOK_ARGS).await;
    let api = herald.api();
    let events = Receiver::start().await;
    let (_, secret) = super::register(&api, &events, &["message.created"]).await;
    let hook = Receiver::start().await;
    hook.answer_with(|_| (200, json!({"action": "allow"}).to_string(), Duration::ZERO));
    set_hook(&api, json!({"url": hook.url})).await;
    let alice = api.token("alice", 1).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    let (status, _) = send(&api, &alice, &conv, "k1", "hi").await;
    assert_eq!(status, 200);
    let asked = hook.received();
    assert!(super::signed(&asked[0], &secret), "{:?}", asked[0]);
    accepted(&events, 1, |_| true).await;
    herald.stop().await;
}
