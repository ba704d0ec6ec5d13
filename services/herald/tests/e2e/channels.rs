//! The push channels of protocol §3 (ws, sse, poll), multi-device delivery across gateways,
//! and the `kick` login policy.

use crate::support::{Api, BusKind, Herald, SECRET, SseReader};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

async fn send(api: &Api, token: &str, conv: &str, content: &str) -> String {
    let (status, body) = api
        .post(
            "/send_msg",
            token,
            json!({"conversation_id": conv, "content": content, "type": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["MsgID"].as_str().unwrap().to_owned()
}

async fn sse_channel(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let alice = api.token("alice", 1).await;
    let bob = api.token("bob", 3).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    let mut stream = SseReader::open(&api, &bob).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(send(&api, &alice, &conv, &format!("sse {i}")).await);
    }
    for (i, id) in sent.iter().enumerate() {
        let event = stream.next().await;
        assert_eq!(event.event.as_deref(), Some("message"));
        assert_eq!(event.id.as_deref(), Some(id.as_str()), "id: is the MsgId");
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(
            (data["Seq"].as_u64(), data["MsgId"].as_str()),
            (Some(i as u64 + 1), Some(id.as_str()))
        );
    }
    herald.stop().await;
}

on_both_buses!(sse_channel);

async fn poll(api: &Api, token: &str, query: &str) -> (u16, Value, Option<String>) {
    let response = api
        .http
        .get(format!("{}/notify?protoc=poll&token={token}{query}", api.base))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let dropped = response
        .headers()
        .get("x-herald-dropped")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = if status == 204 {
        assert!(response.bytes().await.unwrap().is_empty(), "204 has no body");
        Value::Null
    } else {
        response.json().await.unwrap()
    };
    (status, body, dropped)
}

async fn long_poll(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let alice = api.token("alice", 1).await;
    let bob = api.token("bob", 2).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    // the first poll opens the mailbox and times out empty
    let started = Instant::now();
    let (status, _, _) = poll(&api, &bob, "&wait=1").await;
    assert_eq!(status, 204);
    assert!(started.elapsed() >= Duration::from_millis(900), "waited for events");
    // events between polls are kept, and come in batches capped by `max`
    for i in 0..7 {
        send(&api, &alice, &conv, &format!("poll {i}")).await;
    }
    let mut seqs = Vec::new();
    crate::support::eventually_seqs(&mut seqs, 7, || async {
        let (status, body, _) = poll(&api, &bob, "&wait=2&max=3").await;
        assert!(status == 200 || status == 204);
        if status == 200 {
            assert_eq!(body["code"], 0);
            let batch = body["data"].as_array().unwrap();
            assert!(!batch.is_empty() && batch.len() <= 3, "max caps the batch");
            batch.iter().map(|m| m["Seq"].as_u64().unwrap()).collect()
        } else {
            Vec::new()
        }
    })
    .await;
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    // a waiting poll answers as soon as something arrives
    let waiter = tokio::spawn({
        let (api, bob) = (api.clone(), bob.clone());
        async move { poll(&api, &bob, "&wait=30").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    send(&api, &alice, &conv, "wake up").await;
    let (status, body, _) = waiter.await.unwrap();
    assert_eq!((status, body["data"][0]["Content"].as_str()), (200, Some("wake up")));
    assert!(started.elapsed() < Duration::from_secs(10));
    let response = api
        .http
        .get(format!("{}/notify?protoc=poll&wait=61&token={bob}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400, "wait is 1-60");
    herald.stop().await;
}

on_both_buses!(long_poll);

/// One session on several platforms and protocols at once, on two gateways: each connection
/// receives everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_device_across_gateways_nats() {
    let herald = Herald::start(BusKind::Nats).await;
    let second = herald.second_gateway().await;
    let api_a = herald.api();
    let api_b = Api::new(second.addr);
    let alice = api_a.token("alice", 1).await;
    let conv = api_a.create_group(&alice, &["bob"]).await;
    let mut ios = api_a.ws(&api_a.token("bob", 1).await).await;
    let mut web = api_b.notify_ws(&api_b.token("bob", 3).await).await;
    let mut desktop = SseReader::open(&api_b, &api_b.token("bob", 4).await).await;
    let mut alice_other_device = api_b.ws(&api_b.token("alice", 2).await).await;
    for i in 0..10 {
        send(&api_a, &alice, &conv, &format!("m{i}")).await;
    }
    for i in 1..=10u64 {
        assert_eq!(ios.next_message().await["Seq"], i);
        assert_eq!(web.next_message().await["Seq"], i);
        let event: Value = serde_json::from_str(&desktop.next().await.data).unwrap();
        assert_eq!(event["Seq"], i);
        assert_eq!(
            alice_other_device.next_message().await["Seq"],
            i,
            "the sender's other devices too"
        );
    }
    second.stop().await;
    herald.stop().await;
}

/// With login policy `kick`, a second connection of the same (session, platform) closes the
/// first after a kickout push; another platform is left alone.
async fn kick_policy(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let (status, body) = api.post("/inner/settings", SECRET, json!({})).await;
    assert_eq!(status, 404, "settings are GET/PUT: {body}");
    let response = api
        .http
        .put(format!("{}/inner/settings", api.base))
        .bearer_auth(SECRET)
        .json(&json!({"login_policy": "kick"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let bad = api
        .http
        .put(format!("{}/inner/settings", api.base))
        .bearer_auth(SECRET)
        .json(&json!({"login_policy": "sometimes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let settings: Value = api
        .http
        .get(format!("{}/inner/settings", api.base))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["data"]["login_policy"], "kick");

    let mut phone = api.ws(&api.token("carol", 1).await).await;
    let mut laptop = api.ws(&api.token("carol", 4).await).await;
    assert_eq!(phone.request("ping", json!({})).await["data"], "pong");
    let mut new_phone = api.ws(&api.token("carol", 1).await).await;
    let kickout = phone.next_push("kickout").await;
    assert_eq!(kickout["data"]["platform"], 1);
    let closed = loop {
        match phone.next_raw().await {
            Some(Message::Close(frame)) => break frame,
            None => panic!("closed without a close frame"),
            _ => continue,
        }
    };
    assert_eq!(u16::from(closed.expect("close frame").code), 4001);
    assert_eq!(
        new_phone.request("ping", json!({})).await["data"],
        "pong",
        "the new connection stays"
    );
    assert_eq!(
        laptop.request("ping", json!({})).await["data"],
        "pong",
        "another platform stays"
    );
    herald.stop().await;
}

on_both_buses!(kick_policy);
