//! Private and group messages between `/im/connect` and native `/ws` clients, both ways: the
//! ack after storage, the message frames, retried keys (the catch-up is in `catch_up.rs`).

use super::{assert_message_frame, chat, inner_group, relax_limits, single, stored, stored_at};
use crate::support::{BusKind, Herald, ImClient};
use serde_json::{Value, json};

/// The ack's fields, exactly: `{"ack":1,"msg_code":1005,"msg_id","msg_client_id","seq"}`.
pub(super) fn assert_ack(ack: &Value, msg_client_id: Value, seq: u64) -> String {
    let msg_id = ack["msg_id"]
        .as_str()
        .unwrap_or_else(|| panic!("msg_id is a string: {ack}"));
    assert_eq!(
        ack,
        &json!({"ack": 1, "msg_code": 1005, "msg_id": msg_id, "msg_client_id": msg_client_id, "seq": seq}),
        "the ack"
    );
    msg_id.to_owned()
}

async fn ping_is_answered(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let mut client = ImClient::connect(&api, &api.token("ann", 3).await).await;
    client.send(json!({"msg_code": 1004})).await;
    assert_eq!(client.next().await, json!({"msg_code": 1004, "message": "ping"}));
    herald.stop().await;
}

on_both_buses!(ping_is_answered);

/// A private message from a seed 002 client: the ack comes after the append, echoes
/// `msg_client_id` in its own type; the peer's native connection gets the §5 push; the
/// sender's other 002 connection gets the 200 frame, the sending connection does not.
async fn private_from_im_to_native(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let ann_token = api.token("ann", 3).await;
    let ben_token = api.token("ben", 1).await;
    let conv = single(&api, &ann_token, "ben").await;
    let mut sender = ImClient::connect(&api, &ann_token).await;
    let mut other = ImClient::connect(&api, &api.token("ann", 2).await).await;
    let mut ben = api.ws(&ben_token).await;

    sender.send(chat(json!(11), json!("ben"), 1, "hello ben")).await;
    let ack = sender.next_code(1005).await;
    let first = assert_ack(&ack, json!(11), 1);
    assert!(stored_at(&herald, &conv, &first, 1).await, "acked only once stored");
    sender.send(chat(json!("c-2"), json!("ben"), 1, "a string key")).await;
    let ack = sender.next_code(1005).await;
    let second = assert_ack(&ack, json!("c-2"), 2);
    assert!(stored_at(&herald, &conv, &second, 2).await, "acked only once stored");

    for (msg_id, seq, content) in [(&first, 1, "hello ben"), (&second, 2, "a string key")] {
        let push = ben.next_message().await;
        assert_eq!(
            (&push["MsgId"], &push["Seq"], &push["FromSession"], &push["Content"]),
            (&json!(msg_id), &json!(seq), &json!("ann"), &json!(content)),
            "{push}"
        );
        assert_eq!(push["ConversationID"], json!(conv));
    }
    for (msg_id, key, seq, content) in [
        (&first, json!(11), 1, "hello ben"),
        (&second, json!("c-2"), 2, "a string key"),
    ] {
        let frame = other.next_code(200).await;
        assert_message_frame(
            &frame,
            json!({"msg_id": msg_id, "msg_client_id": key, "msg_code": 200, "form_id": "ann",
                "to_id": "ben", "msg_type": 1, "channel_type": 1, "message": content, "data": "",
                "seq": seq}),
            &["msg_client_id"],
        );
    }
    // barrier: ben's answer is pushed to the sending connection after every earlier message
    // of the conversation (pushes come in Seq order), so a 200 frame for 1 or 2 would precede it
    let reply = ben
        .request(
            "msg-im",
            json!({"convId": conv, "msgKey": "b1", "msgType": "text", "msgContent": "hi ann"}),
        )
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let answer = sender.next_code(200).await;
    assert_eq!(
        (&answer["seq"], &answer["message"]),
        (&json!(3), &json!("hi ann")),
        "{answer}"
    );
    assert!(
        sender.waiting().iter().all(|frame| frame["msg_code"] != 200),
        "the sending connection gets no frame of its own messages: {:?}",
        sender.waiting()
    );
    herald.stop().await;
}

