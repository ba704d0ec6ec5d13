//! Every `/ws` action of protocol §5 through real WebSocket clients, on both buses.

use crate::support::{BusKind, Herald};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn ok(reply: &Value) -> &Value {
    assert_eq!(reply["status"], "ok", "{reply}");
    &reply["data"]
}

fn code(reply: &Value) -> u64 {
    assert_eq!(reply["status"], "error", "{reply}");
    reply["code"].as_u64().unwrap()
}

async fn messaging_actions(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let mut alice = api.ws(&api.token("alice", 1).await).await;
    let mut bob = api.ws(&api.token("bob", 1).await).await;
    let mut bob_desktop = api.ws(&api.token("bob", 4).await).await;

    let created = alice
        .request(
            "conv-create",
            json!({"convType": "multi", "convName": "team", "convAvt": "a.png", "linkKeys": ["bob"]}),
        )
        .await;
    let conv = ok(&created)["convId"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["convName"], "team");
    let mut ids = Vec::new();
    for i in 1..=10 {
        let reply = alice
            .request(
                "msg-im",
                json!({"convId": conv, "msgKey": format!("k{i}"), "msgType": 1, "msgContent": format!("hi {i}")}),
            )
            .await;
        ids.push(ok(&reply)["MsgId"].as_str().unwrap().to_owned());
    }
    let retry = alice
        .request(
            "msg-im",
            json!({"convId": conv, "msgKey": "k3", "msgType": 1, "msgContent": "again"}),
        )
        .await;
    assert_eq!(
        ok(&retry)["MsgId"],
        json!(ids[2]),
        "a retried msgKey answers the original"
    );
    assert_eq!(retry["data"]["Seq"], 3);

    // conv-list: unread and last message
    let list = bob.request("conv-list", json!({})).await;
    let entry = &ok(&list)[0];
    assert_eq!(
        (entry["convId"].as_str(), entry["unreadNum"].as_u64()),
        (Some(conv.as_str()), Some(10)),
        "{list}"
    );
    assert_eq!(entry["lastMsg"]["Seq"], 10);
    assert_eq!(entry["links"].as_array().unwrap().len(), 2);

    // msg-read moves the cursor; bob's other device hears of it
    let read = bob.request("msg-read", json!({"convId": conv, "seq": 7})).await;
    assert_eq!(
        (ok(&read)["seq"].as_u64(), read["data"]["unreadNum"].as_u64()),
        (Some(7), Some(3))
    );
    let pushed = bob_desktop.next_push("msg-read").await;
    assert_eq!(
        (pushed["data"]["convId"].as_str(), pushed["data"]["seq"].as_u64()),
        (Some(conv.as_str()), Some(7))
    );
    let read = bob.request("msg-read", json!({"convId": conv})).await;
    assert_eq!(ok(&read)["unreadNum"], 0, "default: read everything");

    // history by offset and by beforeSeq, newest first
    let page = bob
        .request("msg-listHistory", json!({"convId": conv, "limit": 3, "offset": 2}))
        .await;
    let seqs: Vec<u64> = ok(&page)["msgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![8, 7, 6]);
    let page = bob
        .request("msg-listHistory", json!({"convId": conv, "limit": 4, "beforeSeq": 3}))
        .await;
    let seqs: Vec<u64> = ok(&page)["msgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 1], "beforeSeq is exclusive");

    // delete for me: a tombstone for bob only
    let deleted = bob
        .request("msg-delete", json!({"convId": conv, "msgId": ids[0]}))
        .await;
    assert_eq!(ok(&deleted)["forEveryone"], false);
    let page = bob
        .request("msg-listHistory", json!({"convId": conv, "limit": 1, "beforeSeq": 2}))
        .await;
    let first = &ok(&page)["msgs"][0];
    assert_eq!(
        (
            first["Seq"].as_u64(),
            first["Status"].as_i64(),
            first["Content"].as_str()
        ),
        (Some(1), Some(1), Some(""))
    );
    let page = alice
        .request("msg-listHistory", json!({"convId": conv, "limit": 1, "beforeSeq": 2}))
        .await;
    assert_eq!(ok(&page)["msgs"][0]["Status"], 0, "others still see it");

    // recall for everyone: sender (or owner) only, pushed to every member
    let refused = bob
        .request(
            "msg-delete",
            json!({"convId": conv, "msgId": ids[1], "forEveryone": true}),
        )
        .await;
    assert_eq!(code(&refused), 10003);
    let recalled = alice
        .request(
            "msg-delete",
            json!({"convId": conv, "msgId": ids[1], "forEveryone": true}),
        )
        .await;
    ok(&recalled);
    let pushed = bob.next_push("msg-delete").await;
    assert_eq!(
        (pushed["data"]["msgId"].as_str(), pushed["data"]["seq"].as_u64()),
        (Some(ids[1].as_str()), Some(2))
    );
    let page = bob
        .request("msg-listHistory", json!({"convId": conv, "limit": 1, "beforeSeq": 3}))
        .await;
    let second = &ok(&page)["msgs"][0];
    assert_eq!(
        (
            second["Seq"].as_u64(),
            second["Status"].as_i64(),
            second["Content"].as_str()
        ),
        (Some(2), Some(2), Some(""))
    );

    // sync returns exactly what follows each lastSeq
    let synced = bob.request("sync", json!({"convs": {conv.clone(): 8}})).await;
    let entry = &ok(&synced)["convs"][&conv];
    let seqs: Vec<u64> = entry["msgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Seq"].as_u64().unwrap())
        .collect();
    assert_eq!((seqs, entry["hasMore"].as_bool()), (vec![9, 10], Some(false)));

    // errors keep the connection working
    assert_eq!(
        code(
            &bob.request("msg-im", json!({"convId": "nope", "msgContent": "x"}))
                .await
        ),
        10005
    );
    assert_eq!(code(&bob.request("msg-listHistory", json!({"convId": 5})).await), 10001);
    let mallory = api.token("mallory", 1).await;
    let mut mallory = api.ws(&mallory).await;
    assert_eq!(
        code(&mallory.request("msg-listHistory", json!({"convId": conv})).await),
        10004
    );
    assert_eq!(
        code(&mallory.request("sync", json!({"convs": {conv.clone(): 0}})).await),
        10004
    );
    mallory
        .send_frame(json!({"action": "ping", "reqId": "x", "linkKey": "alice"}))
        .await;
    assert_eq!(
        code(&mallory.next().await),
        10004,
        "a linkKey that is not the token's session is refused"
    );
    herald.stop().await;
}

on_both_buses!(messaging_actions);

async fn conversation_actions(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let mut owner = api.ws(&api.token("owner", 1).await).await;
    let mut member = api.ws(&api.token("member", 1).await).await;
    let mut guest = api.ws(&api.token("guest", 1).await).await;

    let single = owner
        .request("conv-create", json!({"convType": "single", "linkKeys": ["member"]}))
        .await;
    let again = member
        .request("conv-create", json!({"convType": "single", "linkKeys": ["owner"]}))
        .await;
    assert_eq!(
        ok(&single)["convId"],
        ok(&again)["convId"],
        "single: one conversation per pair"
    );

    let group = owner
        .request(
            "conv-create",
            json!({"convType": "multi", "convKey": "room-1", "convName": "g", "linkKeys": ["member"]}),
        )
        .await;
    assert_eq!(ok(&group)["convId"], "room-1", "convKey names the conversation");
    let conv = "room-1";
    // join / leave an open conversation
    ok(&guest.request("conv-join", json!({"convId": conv})).await);
    let added = member.next_push("conv-membersAdded").await;
    assert_eq!(added["data"]["linkKeys"], json!(["guest"]));
    ok(&guest.request("conv-leave", json!({"convId": conv})).await);
    assert_eq!(code(&guest.request("conv-leave", json!({"convId": conv})).await), 10004);
    // invite (members) and remove (owner only)
    ok(&member
        .request("conv-inviteLinks", json!({"convId": conv, "linkKeys": ["guest"]}))
        .await);
    assert_eq!(
        code(
            &member
                .request("conv-removeLinks", json!({"convId": conv, "linkKeys": ["guest"]}))
                .await
        ),
        10003
    );
    ok(&owner
        .request("conv-removeLinks", json!({"convId": conv, "linkKeys": ["guest"]}))
        .await);
    let removed = guest.next_push("conv-membersRemoved").await;
    assert_eq!(
        removed["data"]["linkKeys"],
        json!(["guest"]),
        "the removed session hears of it"
    );
    assert_eq!(
        code(
            &guest
                .request("msg-im", json!({"convId": conv, "msgContent": "x"}))
                .await
        ),
        10004
    );

    // conv-delete hides the conversation until a new message arrives
    ok(&owner
        .request("msg-im", json!({"convId": conv, "msgContent": "one"}))
        .await);
    ok(&member.request("conv-delete", json!({"convId": conv})).await);
    let listed = |list: &Value| list["data"].as_array().unwrap().iter().any(|c| c["convId"] == conv);
    assert!(
        !listed(&member.request("conv-list", json!({})).await),
        "hidden after delete"
    );
    ok(&owner
        .request("msg-im", json!({"convId": conv, "msgContent": "two"}))
        .await);
    assert!(
        listed(&member.request("conv-list", json!({})).await),
        "back after a new message"
    );

    // typing reaches the other members only
    ok(&owner.request("typing", json!({"convId": conv})).await);
    let typing = member.next_push("typing").await;
    assert_eq!(
        (typing["data"]["convId"].as_str(), typing["data"]["linkKey"].as_str()),
        (Some(conv), Some("owner"))
    );
    assert_eq!(code(&guest.request("typing", json!({"convId": conv})).await), 10004);
    // the sender and a non-member hear nothing of it: each is sent a friend request after the
    // typing, on the same path, and no typing push comes before it
    ok(&guest.request("friend-request", json!({"linkKey": "owner"})).await);
    ok(&owner.request("friend-request", json!({"linkKey": "guest"})).await);
    assert!(
        !pushes_before(&mut owner, "friend-request")
            .await
            .contains(&"typing".to_owned())
    );
    assert!(
        !pushes_before(&mut guest, "friend-request")
            .await
            .contains(&"typing".to_owned())
    );

    // typing is coalesced per session: a burst of 3 is pushed, the rest answered and dropped
    for _ in 0..6 {
        ok(&member.request("typing", json!({"convId": conv})).await);
    }
    ok(&member.request("friend-request", json!({"linkKey": "owner"})).await);
    let before = pushes_before(&mut owner, "friend-request").await;
    assert_eq!(before.iter().filter(|a| *a == "typing").count(), 3, "{before:?}");
    herald.stop().await;
}

/// Reads frames up to the first `until` push; returns the actions of the pushes before it.
async fn pushes_before(client: &mut crate::support::WsClient, until: &str) -> Vec<String> {
    let mut before = Vec::new();
    loop {
        let frame = client.next().await;
        if frame.get("reqId").is_some() {
            continue;
        }
        if frame["action"] == until {
            return before;
        }
        before.push(frame["action"].as_str().unwrap_or_default().to_owned());
    }
}

on_both_buses!(conversation_actions);

/// Chat rooms: live members only, nothing stored; with NATS, across two gateways.
async fn chat_rooms(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let second = if kind == BusKind::Nats {
        Some(herald.second_gateway().await)
    } else {
        None
    };
    let other_api = second
        .as_ref()
        .map(|r| crate::support::Api::new(r.addr))
        .unwrap_or_else(|| api.clone());
    let mut a = api.ws(&api.token("a", 1).await).await;
    let mut b = other_api.ws(&other_api.token("b", 1).await).await;
    let mut outsider = api.ws(&api.token("c", 1).await).await;

    ok(&a.request("chat-conv-join", json!({"convId": "lobby"})).await);
    ok(&b.request("chat-conv-join", json!({"convId": "lobby"})).await);
    let refused = outsider
        .request_with_data(
            "chat-msg-im",
            json!({"convId": "lobby", "msgKey": "k"}),
            json!({"msgType": 1, "content": "x"}),
        )
        .await;
    assert_eq!(code(&refused), 10004, "join first");
    // the second gateway's subscription may take a moment: resend until it hears
    let mut heard = None;
    for i in 0..50 {
        ok(&a
            .request_with_data(
                "chat-msg-im",
                json!({"convId": "lobby", "msgKey": format!("k{i}")}),
                json!({"msgType": "text", "content": "hello room"}),
            )
            .await);
        if let Ok(push) = tokio::time::timeout(Duration::from_millis(200), b.next_push("chat-msg-im")).await {
            heard = Some(push);
            break;
        }
    }
    let push = heard.expect("b hears the room");
    assert_eq!(
        (push["data"]["content"].as_str(), push["data"]["fromSession"].as_str()),
        (Some("hello room"), Some("a"))
    );
    // a fixed window: each room is forwarded by a task of its own, so no push to the outsider
    // is ordered after this one and could serve as a barrier
    assert!(
        outsider.is_quiet(Duration::from_millis(300)).await,
        "non-members hear nothing"
    );
    ok(&b.request("chat-conv-leave", json!({"convId": "lobby"})).await);
    while tokio::time::timeout(Duration::from_millis(100), b.next_push("chat-msg-im"))
        .await
        .is_ok()
    {}
    ok(&a
        .request_with_data(
            "chat-msg-im",
            json!({"convId": "lobby", "msgKey": "late"}),
            json!({"content": "after"}),
        )
        .await);
    // a fixed window, for the reason above; b's leave was answered before "late" was sent,
    // so a push of it would be a real fault, not a race
    assert!(b.is_quiet(Duration::from_millis(300)).await, "left: hears nothing");
    if let Some(second) = second {
        second.stop().await;
    }
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_rooms_embedded() {
    chat_rooms(BusKind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_rooms_across_gateways_nats() {
    chat_rooms(BusKind::Nats).await;
}

async fn messagepack_frames_get_messagepack_answers(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let token = api.token("packer", 1).await;
    let conv = api.create_group(&token, &[]).await;
    let mut ws = api.ws(&token).await;
    let request = json!({"action": "msg-im", "reqId": 9, "param": {"convId": conv, "msgKey": "m", "msgType": 1, "msgContent": "packed"}});
    ws.send_message(Message::Binary(rmp_serde::to_vec_named(&request).unwrap().into()))
        .await;
    let mut reply = None;
    let mut push = None;
    while reply.is_none() || push.is_none() {
        let Some(Message::Binary(bytes)) = ws.next_raw().await else {
            panic!("binary frames after a binary request")
        };
        let frame: Value = rmp_serde::from_slice(&bytes).unwrap();
        if frame.get("reqId").is_some() {
            reply = Some(frame)
        } else {
            push = Some(frame)
        }
    }
    assert_eq!(reply.unwrap()["data"]["Content"], "packed");
    assert_eq!(push.unwrap()["data"]["Seq"], 1);
    ws.send_message(Message::Binary(vec![0xc1, 0xff, 0x00].into())).await;
    let Some(Message::Binary(bytes)) = ws.next_raw().await else {
        panic!()
    };
    let error: Value = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(error["code"], 10001);
    herald.stop().await;
}

on_both_buses!(messagepack_frames_get_messagepack_answers);
