//! gin-chat-demo's WebSocket (seed 003, contract §9) at `/chat/test`: a plain WebSocket client
//! speaking the seed's frames against native `/ws` and HTTP clients, over both buses.

use crate::accounts::put;
use crate::support::{Api, BusKind, Herald, SECRET, SeedClient};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// The soft frame limit (`herald_protocol::ws::MAX_FRAME_BYTES`).
const MAX_FRAME_BYTES: usize = 64 * 1024;

/// A client frame as the seed's document writes them.
fn frame(from: &str, to: &str, op_type: u64, content: &str) -> Value {
    json!({"from": from, "to": to, "type": 1, "op_type": op_type, "content": content})
}

/// Connects `token`'s session to `/chat/test` with `to_uid`, and checks the greeting comes first.
async fn open(api: &Api, token: &str, to_uid: &str) -> SeedClient {
    let mut client = SeedClient::connect(api, &format!("/chat/test?token={token}&to_uid={to_uid}"))
        .await
        .expect("/chat/test connects");
    let greeting = client.next().await;
    assert_eq!(
        (&greeting["from"], &greeting["op_type"]),
        (&json!("System"), &json!(40003)),
        "the greeting is the first frame: {greeting}"
    );
    client
}

/// Sends a private message and returns the sender's answer (40018, 40019 or 40020).
async fn say(client: &mut SeedClient, me: &str, to: &str, content: &str) -> Value {
    client.send(frame(me, to, 1, content)).await;
    let answer = client.next().await;
    assert!(
        matches!(answer["op_type"].as_u64(), Some(40018..=40020)),
        "a send's answer: {answer}"
    );
    answer
}

/// A request that always answers with one frame (mark-read of an unknown id: 40006): every frame
/// an earlier request produced arrives before it, so it proves the connection works and that
/// nothing else was on the way.
async fn barrier(client: &mut SeedClient, me: &str) {
    client.send(frame(me, "", 4, "1")).await;
    let answer = client.next().await;
    assert_eq!(answer["op_type"], 40006, "the barrier's answer comes next: {answer}");
}

