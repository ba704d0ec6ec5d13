//! Events reach the app's endpoints: every type, signed, in order per conversation, at least
//! once through a receiver's outage, each event id accepted once; dead letters and replay;
//! destinations checked.

use super::{accepted, herald, register, signed};
use crate::support::{BusKind, Herald, Receiver, SECRET};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

async fn every_event_type_arrives_signed_and_in_order(kind: BusKind) {
    let herald = herald(kind).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let (_, secret) = register(
        &api,
        &receiver,
        &[
            "message.created",
            "message.recalled",
            "conversation.created",
            "members.changed",
            "conversation.archived",
            "friend.requested",
            "friend.accepted",
            "offline_push",
        ],
    )
    .await;
    let alice = api.token("alice", 1).await;
    let mut alice_ws = api.ws(&alice).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (id, _) = api
            .send_until_acked(&alice, &conv, &format!("k{i}"), &format!("m{i}"))
            .await;
        ids.push(id);
    }
    let recall = alice_ws
        .request(
            "msg-delete",
            json!({"convId": conv, "msgId": ids[0], "forEveryone": true}),
        )
        .await;
    assert_eq!(recall["status"], "ok", "{recall}");
    let invite = alice_ws
        .request("conv-inviteLinks", json!({"convId": conv, "linkKeys": ["carol"]}))
        .await;
    assert_eq!(invite["status"], "ok", "{invite}");
    let (status, body) = api
        .post(
            "/inner/set_archive_conversations",
            SECRET,
            json!({"conversation_ids": [conv], "is_archive": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // bob connects (to answer alice) only once the offline pushes naming him went out
    accepted(&receiver, 5, |b| b["type"] == "offline_push").await;
    let request = alice_ws.request("friend-request", json!({"linkKey": "bob"})).await;
    assert_eq!(request["status"], "ok", "{request}");
    let mut bob_ws = api.ws(&api.token("bob", 1).await).await;
    let accept = bob_ws
        .request("friend-respond", json!({"linkKey": "alice", "accept": true}))
        .await;
    assert_eq!(accept["status"], "ok", "{accept}");

    // 1 created + 5 messages + 5 offline pushes (bob had no connection) + recall + members + archive + 2 friends
    let all = accepted(&receiver, 16, |_| true).await;
    for received in &all {
        assert!(signed(received, &secret), "signed: {}", received.raw);
        assert_eq!(
            received.event_id, received.body["id"],
            "the header names the body's event"
        );
        assert_eq!(received.body["app"], "default");
        assert!(received.body["created_at"].is_string());
    }
    let of = |kind: &str| -> Vec<Value> {
        all.iter()
            .filter(|r| r.body["type"] == kind)
            .map(|r| r.body.clone())
            .collect()
    };
    let created = of("conversation.created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"]["ConversationID"], conv.as_str());
    let messages = of("message.created");
    let seqs: Vec<u64> = messages.iter().map(|m| m["data"]["Seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5], "in Seq order");
    assert_eq!(messages[2]["data"]["Content"], "m2");
    assert_eq!(messages[2]["data"]["ConversationID"], conv.as_str());
    let offline = of("offline_push");
    assert_eq!(offline.len(), 5);
    assert_eq!(
        offline[0]["data"]["recipients"],
        json!(["bob"]),
        "alice was connected, bob was not"
    );
    assert_eq!(offline[0]["data"]["message"]["Seq"], 1);
    let recalled = of("message.recalled");
    assert_eq!(recalled[0]["data"]["MsgId"], ids[0].as_str());
    assert_eq!(of("members.changed")[0]["data"]["added"], json!(["carol"]));
    assert_eq!(of("conversation.archived")[0]["data"]["archived"], true);
    assert_eq!(of("friend.requested")[0]["data"]["from"], "alice");
    assert_eq!(of("friend.accepted")[0]["data"]["to"], "bob");
    // a conversation's events in log order: the creation first, the archive last
    let in_conv: Vec<&Value> = all
        .iter()
        .map(|r| &r.body)
        .filter(|b| {
            b["data"]["ConversationID"] == conv.as_str() || b["data"]["message"]["ConversationID"] == conv.as_str()
        })
        .collect();
    assert_eq!(in_conv.first().unwrap()["type"], "conversation.created");
    assert_eq!(in_conv.last().unwrap()["type"], "conversation.archived");
    herald.stop().await;
}
on_both_buses!(every_event_type_arrives_signed_and_in_order);

async fn a_receiver_that_fails_for_a_while_gets_everything_once(kind: BusKind) {
    let herald = herald(kind).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.answer_with(|_| (503, "down".into(), Duration::ZERO));
    register(&api, &receiver, &["message.created"]).await;
    let alice = api.token("alice", 1).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    for i in 0..10 {
        api.send_until_acked(&alice, &conv, &format!("k{i}"), &format!("m{i}"))
            .await;
    }
    // the outage: the first events are tried and refused
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    while receiver.received().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt reached the receiver"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.answer_with(|_| (200, String::new(), Duration::ZERO));
    let got = accepted(&receiver, 10, |_| true).await;
    let seqs: Vec<u64> = got.iter().map(|r| r.body["data"]["Seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "in order, after the outage");
    // nothing accepted is sent again
    let barrier = api.send_until_acked(&alice, &conv, "k-last", "last").await;
    let all = accepted(&receiver, 11, |_| true).await;
    assert_eq!(all.last().unwrap().body["data"]["MsgId"], barrier.0.as_str());
    let ids: HashSet<&String> = all.iter().map(|r| &r.event_id).collect();
    assert_eq!(ids.len(), all.len(), "each event id accepted once");
    herald.stop().await;
}
on_both_buses!(a_receiver_that_fails_for_a_while_gets_everything_once);

async fn given_up_events_are_dead_letters_and_replay_sends_them(kind: BusKind) {
    let mut args = super::HOOK_ARGS.to_vec();
    args.extend(["--webhook-give-up-secs", "1"]);
    let herald = Herald::start_with(kind, &args).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.answer_with(|_| (500, String::new(), Duration::ZERO));
    let (id, _) = register(&api, &receiver, &["message.created"]).await;
    let alice = api.token("alice", 1).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    let (msg_id, _) = api.send_until_acked(&alice, &conv, "k1", "doomed").await;
    let dead_url = format!("{}/inner/webhooks/{id}/dead_letters", api.base);
    let dead = loop {
        let body: Value = api
            .http
            .get(&dead_url)
            .bearer_auth(SECRET)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = body["data"].as_array().cloned().unwrap_or_default();
        if !list.is_empty() {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dead[0]["type"], "message.created");
    assert_eq!(dead[0]["event"]["data"]["MsgId"], msg_id.as_str());
    assert!(dead[0]["attempts"].as_u64().unwrap() >= 1);
    receiver.answer_with(|_| (200, String::new(), Duration::ZERO));
    let (status, body) = api
        .post(&format!("/inner/webhooks/{id}/replay"), SECRET, json!({}))
        .await;
    assert_eq!((status, &body["data"]["replayed"]), (200, &json!(1)), "{body}");
    let got = accepted(&receiver, 1, |_| true).await;
    assert_eq!(got[0].body["data"]["MsgId"], msg_id.as_str());
    herald.stop().await;
}
on_both_buses!(given_up_events_are_dead_letters_and_replay_sends_them);

/// Without `HERALD_WEBHOOK_ALLOW_PRIVATE`, an endpoint or hook on a loopback or private
/// address is refused when it is registered; the routes check their input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_checked_and_secrets_never_listed() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    for (body, why) in [
        (
            json!({"url": "http://127.0.0.1:9/hook", "events": ["message.created"]}),
            "private",
        ),
        (
            json!({"url": "http://169.254.169.254/", "events": ["message.created"]}),
            "private",
        ),
        (
            json!({"url": "https://hooks.example.com/h", "events": []}),
            "at least one",
        ),
        (
            json!({"url": "https://hooks.example.com/h", "events": ["message.exploded"]}),
            "unknown event type",
        ),
        (
            json!({"url": "gopher://hooks.example.com/h", "events": ["message.created"]}),
            "http or https",
        ),
    ] {
        let (status, answer) = api.post("/inner/webhooks", SECRET, body.clone()).await;
        assert_eq!((status, &answer["code"]), (400, &json!(10001)), "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(why), "{body}: {answer}");
    }
    let hook = json!({"before_send": {"url": "http://10.0.0.1/moderate"}});
    let response = api
        .http
        .put(format!("{}/inner/settings", api.base))
        .bearer_auth(SECRET)
        .json(&hook)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400, "a private before-send hook is refused");

    let (status, made) = api
        .post(
            "/inner/webhooks",
            SECRET,
            json!({"url": "https://hooks.example.com/h", "events": ["message.created"]}),
        )
        .await;
    assert_eq!(status, 200, "{made}");
    let secret = made["data"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = made["data"]["id"].as_str().unwrap().to_owned();
    let listed: Value = api
        .http
        .get(format!("{}/inner/webhooks", api.base))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains(&secret), "the secret is never listed");
    let (status, rotated) = api
        .post(&format!("/inner/webhooks/{id}/rotate_secret"), SECRET, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_ne!(rotated["data"]["secret"].as_str().unwrap(), secret);
    let (status, _) = api.post("/inner/webhooks/nope/rotate_secret", SECRET, json!({})).await;
    assert_eq!(status, 404);
    let deleted = api
        .http
        .delete(format!("{}/inner/webhooks/{id}", api.base))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    let (status, _) = api
        .post(
            "/inner/webhooks",
            "not-the-secret",
            json!({"url": "https://a.example/h", "events": ["message.created"]}),
        )
        .await;
    assert_eq!(status, 401);
    herald.stop().await;
}

async fn presence_and_an_offline_invite_reach_the_endpoints_that_ask(kind: BusKind) {
    let herald = herald(kind).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    register(&api, &receiver, &["presence.changed", "offline_push"]).await;
    let mut alice = api.ws(&api.token("alice", 1).await).await;
    let bob = api.ws(&api.token("bob", 1).await).await;
    drop(bob);
    let bob_changes = accepted(&receiver, 2, |b| b["data"]["session"] == "bob").await;
    let states: Vec<&Value> = bob_changes.iter().map(|r| &r.body["data"]["online"]).collect();
    assert_eq!(
        states,
        vec![&json!(true), &json!(false)],
        "online, then offline, in order"
    );
    assert_eq!(bob_changes[0].body["type"], "presence.changed");

    let invite = alice
        .request(
            "signal",
            json!({"to": ["carol"], "kind": "invite", "callId": "call-9", "data": {"video": true}}),
        )
        .await;
    assert_eq!(invite["status"], "ok", "{invite}");
    let pushed = accepted(&receiver, 1, |b| b["type"] == "offline_push").await;
    let data = &pushed[0].body["data"];
    assert_eq!(data["recipients"], json!(["carol"]));
    assert_eq!(data["signal"]["kind"], "invite");
    assert_eq!(data["signal"]["callId"], "call-9");
    assert_eq!(data["signal"]["from"], "alice");
    assert!(data.get("message").is_none(), "a call invite, not a message: {data}");
    herald.stop().await;
}
on_both_buses!(presence_and_an_offline_invite_reach_the_endpoints_that_ask);