on_both_buses!(private_from_im_to_native);

/// A native client's messages in the single conversation reach the 002 client as 200 frames,
/// in Seq order.
async fn private_from_native_to_im(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let ann_token = api.token("ann", 3).await;
    let ben_token = api.token("ben", 1).await;
    let conv = single(&api, &ben_token, "ann").await;
    let mut ann = ImClient::connect(&api, &ann_token).await;
    let mut ben = api.ws(&ben_token).await;
    let mut sent = Vec::new();
    for i in 1..=3 {
        let reply = ben
            .request(
                "msg-im",
                json!({"convId": conv, "msgKey": format!("k{i}"), "msgType": 1, "msgContent": format!("m{i}")}),
            )
            .await;
        assert_eq!(reply["status"], "ok", "{reply}");
        sent.push(reply["data"]["MsgId"].as_str().unwrap().to_owned());
    }
    for (i, msg_id) in sent.iter().enumerate() {
        let seq = i + 1;
        let frame = ann.next_code(200).await;
        assert_message_frame(
            &frame,
            json!({"msg_id": msg_id, "msg_client_id": format!("k{seq}"), "msg_code": 200,
                "form_id": "ben", "to_id": "ann", "msg_type": 1, "channel_type": 1,
                "message": format!("m{seq}"), "data": "", "seq": seq}),
            &[],
        );
    }
    herald.stop().await;
}

on_both_buses!(private_from_native_to_im);

/// A group (channel_type 2, `to_id` the conversation): every member's 002 and native
/// connections get it, both ways; a non-member's send is a 500 frame and stores nothing.
async fn group_messages(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let conv = inner_group(&api, &["gia", "hal", "ivy"]).await;
    let mut gia = ImClient::connect(&api, &api.token("gia", 1).await).await;
    let mut hal_native = api.ws(&api.token("hal", 1).await).await;
    let mut hal_im = ImClient::connect(&api, &api.token("hal", 2).await).await;
    let mut ivy = ImClient::connect(&api, &api.token("ivy", 3).await).await;
    let mut zed = ImClient::connect(&api, &api.token("zed", 3).await).await;

    gia.send(chat(json!("g1"), json!(conv), 2, "hello group")).await;
    let msg_id = assert_ack(&gia.next_code(1005).await, json!("g1"), 1);
    assert!(stored_at(&herald, &conv, &msg_id, 1).await, "acked only once stored");
    let push = hal_native.next_message().await;
    assert_eq!(
        (
            &push["MsgId"],
            &push["Seq"],
            &push["FromSession"],
            &push["ConversationID"]
        ),
        (&json!(msg_id), &json!(1), &json!("gia"), &json!(conv)),
        "{push}"
    );
    let expected = json!({"msg_id": msg_id, "msg_client_id": "g1", "msg_code": 200,
        "form_id": "gia", "to_id": conv, "msg_type": 1, "channel_type": 2,
        "message": "hello group", "data": "", "seq": 1});
    assert_message_frame(&hal_im.next_code(200).await, expected.clone(), &[]);
    assert_message_frame(&ivy.next_code(200).await, expected, &[]);

    let reply = hal_native
        .request(
            "msg-im",
            json!({"convId": conv, "msgKey": "h1", "msgType": 1, "msgContent": "hi all"}),
        )
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let expected = json!({"msg_id": reply["data"]["MsgId"], "msg_client_id": "h1", "msg_code": 200,
        "form_id": "hal", "to_id": conv, "msg_type": 1, "channel_type": 2,
        "message": "hi all", "data": "", "seq": 2});
    assert_message_frame(&gia.next_code(200).await, expected.clone(), &[]);
    assert_message_frame(&ivy.next_code(200).await, expected.clone(), &[]);
    assert_message_frame(&hal_im.next_code(200).await, expected, &[]);

    zed.send(chat(json!("z1"), json!(conv), 2, "let me in")).await;
    let refused = zed.next().await;
    assert_eq!(refused["msg_code"], 500, "{refused}");
    assert!(refused["message"].is_string(), "{refused}");
    assert_eq!(stored(&herald, &conv).await, 2, "a non-member's message is not stored");
    // barrier: a member's next message is the next frame the members get, nothing of zed's
    // before it
    gia.send(chat(json!("g2"), json!(conv), 2, "after zed")).await;
    assert_ack(&gia.next_code(1005).await, json!("g2"), 3);
    let next = ivy.next().await;
    assert_eq!((&next["seq"], &next["form_id"]), (&json!(3), &json!("gia")), "{next}");
    herald.stop().await;
}