/// The single conversation of the token's session and `other` (the pair has exactly one).
async fn single_conv(api: &Api, token: &str, other: &str) -> String {
    let (status, body) = api
        .post(
            "/create_conversation",
            token,
            json!({"kind": "single", "sessions": [other]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["ConversationId"].as_str().unwrap().to_owned()
}

/// The conversation's last 30 messages as `token`'s session sees them over HTTP, oldest first.
async fn stored(api: &Api, token: &str, conv: &str) -> Vec<Value> {
    let (status, body) = api
        .post(
            "/get_conversation_last_30_msg",
            token,
            json!({"conversation_id": conv, "desc": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["Msg"].as_array().unwrap().clone()
}

/// An HTTP send in the conversation; its `MsgID`.
async fn http_send(api: &Api, token: &str, conv: &str, text: &str) -> String {
    let (status, body) = api
        .post(
            "/send_msg",
            token,
            json!({"conversation_id": conv, "type": 1, "content": text}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["MsgID"].as_str().unwrap().to_owned()
}

/// Waits until presence says `session` is `online` (the adapter's 40018 / 40019 follow it).
async fn presence_is(api: &Api, session: &str, online: bool) {
    herald_testkit::eventually(Duration::from_secs(10), "presence settles", || async {
        let mut probe = api.ws(&api.token("probe", 1).await).await;
        let reply = probe.request("presence-query", json!({"linkKeys": [session]})).await;
        (reply["data"]["presence"][session] == online).then_some(())
    })
    .await;
}

/// A 40005 frame's `content`: `"<MsgId>\n<text>"`.
fn history_line(id: &str, text: &str) -> Value {
    json!(format!("{id}\n{text}"))
}

async fn connecting_needs_a_token_and_greets_first(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let response = api.http.get(format!("{}/ping", api.base)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.unwrap(), "ok");

    // seed 003 took the identity from `uid` in the query string: Herald takes it from a token only
    for path in [
        "/chat/test?uid=alice&to_uid=bob",
        "/chat/test?token=not-a-token&to_uid=bob",
    ] {
        match SeedClient::connect(&api, path).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "{path}")
            }
            Err(other) => panic!("{path}: {other}"),
            Ok(_) => panic!("{path}: a socket was opened without a valid token"),
        }
    }
    let token = api.token("alice", 3).await;
    let mut alice = open(&api, &token, "bob").await;
    barrier(&mut alice, "alice").await;
    herald.stop().await;
}

/// Seed 003 to native and back: the native member gets the §5 push in `Seq` order, the seed
/// sender its 40018 / 40019 once the message is stored, and native messages arrive as 40011.
async fn private_messages_with_a_native_client(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    api.unlimited_sends().await;
    // alice uses seed 003's own account routes, bob a token minted by the app's backend
    let (status, body) = put(&api, "/inner/settings", SECRET, json!({"end_user_accounts": true})).await;
    assert_eq!(status, 200, "{body}");
    let credentials = json!({"user_name": "alice", "password": "alice's password"});
    let (status, body) = api.post("/user/register", "", credentials.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.post("/user/login", "", credentials).await;
    assert_eq!(status, 200, "{body}");
    let alice_token = body["data"]["token"].as_str().unwrap().to_owned();
    let bob_token = api.token("bob", 1).await;
    let mut bob = api.ws(&bob_token).await;
    let mut alice = open(&api, &alice_token, "bob").await;
    presence_is(&api, "bob", true).await;

    let mut conv = None;
    for i in 1..=3u64 {
        let answer = say(&mut alice, "alice", "bob", &format!("k{i}\nhello {i}")).await;
        assert_eq!(
            (&answer["from"], &answer["to"], &answer["op_type"]),
            (&json!("System"), &json!("alice"), &json!(40018)),
            "bob is online: {answer}"
        );
        // acknowledged after storage: the message is in history when the answer arrives
        let conv = match &conv {
            Some(conv) => conv,
            None => conv.insert(single_conv(&api, &bob_token, "alice").await),
        };
        let history = stored(&api, &bob_token, conv).await;
        assert_eq!(history.len() as u64, i, "{history:?}");
        let last = &history[i as usize - 1];
        assert_eq!(last["Content"], json!(format!("hello {i}")), "the key is not content");
        assert_eq!(answer["content"], last["MsgId"], "the answer names the stored message");

        let push = bob.next_message().await;
        assert_eq!(
            (
                &push["Seq"],
                &push["FromSession"],
                &push["Content"],
                &push["ClientMsgId"]
            ),
            (
                &json!(i),
                &json!("alice"),
                &json!(format!("hello {i}")),
                &json!(format!("k{i}"))
            ),
            "{push}"
        );
        assert_eq!(push["MsgId"], last["MsgId"]);
    }
    let conv = conv.unwrap();

    // bob answers natively, in the pair's single conversation
    let created = bob
        .request("conv-create", json!({"convType": "single", "linkKeys": ["alice"]}))
        .await;
    assert_eq!(created["data"]["convId"], json!(conv), "{created}");
    for j in 1..=3 {
        let reply = bob
            .request(
                "msg-im",
                json!({"convId": conv, "msgKey": format!("b{j}"), "msgType": "text", "msgContent": format!("reply {j}")}),
            )
            .await;
        assert_eq!(reply["status"], "ok", "{reply}");
    }
    for j in 1..=3 {
        let got = alice.next_op(40011).await;
        assert_eq!(
            got,
            json!({"from": "bob", "to": "alice", "type": 1, "op_type": 40011, "content": format!("reply {j}")}),
            "in Seq order"
        );
    }

    // bob gone: the next message is stored all the same, answered with 40019
    drop(bob);
    presence_is(&api, "bob", false).await;
    let answer = say(&mut alice, "alice", "bob", "k4\nare you there?").await;
    assert_eq!(answer["op_type"], 40019, "bob is offline: {answer}");
    let history = stored(&api, &bob_token, &conv).await;
    assert_eq!(history.last().unwrap()["Content"], "are you there?");
    assert_eq!(history.len(), 7);
    herald.stop().await;
}

/// A retried `key\ntext` stores one message; a content without `\n` has no key, so two sends
/// are two messages.
async fn a_retried_message_key_stores_one_message(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    api.unlimited_sends().await;
    let token = api.token("alice", 3).await;
    let bob_token = api.token("bob", 1).await;
    let mut alice = open(&api, &token, "bob").await;
    let first = say(&mut alice, "alice", "bob", "same-key\nonly once").await;
    let again = say(&mut alice, "alice", "bob", "same-key\nonly once").await;
    assert_eq!(first["op_type"], 40019, "{first}");
    assert_eq!(again["op_type"], 40019, "a retry is answered as the first was: {again}");
    assert_eq!(again["content"], first["content"], "the same message");
    for _ in 0..2 {
        assert_eq!(say(&mut alice, "alice", "bob", "no key here").await["op_type"], 40019);
    }
    let conv = single_conv(&api, &bob_token, "alice").await;
    let contents: Vec<Value> = stored(&api, &bob_token, &conv)
        .await
        .iter()
        .map(|m| m["Content"].clone())
        .collect();
    assert_eq!(
        contents,
        vec![json!("only once"), json!("no key here"), json!("no key here")]
    );
    herald.stop().await;
}

/// `"skip-limit"` pages history oldest first, both senders' messages, as `"<MsgId>\n<text>"`.
async fn history_pages_oldest_first(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    api.unlimited_sends().await;
    let token = api.token("alice", 3).await;
    let bob_token = api.token("bob", 1).await;
    let mut alice = open(&api, &token, "bob").await;
    let mut lines = Vec::new();
    for i in 0..3 {
        let text = format!("alice {i}");
        let answer = say(&mut alice, "alice", "bob", &format!("a{i}\n{text}")).await;
        lines.push(("alice", "bob", answer["content"].as_str().unwrap().to_owned(), text));
    }
    let conv = single_conv(&api, &bob_token, "alice").await;
    for i in 0..2 {
        let text = format!("bob {i}");
        lines.push(("bob", "alice", http_send(&api, &bob_token, &conv, &text).await, text));
    }
    // bob's messages reach alice as 40011 first; they are not history frames
    for _ in 0..2 {
        alice.next_op(40011).await;
    }
    let expected = |range: std::ops::Range<usize>| -> Vec<Value> {
        lines[range]
            .iter()
            .map(|(from, to, id, text)| {
                json!({"from": from, "to": to, "type": 2, "op_type": 40005, "content": history_line(id, text)})
            })
            .collect()
    };
    for (page, range) in [("0-2", 0..2), ("2-5", 2..5), ("1-100", 1..5)] {
        alice.send(frame("alice", "bob", 2, page)).await;
        let mut got = Vec::new();
        for _ in range.clone() {
            got.push(alice.next().await);
        }
        assert_eq!(got, expected(range), "page {page}");
        barrier(&mut alice, "alice").await;
    }
    // past the end, and a skip no conversation could reach: no frames, the connection goes on
    for page in ["5-3", "18446744073709551615-3", "99999999999999999999999-3"] {
        alice.send(frame("alice", "bob", 2, page)).await;
        barrier(&mut alice, "alice").await;
    }
    for malformed in ["x-y", "3", "-1-2", "1-x", ""] {
        alice.send(frame("alice", "bob", 2, malformed)).await;
        let error = alice.next().await;
        assert_eq!(
            (&error["from"], &error["to"], &error["type"], &error["op_type"]),
            (&json!("System"), &json!("alice"), &json!(1), &json!(40000)),
            "{malformed:?}: {error}"
        );
        barrier(&mut alice, "alice").await;
    }
    herald.stop().await;
}

/// Unread is what `to` sent after the caller's read cursor; mark-read moves the cursor (the same
/// one the native routes show) and refuses ids that are not in the conversation.
async fn unread_and_mark_read(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    api.unlimited_sends().await;
    let token = api.token("alice", 3).await;
    let bob_token = api.token("bob", 1).await;
    let conv = single_conv(&api, &bob_token, "alice").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(http_send(&api, &bob_token, &conv, &format!("unread {i}")).await);
    }
    let group = api.create_group(&token, &["bob"]).await;
    let foreign = http_send(&api, &token, &group, "in a group").await;
    let unread_num = || async {
        let (_, body) = api.post("/get_joined_conversation", &token, json!({})).await;
        let conversations = body["data"]["Conversations"].as_array().unwrap().clone();
        let single = conversations
            .iter()
            .find(|c| c.to_string().contains(&conv))
            .expect("the single conversation is listed");
        single["UnreadNum"].as_u64().unwrap()
    };

    let mut alice = open(&api, &token, "bob").await;
    alice.send(frame("alice", "bob", 3, "")).await;
    for (i, id) in ids.iter().enumerate() {
        let got = alice.next().await;
        assert_eq!(got["op_type"], 40005, "{got}");
        assert_eq!(got["from"], "bob");
        assert_eq!(got["content"], history_line(id, &format!("unread {i}")));
    }
    alice.send(frame("alice", "", 4, &ids[1])).await;
    let marked = alice.next().await;
    assert_eq!(
        (&marked["from"], &marked["op_type"]),
        (&json!("System"), &json!(40007)),
        "{marked}"
    );
    assert_eq!(unread_num().await, 1, "the native read cursor moved");
    alice.send(frame("alice", "bob", 3, "")).await;
    assert_eq!(alice.next().await["content"], history_line(&ids[2], "unread 2"));
    alice.send(frame("alice", "", 4, &ids[2])).await;
    assert_eq!(alice.next().await["op_type"], 40007);
    assert_eq!(unread_num().await, 0);
    alice.send(frame("alice", "bob", 3, "")).await;
    barrier(&mut alice, "alice").await;

    // the caller's own messages are never unread
    assert_eq!(say(&mut alice, "alice", "bob", "mine\nmine").await["op_type"], 40019);
    alice.send(frame("alice", "bob", 3, "")).await;
    barrier(&mut alice, "alice").await;

    for refused in [foreign.as_str(), "123456789", "not an id"] {
        alice.send(frame("alice", "", 4, refused)).await;
        let failed = alice.next().await;
        assert_eq!(
            (&failed["from"], &failed["op_type"]),
            (&json!("System"), &json!(40006)),
            "{refused}: {failed}"
        );
    }
    herald.stop().await;
}

/// Delete is for the caller: a tombstone in the caller's history, the message intact for the peer.
async fn delete_is_for_the_caller_only(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    api.unlimited_sends().await;
    let token = api.token("alice", 3).await;
    let bob_token = api.token("bob", 1).await;
    let mut alice = open(&api, &token, "bob").await;
    let first = say(&mut alice, "alice", "bob", "d1\nregrettable").await["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = say(&mut alice, "alice", "bob", "d2\nfine").await["content"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.send(frame("alice", "", 5, &first)).await;
    let deleted = alice.next().await;
    assert_eq!(
        (&deleted["from"], &deleted["op_type"]),
        (&json!("System"), &json!(40013)),
        "{deleted}"
    );
    alice.send(frame("alice", "bob", 2, "0-10")).await;
    assert_eq!(
        alice.next().await["content"],
        history_line(&second, "fine"),
        "the deleted message is gone from the caller's history"
    );
    barrier(&mut alice, "alice").await;

    let conv = single_conv(&api, &bob_token, "alice").await;
    let mine = stored(&api, &token, &conv).await;
    assert_eq!(
        (&mine[0]["MsgId"], &mine[0]["Status"], &mine[0]["Content"]),
        (&json!(first), &json!(1), &json!("")),
        "a tombstone keeps its Seq"
    );
    let theirs = stored(&api, &bob_token, &conv).await;
    assert_eq!(
        (&theirs[0]["Status"], &theirs[0]["Content"]),
        (&json!(0), &json!("regrettable")),
        "bob still has it"
    );
    herald.stop().await;
}

/// History, unread, mark-read and delete with a peer the caller never talked to answer as an
/// empty conversation would (no frames; 40006; 40000) and create none: both native lists stay
/// empty. Only a send creates the pair's conversation.
async fn reads_with_a_stranger_create_no_conversation(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let token = api.token("alice", 3).await;
    let mut bob = api.ws(&api.token("bob", 1).await).await;
    let mut alice = open(&api, &token, "bob").await;
    let unknown = "123456789";

    alice.send(frame("alice", "bob", 2, "0-10")).await;
    alice.send(frame("alice", "bob", 3, "")).await;
    barrier(&mut alice, "alice").await;
    alice.send(frame("alice", "bob", 4, unknown)).await;
    let failed = alice.next().await;
    assert_eq!(
        (&failed["from"], &failed["op_type"]),
        (&json!("System"), &json!(40006)),
        "mark-read: {failed}"
    );
    alice.send(frame("alice", "bob", 5, unknown)).await;
    let refused = alice.next().await;
    assert_eq!(
        (&refused["from"], &refused["to"], &refused["op_type"]),
        (&json!("System"), &json!("alice"), &json!(40000)),
        "delete: {refused}"
    );
    barrier(&mut alice, "alice").await;

    let list = bob.request("conv-list", json!({})).await;
    assert_eq!(list["data"], json!([]), "bob's list stays empty: {list}");
    let mut alice_native = api.ws(&token).await;
    let list = alice_native.request("conv-list", json!({})).await;
    assert_eq!(list["data"], json!([]), "alice's list stays empty: {list}");
    herald.stop().await;
}

/// A console tenant's second app; its secret.
async fn second_app_secret(api: &Api) -> String {
    let account = json!({"email": "beta@example.com", "password": "correct horse", "nick": "beta"});
    assert_eq!(api.post("/console/reg", "", account.clone()).await.0, 200);
    let (_, login) = api.post("/console/login", "", account).await;
    let console = login["data"]["token"].as_str().unwrap().to_owned();
    let (_, org) = api.post("/console/org", &console, json!({"name": "beta inc"})).await;
    let (status, app) = api
        .post(
            "/console/app",
            &console,
            json!({"orgId": org["data"]["orgId"], "name": "beta app"}),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    app["data"]["secret"].as_str().unwrap().to_owned()
}

async fn other_app_token(api: &Api, secret: &str, session: &str) -> String {
    let (status, body) = api
        .post("/inner/get_token", secret, json!({"session": session, "platform": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_str().unwrap().to_owned()
}

/// Op 6 reaches the live members of the app's room ("ALL" by default, where every `/chat/test`
/// connection is; a native client joins it with `chat-conv-join`), stores nothing, and never
/// reaches a room of the same name in another app.
async fn room_broadcasts_reach_live_members_of_the_app(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let alice_token = api.token("alice", 3).await;
    let mut alice = open(&api, &alice_token, "bob").await;
    let mut bob = open(&api, &api.token("bob", 1).await, "alice").await;
    let mut carol = api.ws(&api.token("carol", 1).await).await;
    let mut dave = api.ws(&api.token("dave", 1).await).await;
    let joined = carol.request("chat-conv-join", json!({"convId": "ALL"})).await;
    assert_eq!(joined["status"], "ok", "{joined}");
    let joined = dave.request("chat-conv-join", json!({"convId": "lobby"})).await;
    assert_eq!(joined["status"], "ok", "{joined}");
    let secret = second_app_secret(&api).await;
    let mut erin = open(&api, &other_app_token(&api, &secret, "erin").await, "frank").await;
    let mut frank = api.ws(&other_app_token(&api, &secret, "frank").await).await;
    let joined = frank.request("chat-conv-join", json!({"convId": "lobby"})).await;
    assert_eq!(joined["status"], "ok", "{joined}");

    alice.send(frame("alice", "", 6, "hello everyone")).await;
    let expected = json!({"from": "alice", "to": "ALL", "type": 6, "op_type": 40011, "content": "hello everyone"});
    assert_eq!(bob.next().await, expected, "a live /chat/test connection hears ALL");
    assert_eq!(alice.next().await, expected, "the sender is in the room too");
    let push = carol.next_push("chat-msg-im").await;
    assert_eq!(
        (
            &push["data"]["convId"],
            &push["data"]["fromSession"],
            &push["data"]["content"]
        ),
        (&json!("ALL"), &json!("alice"), &json!("hello everyone")),
        "{push}"
    );

    alice.send(frame("alice", "lobby", 6, "lobby only")).await;
    let push = dave.next_push("chat-msg-im").await;
    assert_eq!(
        (&push["data"]["convId"], &push["data"]["content"]),
        (&json!("lobby"), &json!("lobby only"))
    );
    // a fixed window: each room is forwarded by a task of its own, so nothing another room or
    // app hears is ordered after these pushes and could serve as a barrier
    assert!(
        bob.is_quiet(Duration::from_millis(300)).await,
        "bob is not in the lobby"
    );
    assert!(
        erin.is_quiet(Duration::from_millis(300)).await,
        "another app's ALL hears nothing"
    );
    assert!(
        frank.is_quiet(Duration::from_millis(300)).await,
        "another app's lobby hears nothing"
    );

    let (status, body) = api.post("/get_joined_conversation", &alice_token, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["Conversations"], json!([]), "nothing stored: {body}");
    herald.stop().await;
}

/// With `spam_unanswered_limit: 2`, the third unanswered message is refused with 40020 and not
/// stored; once the peer answers, sending goes on.
async fn anti_spam_refuses_with_40020(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let (status, body) = put(
        &api,
        "/inner/settings",
        SECRET,
        json!({"spam_unanswered_limit": 2, "send_rate_per_sec": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = api.token("alice", 3).await;
    let bob_token = api.token("bob", 1).await;
    let mut alice = open(&api, &token, "bob").await;
    for i in 0..2 {
        assert_eq!(
            say(&mut alice, "alice", "bob", &format!("s{i}\nhello?")).await["op_type"],
            40019
        );
    }
    let refused = say(&mut alice, "alice", "bob", "s2\nhello??").await;
    assert_eq!(
        (&refused["from"], &refused["to"], &refused["op_type"]),
        (&json!("System"), &json!("alice"), &json!(40020)),
        "{refused}"
    );
    let conv = single_conv(&api, &bob_token, "alice").await;
    assert_eq!(stored(&api, &bob_token, &conv).await.len(), 2, "nothing stored");
    http_send(&api, &bob_token, &conv, "hi alice").await;
    assert_eq!(alice.next_op(40011).await["content"], "hi alice");
    assert_eq!(say(&mut alice, "alice", "bob", "s3\nat last").await["op_type"], 40019);
    herald.stop().await;
}

/// A frame whose `from` is another session is refused with 40000 and changes nothing.
async fn another_identity_is_refused(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let token = api.token("alice", 3).await;
    let bob_token = api.token("bob", 1).await;
    let conv = single_conv(&api, &bob_token, "alice").await;
    let bobs = http_send(&api, &bob_token, &conv, "bob's").await;
    let mut alice = open(&api, &token, "bob").await;
    for (op_type, content) in [(1, "m1\nforged"), (4, bobs.as_str()), (5, bobs.as_str()), (6, "forged")] {
        alice.send(frame("mallory", "bob", op_type, content)).await;
        // the push of bob's message may still arrive (delivery runs after his send was
        // answered): the refusal is the next 40000
        let refused = alice.next_op(40000).await;
        assert_eq!(
            (&refused["from"], &refused["to"], &refused["op_type"]),
            (&json!("System"), &json!("alice"), &json!(40000)),
            "op {op_type}: {refused}"
        );
    }
    let history = stored(&api, &token, &conv).await;
    assert_eq!(history.len(), 1, "nothing sent: {history:?}");
    assert_eq!(
        (&history[0]["Status"], &history[0]["Content"]),
        (&json!(0), &json!("bob's")),
        "nothing deleted"
    );
    let (_, body) = api.post("/get_joined_conversation", &token, json!({})).await;
    assert_eq!(body["data"]["Conversations"][0]["UnreadNum"], 1, "nothing marked read");
    // without `from`, or with the token's own session, the same frame is accepted
    let mut accepted = json!({"to": "bob", "type": 1, "op_type": 1, "content": "m2\nmine"});
    // (bob's push may still come first: each answer is the next 40019)
    alice.send(accepted.clone()).await;
    alice.next_op(40019).await;
    accepted["from"] = json!("alice");
    accepted["content"] = json!("m3\nmine too");
    alice.send(accepted).await;
    alice.next_op(40019).await;
    assert_eq!(stored(&api, &token, &conv).await.len(), 3);
    herald.stop().await;
}

/// Bad JSON, wrong types, unknown ops, binary and oversize frames each get a 40000 frame and the
/// connection goes on; invalid UTF-8 in a text frame gets 40000, then close 1007 (RFC 6455 §8.1,
/// as on `/ws`).
async fn malformed_frames_get_error_frames(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let token = api.token("alice", 3).await;
    let mut alice = open(&api, &token, "bob").await;
    let oversize = format!(
        "{{\"to\":\"bob\",\"type\":1,\"op_type\":1,\"content\":\"{}\"}}",
        "x".repeat(MAX_FRAME_BYTES)
    );
    let cases: Vec<(&str, Message)> = vec![
        ("bad JSON", Message::Text("{not json".into())),
        ("a bare value", Message::Text("[1, 2]".into())),
        (
            "op_type as a string",
            Message::Text(r#"{"to":"bob","type":1,"op_type":"1","content":"x"}"#.into()),
        ),
        (
            "content as a number",
            Message::Text(r#"{"to":"bob","type":1,"op_type":1,"content":5}"#.into()),
        ),
        ("no op_type", Message::Text(r#"{"to":"bob","content":"x"}"#.into())),
        (
            "an unknown op_type",
            Message::Text(r#"{"to":"bob","type":1,"op_type":99,"content":"x"}"#.into()),
        ),
        ("a binary frame", Message::Binary(vec![0x81, 0xa1, 0x61, 0x01].into())),
        (
            "invalid UTF-8 in a binary frame",
            Message::Binary(vec![0xff, 0xfe, 0xfd].into()),
        ),
        ("a frame over 64 KiB", Message::Text(oversize.into())),
    ];
    for (what, message) in cases {
        alice.send_message(message).await;
        let error = alice.next().await;
        assert_eq!(
            (&error["from"], &error["to"], &error["op_type"]),
            (&json!("System"), &json!("alice"), &json!(40000)),
            "{what}: {error}"
        );
        assert!(
            error["content"].as_str().is_some_and(|why| !why.is_empty()),
            "{what}: says why"
        );
        barrier(&mut alice, "alice").await;
    }
    // the error frame carries the frame's own type
    alice
        .send(json!({"to": "bob", "type": 3, "op_type": 99, "content": "x"}))
        .await;
    assert_eq!(alice.next().await["type"], 3);

    let mut broken = open(&api, &token, "bob").await;
    broken
        .send_message(Message::Frame(Frame::message(
            vec![0xff, 0xfe, 0xfd],
            OpCode::Data(Data::Text),
            true,
        )))
        .await;
    assert_eq!(broken.next().await["op_type"], 40000, "invalid UTF-8 is answered");
    match broken.next_raw().await {
        Some(Message::Close(Some(close))) => assert_eq!(u16::from(close.code), 1007),
        other => panic!("expected close 1007, got {other:?}"),
    }
    barrier(&mut alice, "alice").await;
    herald.stop().await;
}

on_both_buses!(connecting_needs_a_token_and_greets_first);
on_both_buses!(private_messages_with_a_native_client);
on_both_buses!(a_retried_message_key_stores_one_message);
on_both_buses!(history_pages_oldest_first);
on_both_buses!(unread_and_mark_read);
on_both_buses!(delete_is_for_the_caller_only);
on_both_buses!(room_broadcasts_reach_live_members_of_the_app);
on_both_buses!(anti_spam_refuses_with_40020);
on_both_buses!(reads_with_a_stranger_create_no_conversation);
on_both_buses!(another_identity_is_refused);
on_both_buses!(malformed_frames_get_error_frames);
