//! Every HTTP route of protocol §4 through a real HTTP client, with the error cases it names.

use crate::support::{Api, BusKind, Herald, SECRET};
use serde_json::{Value, json};

async fn send(api: &Api, token: &str, conv: &str, content: &str) -> (String, u64) {
    let (status, body) = api
        .post(
            "/send_msg",
            token,
            json!({"conversation_id": conv, "type": 1, "content": content}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (
        body["data"]["MsgID"].as_str().unwrap().to_owned(),
        body["data"]["Seq"].as_u64().unwrap(),
    )
}

fn seqs(body: &Value) -> Vec<u64> {
    body["data"]["Msg"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Seq"].as_u64().unwrap())
        .collect()
}

async fn conversation_routes(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let alice = api.token("alice", 1).await;
    let bob = api.token("bob", 1).await;
    let carol = api.token("carol", 1).await;
    let conv = api.create_group(&alice, &["bob"]).await;

    let (_, joined) = api
        .post("/check_joined_conversation", &bob, json!({"conversation_id": conv}))
        .await;
    assert_eq!(joined["data"]["Joined"], true);
    let (_, joined) = api
        .post("/check_joined_conversation", &carol, json!({"conversation_id": conv}))
        .await;
    assert_eq!(joined["data"]["Joined"], false);

    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(send(&api, &alice, &conv, &format!("m{i}")).await.0);
    }
    // bob has read nothing: 40 unread; alice has read what she sent
    let (_, list) = api.post("/get_joined_conversation", &bob, json!({})).await;
    let entry = &list["data"]["Conversations"][0];
    assert_eq!(
        (entry["ConversationID"].as_str(), entry["UnreadNum"].as_u64()),
        (Some(conv.as_str()), Some(40)),
        "{list}"
    );
    assert_eq!(entry["LastMsg"]["Seq"], 40);
    let (_, list) = api.post("/get_joined_conversation", &alice, json!({})).await;
    assert_eq!(list["data"]["Conversations"][0]["UnreadNum"], 0);

    let (status, detail) = api
        .post("/get_conversation_detail", &bob, json!({"conversation_id": conv}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(detail["data"]["LastMsgID"], json!(ids[39]));
    assert_eq!(detail["data"]["LastSendSession"], "alice");
    assert_eq!(detail["data"]["IsArchive"], false);
    assert!(detail["data"]["LastSendTime"].as_str().unwrap().ends_with('Z'));
    let (status, _) = api
        .post("/get_conversation_detail", &carol, json!({"conversation_id": conv}))
        .await;
    assert_eq!(status, 403);

    let (_, last) = api
        .post("/get_lastone_msgid", &bob, json!({"conversation_id": conv}))
        .await;
    assert_eq!(last["data"]["MsgId"], json!(ids[39]));
    let (_, one) = api
        .post(
            "/get_conversation_lastone_msg",
            &bob,
            json!({"conversation_id": conv, "desc": true}),
        )
        .await;
    assert_eq!(seqs(&one), vec![40]);
    let (_, last30) = api
        .post(
            "/get_conversation_last_30_msg",
            &bob,
            json!({"conversation_id": conv, "desc": true}),
        )
        .await;
    assert_eq!(seqs(&last30), (11..=40).rev().collect::<Vec<_>>(), "desc: newest first");
    let (_, last30) = api
        .post("/get_conversation_last_30_msg", &bob, json!({"conversation_id": conv}))
        .await;
    assert_eq!(seqs(&last30), (11..=40).collect::<Vec<_>>(), "oldest first by default");

    let (_, range) = api
        .post(
            "/get_conversation_msg_by_range",
            &bob,
            json!({"conversation_id": conv, "start_msg_id": ids[4], "end_msg_id": ids[9], "desc": false}),
        )
        .await;
    assert_eq!(seqs(&range), (5..=10).collect::<Vec<_>>(), "inclusive range");
    let (_, before) = api
        .post(
            "/get_conversation_30msg_before_the_id",
            &bob,
            json!({"conversation_id": conv, "msg_id": ids[34], "desc": false}),
        )
        .await;
    assert_eq!(
        seqs(&before),
        (5..=34).collect::<Vec<_>>(),
        "the 30 before, excluding it"
    );
    let (_, after) = api
        .post(
            "/get_conversation_30msg_after_the_id",
            &bob,
            json!({"conversation_id": conv, "msg_id": ids[4], "desc": true}),
        )
        .await;
    assert_eq!(
        seqs(&after),
        (6..=35).rev().collect::<Vec<_>>(),
        "the 30 after, excluding it"
    );
    let (status, body) = api
        .post(
            "/get_conversation_30msg_after_the_id",
            &bob,
            json!({"conversation_id": conv, "msg_id": "12345"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (404, Some(10005)),
        "unknown message id"
    );

    // join: open conversations only
    let (status, body) = api
        .post("/join_conversation", &carol, json!({"conversation_id": conv}))
        .await;
    assert_eq!(
        (status, body["data"]["ConversationId"].as_str()),
        (200, Some(conv.as_str())),
        "{body}"
    );
    let (status, _) = api
        .post(
            "/get_conversation_last_30_msg",
            &carol,
            json!({"conversation_id": conv}),
        )
        .await;
    assert_eq!(status, 200, "a member can read");
    let (status, _) = api
        .post("/leave_conversation", &carol, json!({"conversation_id": conv}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .post(
            "/get_conversation_last_30_msg",
            &carol,
            json!({"conversation_id": conv}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (403, Some(10004)),
        "left: no more reading"
    );
    let (status, body) = api
        .post("/join_conversation", &carol, json!({"conversation_id": "no-such-conv"}))
        .await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10005)));
    let (_, closed) = api
        .post(
            "/create_conversation",
            &alice,
            json!({"conversation_type": 2, "sessions": ["bob"], "open": false}),
        )
        .await;
    let closed = closed["data"]["ConversationId"].as_str().unwrap().to_owned();
    let (status, body) = api
        .post("/join_conversation", &carol, json!({"conversation_id": closed}))
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (403, Some(10004)),
        "closed conversation"
    );
    let (_, single) = api
        .post(
            "/create_conversation",
            &alice,
            json!({"kind": "single", "sessions": ["bob"]}),
        )
        .await;
    let single = single["data"]["ConversationId"].as_str().unwrap().to_owned();
    let (status, _) = api
        .post("/join_conversation", &carol, json!({"conversation_id": single}))
        .await;
    assert_eq!(status, 403, "a single conversation is never open");
    herald.stop().await;
}

on_both_buses!(conversation_routes);

async fn inner_routes(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let (status, body) = api
        .post(
            "/inner/create_conversation",
            SECRET,
            json!({"conversation_type": 7, "sessions": ["u1", "u2"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let conv = body["data"]["ConversationId"].as_str().unwrap().to_owned();
    let u1 = api.token("u1", 1).await;
    let u3 = api.token("u3", 1).await;
    let (status, _) = api
        .post("/join_conversation", &u3, json!({"conversation_id": conv}))
        .await;
    assert_eq!(status, 403, "inner conversations are closed unless opened");
    let (status, _) = api
        .post(
            "/inner/join_conversation",
            SECRET,
            json!({"conversation_id": conv, "sessions": ["u3"]}),
        )
        .await;
    assert_eq!(status, 200);
    send(&api, &u3, &conv, "u3 is in").await;

    let (status, _) = api
        .post(
            "/inner/kickout_conversation",
            SECRET,
            json!({"conversation_id": conv, "sessions": ["u3"]}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .post("/send_msg", &u3, json!({"conversation_id": conv, "content": "x"}))
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (403, Some(10004)),
        "kicked: no more sending"
    );
    let (status, _) = api
        .post("/get_conversation_last_30_msg", &u3, json!({"conversation_id": conv}))
        .await;
    assert_eq!(status, 403, "kicked: no more reading");

    let (status, body) = api
        .post(
            "/inner/set_archive_conversations",
            SECRET,
            json!({"conversation_ids": [conv], "is_archive": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("data").is_none() || body["data"].is_null());
    let (status, body) = api
        .post("/send_msg", &u1, json!({"conversation_id": conv, "content": "x"}))
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (409, Some(10006)),
        "archived refuses new messages"
    );
    let (_, detail) = api
        .post("/get_conversation_detail", &u1, json!({"conversation_id": conv}))
        .await;
    assert_eq!(detail["data"]["IsArchive"], true);
    api.post(
        "/inner/set_archive_conversations",
        SECRET,
        json!({"conversation_ids": [conv], "is_archive": false}),
    )
    .await;
    send(&api, &u1, &conv, "unarchived").await;

    let (status, body) = api
        .post(
            "/inner/set_archive_conversations",
            SECRET,
            json!({"conversation_ids": ["nope"], "is_archive": true}),
        )
        .await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10005)));
    let (status, body) = api
        .post(
            "/inner/kickout_conversation",
            SECRET,
            json!({"conversation_id": conv, "sessions": []}),
        )
        .await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(90011)));
    let (status, _) = api
        .post(
            "/inner/kickout_conversation",
            &u1,
            json!({"conversation_id": conv, "sessions": ["u2"]}),
        )
        .await;
    assert_eq!(status, 401, "a client token is not an app secret");
    herald.stop().await;
}

on_both_buses!(inner_routes);
