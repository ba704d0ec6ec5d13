//! Sessions exchange messages over real WebSockets; every connection of every member gets
//! every message in `Seq` order; concurrent senders see one order everywhere.

use crate::support::{BusKind, Herald, WsClient};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Collects `count` message pushes from a client.
async fn receive(client: &mut WsClient, count: usize) -> Vec<Value> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        got.push(client.next_message().await);
    }
    got
}

fn seqs(messages: &[Value]) -> Vec<u64> {
    messages.iter().map(|m| m["Seq"].as_u64().unwrap()).collect()
}

async fn one_to_one(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let alice_token = api.token("alice", 3).await;
    let bob_token = api.token("bob", 1).await;
    let (status, body) = api
        .post(
            "/create_conversation",
            &alice_token,
            json!({"kind": "single", "sessions": ["bob"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let conv = body["data"]["ConversationId"].as_str().unwrap().to_owned();
    let (_, again) = api
        .post(
            "/create_conversation",
            &bob_token,
            json!({"kind": "single", "sessions": ["alice"]}),
        )
        .await;
    assert_eq!(
        again["data"]["ConversationId"],
        json!(conv),
        "a pair has one single conversation"
    );

    let mut alice = api.ws(&alice_token).await;
    let mut bob = api.ws(&bob_token).await;
    for round in 0..5 {
        let (sender, receiver, from) = if round % 2 == 0 {
            (&mut alice, &mut bob, "alice")
        } else {
            (&mut bob, &mut alice, "bob")
        };
        let reply = sender
            .request("msg-im", json!({"convId": conv, "msgKey": format!("k{round}"), "msgType": "text", "msgContent": format!("hello {round}")}))
            .await;
        assert_eq!(reply["status"], "ok", "{reply}");
        assert_eq!(reply["data"]["Seq"], json!(round + 1));
        let msg_id = reply["data"]["MsgId"].as_str().expect("MsgId is a string").to_owned();
        let got = receiver.next_message().await;
        assert_eq!(got["MsgId"], json!(msg_id));
        assert_eq!(got["FromSession"], json!(from));
        assert_eq!(got["Content"], json!(format!("hello {round}")));
        assert_eq!(got["ClientMsgId"], json!(format!("k{round}")));
        // the sender's own connection gets the push too
        assert_eq!(sender.next_message().await["MsgId"], json!(msg_id));
    }
    let (status, history) = api
        .post(
            "/get_conversation_last_30_msg",
            &bob_token,
            json!({"conversation_id": conv}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(seqs(history["data"]["Msg"].as_array().unwrap()), vec![1, 2, 3, 4, 5]);
    herald.stop().await;
}

on_both_buses!(one_to_one);

/// Five members, one of them on two devices (a `/ws` and a `/notify` connection): every
/// connection receives every message, in `Seq` order; senders get `MsgID` and `Seq`.
async fn group_of_five(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let names = ["m1", "m2", "m3", "m4", "m5"];
    let mut tokens = HashMap::new();
    for name in names {
        tokens.insert(name, api.token(name, 2).await);
    }
    let conv = api.create_group(&tokens["m1"], &names[1..]).await;
    let mut clients = Vec::new();
    for name in names {
        clients.push((name, api.ws(&tokens[name]).await));
    }
    let second_device_token = api.token("m3", 3).await;
    let mut second_device = api.notify_ws(&second_device_token).await;

    let mut sent = Vec::new();
    for i in 0..20 {
        let sender = i % names.len();
        let (status, body) = api
            .post(
                "/send_msg",
                &tokens[names[sender]],
                json!({"conversation_id": conv, "type": 1, "content": format!("msg {i}")}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["data"]["MsgID"].is_string(), "{body}");
        assert_eq!(body["data"]["Seq"], json!(i + 1));
        sent.push(body["data"]["MsgID"].as_str().unwrap().to_owned());
    }
    let expected_seqs: Vec<u64> = (1..=20).collect();
    for (name, client) in clients.iter_mut() {
        let got = receive(client, 20).await;
        assert_eq!(seqs(&got), expected_seqs, "{name} sees every message in order");
        let ids: Vec<&str> = got.iter().map(|m| m["MsgId"].as_str().unwrap()).collect();
        assert_eq!(ids, sent.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let got = receive(&mut second_device, 20).await;
    assert_eq!(seqs(&got), expected_seqs, "the second device of m3 sees everything too");
    herald.stop().await;
}

on_both_buses!(group_of_five);

/// Eight senders at once into one conversation: `Seq` gapless, one order at every receiver.
async fn eight_concurrent_senders(kind: BusKind) {
    const PER_SENDER: usize = 50;
    let herald = Herald::start(kind).await;
    let api = herald.api();
    api.unlimited_sends().await;
    let names: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    let mut tokens = Vec::new();
    for name in &names {
        tokens.push(api.token(name, 1).await);
    }
    let others: Vec<&str> = names[1..].iter().map(String::as_str).collect();
    let conv = api.create_group(&tokens[0], &others).await;
    let mut receivers = Vec::new();
    for token in &tokens {
        receivers.push(api.ws(token).await);
    }
    let mut senders = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let mut client = api.ws(token).await;
        let conv = conv.clone();
        senders.push(tokio::spawn(async move {
            // pipelined: every request sent before any reply is awaited
            let mut pending = Vec::new();
            for n in 0..PER_SENDER {
                pending.push(
                    client
                        .send_request("msg-im", json!({"convId": conv, "msgKey": format!("{i}-{n}"), "msgType": 1, "msgContent": format!("{i}:{n}")}))
                        .await,
                );
            }
            let mut acked = 0;
            while acked < PER_SENDER {
                let frame = client.next().await;
                if frame.get("reqId").is_some() {
                    assert_eq!(frame["status"], "ok", "{frame}");
                    acked += 1;
                }
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let total = PER_SENDER * names.len();
    let mut orders = Vec::new();
    for receiver in receivers.iter_mut() {
        let got = receive(receiver, total).await;
        assert_eq!(seqs(&got), (1..=total as u64).collect::<Vec<_>>(), "gapless, in order");
        orders.push(
            got.iter()
                .map(|m| m["MsgId"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
        );
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "every receiver sees the same order"
    );
    let log = crate::support::stored_log(herald.data_dir.path(), &conv).await;
    assert_eq!(log.len(), total, "the store holds each message once");
    herald.stop().await;
}

on_both_buses!(eight_concurrent_senders);

async fn errors_use_the_envelope(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let token = api.token("alice", 1).await;
    let other = api.token("mallory", 1).await;
    let conv = api.create_group(&token, &["bob"]).await;
    let cases = [
        (
            "/send_msg",
            "not-a-token".to_owned(),
            json!({"conversation_id": conv, "content": "x"}),
            401,
            10101,
        ),
        (
            "/inner/get_token",
            "wrong-secret".to_owned(),
            json!({"session": "x"}),
            401,
            10101,
        ),
        (
            "/send_msg",
            other.clone(),
            json!({"conversation_id": conv, "content": "x"}),
            403,
            10004,
        ),
        (
            "/send_msg",
            token.clone(),
            json!({"conversation_id": "nope", "content": "x"}),
            404,
            10005,
        ),
        ("/send_msg", token.clone(), json!({"conversation_id": conv}), 400, 10001),
        (
            "/send_msg",
            token.clone(),
            json!({"conversation_id": conv, "content": "x".repeat(40_000)}),
            413,
            10007,
        ),
        (
            "/get_conversation_last_30_msg",
            other.clone(),
            json!({"conversation_id": conv}),
            403,
            10004,
        ),
        (
            "/inner/create_conversation",
            crate::support::SECRET.to_owned(),
            json!({"conversation_type": 1, "sessions": []}),
            400,
            90011,
        ),
        (
            "/create_conversation",
            token.clone(),
            json!({"conversation_type": "x"}),
            400,
            90010,
        ),
    ];
    for (path, bearer, body, status, code) in cases {
        let (got_status, got) = api.post(path, &bearer, body.clone()).await;
        assert_eq!(
            (got_status, got["code"].as_u64()),
            (status, Some(code)),
            "{path} {body}: {got}"
        );
        assert!(got["error"].is_string() && got.get("data").is_none(), "{got}");
    }
    let oversize = api
        .http
        .post(format!("{}/send_msg", api.base))
        .bearer_auth(&token)
        .body("x".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(oversize.status().as_u16(), 413);
    let bad_protoc = api
        .http
        .get(format!("{}/notify?protoc=carrier-pigeon&token={token}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_protoc.status().as_u16(), 400);
    assert_eq!(bad_protoc.json::<Value>().await.unwrap()["code"], 90013);

    let mut ws = api.ws(&token).await;
    ws.send_frame(json!("not an object")).await;
    let reply = ws.next().await;
    assert_eq!(
        (reply["status"].as_str(), reply["code"].as_u64()),
        (Some("error"), Some(10001)),
        "{reply}"
    );
    let reply = ws.request("no-such-action", json!({})).await;
    assert_eq!(reply["code"], 10001);
    let reply = ws
        .request(
            "msg-im",
            json!({"convId": conv, "msgContent": "x", "msgType": "hologram"}),
        )
        .await;
    assert_eq!(reply["code"], 10001);
    let reply = ws.request("ping", json!({})).await;
    assert_eq!(reply["data"], "pong", "the connection still works after bad frames");
    herald.stop().await;
}

on_both_buses!(errors_use_the_envelope);