on_both_buses!(group_messages);

/// The same `msg_client_id` twice: one message; both acks carry its `msg_id` and `seq`.
async fn retried_msg_client_id(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let ann_token = api.token("ann", 3).await;
    let conv = single(&api, &ann_token, "ben").await;
    let mut ann = ImClient::connect(&api, &ann_token).await;
    for key in [json!(77), json!("k-78")] {
        let frame = chat(key.clone(), json!("ben"), 1, "only once");
        ann.send(frame.clone()).await;
        let first = ann.next_code(1005).await;
        ann.send(frame).await;
        let again = ann.next_code(1005).await;
        assert_eq!(first, again, "a retry is answered with the first ack");
        assert_eq!(first["msg_client_id"], key);
    }
    assert_eq!(stored(&herald, &conv).await, 2, "one message per key");
    herald.stop().await;
}

on_both_buses!(retried_msg_client_id);

/// A connection's own sends do not come back to it, but another device's message that happens
/// to use the same `msg_client_id` in another conversation is a different message: it comes.
async fn same_key_in_another_conversation_still_pushed(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let ann_token = api.token("ann", 3).await;
    let mut desktop = ImClient::connect(&api, &api.token("ann", 4).await).await;
    let mut phone = ImClient::connect(&api, &api.token("ann", 2).await).await;
    desktop.send(chat(json!(5), json!("ben"), 1, "to ben")).await;
    desktop.next_code(1005).await;
    phone.send(chat(json!(5), json!("cal"), 1, "to cal")).await;
    let msg_id = assert_ack(&phone.next_code(1005).await, json!(5), 1);
    let frame = desktop.next_matching(|f| f["message"] == "to cal").await;
    assert_eq!(
        (&frame["msg_id"], &frame["to_id"]),
        (&json!(msg_id), &json!("cal")),
        "{frame}"
    );

    let conv = single(&api, &ann_token, "dan").await;
    let mut native = api.ws(&ann_token).await;
    let reply = native
        .request(
            "msg-im",
            json!({"convId": conv, "msgKey": "5", "msgType": 1, "msgContent": "to dan"}),
        )
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let frame = desktop.next_matching(|f| f["message"] == "to dan").await;
    assert_eq!(frame["msg_id"], reply["data"]["MsgId"], "{frame}");
    herald.stop().await;
}

on_both_buses!(same_key_in_another_conversation_still_pushed);

/// A chat frame's `data` is not stored (a Herald message is its type and content, protocol §3):
/// the message arrives, and its frame says `"data": ""` rather than something the sender did
/// not send, as the README's "Clients of Im-Services" says.
async fn a_frame_s_data_is_not_stored_and_the_message_arrives(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let mut ann = ImClient::connect(&api, &api.token("ann", 3).await).await;
    let mut ben = ImClient::connect(&api, &api.token("ben", 1).await).await;
    for (key, data) in [("d1", json!("https://example.com/a.png")), ("d2", json!(7))] {
        let mut frame = chat(json!(key), json!("ben"), 1, "with data");
        frame["data"] = data.clone();
        ann.send(frame).await;
        ann.next_code(1005).await;
        let got = ben.next_code(200).await;
        assert_eq!(
            (&got["msg_client_id"], &got["message"], &got["data"]),
            (&json!(key), &json!("with data"), &json!("")),
            "{got}"
        );
    }
    herald.stop().await;
}

on_both_buses!(a_frame_s_data_is_not_stored_and_the_message_arrives);
