//! What `/im/connect` refuses: no token, a message to a non-friend when the app requires
//! friendship, a frame asserting another identity, malformed frames; each refusal changes
//! nothing and (but for invalid UTF-8, which RFC 6455 ends) keeps the connection working.

use super::{chat, relax_limits, single, stored};
use crate::accounts::put;
use crate::support::{BusKind, Herald, ImClient, SECRET, im_url};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// The seed's error frame `{"msg_code":500,"message":"<why>"}`.
fn assert_error_frame(frame: &Value, what: &str) {
    assert_eq!(frame["msg_code"], 500, "{what}: {frame}");
    assert!(
        frame["message"].as_str().is_some_and(|why| !why.is_empty()),
        "{what}: {frame}"
    );
    assert_eq!(frame.as_object().map(|f| f.len()), Some(2), "{what}: {frame}");
}

async fn no_token_no_socket(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let bare = format!("{}/im/connect", api.base.replace("http://", "ws://"));
    assert_eq!(ImClient::try_connect(&bare).await.err(), Some(Some(401)), "no token");
    assert_eq!(
        ImClient::try_connect(&im_url(&api, "not-a-token")).await.err(),
        Some(Some(401)),
        "a forged token"
    );
    herald.stop().await;
}

on_both_buses!(no_token_no_socket);

/// With `require_friendship`, a private message to a non-friend is a 1003 frame, not stored.
async fn non_friend_refused_with_1003(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let (status, body) = put(&api, "/inner/settings", SECRET, json!({"require_friendship": true})).await;
    assert_eq!(status, 200, "{body}");
    let eve_token = api.token("eve", 1).await;
    let conv = single(&api, &eve_token, "fay").await;
    let mut eve = ImClient::connect(&api, &eve_token).await;
    eve.send(chat(json!(1), json!("fay"), 1, "hello stranger")).await;
    let refused = eve.next().await;
    assert_eq!(refused["msg_code"], 1003, "{refused}");
    assert!(refused["message"].is_string(), "{refused}");
    assert_eq!(stored(&herald, &conv).await, 0, "nothing stored");
    herald.stop().await;
}

on_both_buses!(non_friend_refused_with_1003);

/// A frame whose `form_id` or `uid` names another session: a 500 frame, nothing stored; the
/// token's own session in `form_id` is accepted.
async fn asserted_identity_refused(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let ann_token = api.token("ann", 1).await;
    let conv = single(&api, &ann_token, "ben").await;
    let mut ann = ImClient::connect(&api, &ann_token).await;
    for (field, claimed) in [("form_id", json!("ben")), ("uid", json!("ben")), ("form_id", json!(35))] {
        let mut frame = chat(json!(format!("as-{field}-{claimed}")), json!("ben"), 1, "impostor");
        frame[field] = claimed.clone();
        ann.send(frame).await;
        assert_error_frame(&ann.next().await, &format!("{field} = {claimed}"));
    }
    assert_eq!(stored(&herald, &conv).await, 0, "nothing stored");
    let mut own = chat(json!("own"), json!("ben"), 1, "it is me");
    own["form_id"] = json!("ann");
    ann.send(own).await;
    assert_eq!(ann.next().await["msg_code"], 1005, "its own session is accepted");
    herald.stop().await;
}

on_both_buses!(asserted_identity_refused);

/// Malformed frames each get a 500 frame and the connection keeps working; invalid UTF-8 gets
/// one too, then the close RFC 6455 requires (1007), as on `/ws`.
async fn malformed_frames(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let token = api.token("ann", 1).await;
    let conv = single(&api, &token, "ben").await;
    let mut ann = ImClient::connect(&api, &token).await;
    let oversize = chat(json!(1), json!("ben"), 1, &"x".repeat(70 * 1024)).to_string();
    let bad: Vec<(&str, Message)> =
        vec![
        ("broken JSON", Message::Text(r#"{"msg_code":"#.into())),
        ("not an object", Message::Text("[1,2,3]".into())),
        ("a bare string", Message::Text("\"hello\"".into())),
        (
            "wrong types",
            Message::Text(
                json!({"msg_client_id": [1], "to_id": {"a": 1}, "msg_type": "x", "channel_type": "one", "message": 5})
                    .to_string()
                    .into(),
            ),
        ),
        ("unknown channel_type", Message::Text(chat(json!(2), json!("ben"), 9, "?").to_string().into())),
        ("unknown msg_code", Message::Text(json!({"msg_code": 9999}).to_string().into())),
        ("a binary frame", Message::Binary(vec![0x82, 0xa1, 0x61, 0x01].into())),
        ("a frame over 64 KiB", Message::Text(oversize.into())),
    ];
    for (what, message) in bad {
        ann.send_message(message).await;
        assert_error_frame(&ann.next().await, what);
        ann.ping().await;
        assert!(ann.waiting().is_empty(), "{what}: one frame only: {:?}", ann.waiting());
    }
    assert_eq!(stored(&herald, &conv).await, 0, "nothing stored");
    ann.send(chat(json!(3), json!("ben"), 1, "still fine")).await;
    assert_eq!(ann.next_code(1005).await["seq"], 1, "the connection still sends");

    // another session: ann's would first get "still fine" from the catch-up
    let mut broken = ImClient::connect(&api, &api.token("zoe", 1).await).await;
    broken
        .send_message(Message::Frame(Frame::message(
            vec![0xff, 0xfe, 0xfd],
            OpCode::Data(Data::Text),
            true,
        )))
        .await;
    assert_eq!(
        broken.next_close().await,
        Some(1007),
        "invalid UTF-8 ends the connection"
    );
    assert_error_frame(&broken.next().await, "invalid UTF-8");
    ann.ping().await;
    assert!(ann.waiting().is_empty(), "other connections are unaffected");
    herald.stop().await;
}

on_both_buses!(malformed_frames);

/// The anti-spam rule (messages to a 1:1 peer who never answered) and the send rate limit
/// refuse a seed 002 send with a 500 frame saying why; nothing is stored, the connection goes on.
async fn spam_and_rate_refusals(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let (status, body) = put(
        &api,
        "/inner/settings",
        SECRET,
        json!({"send_rate_per_sec": 0, "spam_unanswered_limit": 2}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ann_token = api.token("ann", 1).await;
    let conv = single(&api, &ann_token, "ben").await;
    let mut ann = ImClient::connect(&api, &ann_token).await;
    for i in 1..=2 {
        ann.send(chat(json!(i), json!("ben"), 1, "are you there?")).await;
        assert_eq!(ann.next().await["msg_code"], 1005);
    }
    ann.send(chat(json!(3), json!("ben"), 1, "hello??")).await;
    let spam = ann.next().await;
    assert_eq!(spam["msg_code"], 500, "{spam}");
    assert!(spam["message"].as_str().is_some_and(|why| !why.is_empty()), "{spam}");
    assert_eq!(stored(&herald, &conv).await, 2, "the third is not stored");
    let mut ben = ImClient::connect(&api, &api.token("ben", 1).await).await;
    ben.send(chat(json!(1), json!("ann"), 1, "yes")).await;
    assert_eq!(ben.next_code(1005).await["seq"], 3);
    ann.send(chat(json!(4), json!("ben"), 1, "hello??")).await;
    assert_eq!(ann.next_code(1005).await["seq"], 4, "answered: allowed again");

    let (status, body) = put(
        &api,
        "/inner/settings",
        SECRET,
        json!({"send_rate_per_sec": 0.01, "send_burst": 1, "spam_unanswered_limit": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    ben.send(chat(json!(2), json!("ann"), 1, "one")).await;
    assert_eq!(ben.next_code(1005).await["seq"], 5);
    ben.send(chat(json!(3), json!("ann"), 1, "two")).await;
    // ann's messages come to ben as 200 frames; the answer to his send is the next other frame
    let rate = ben.next_matching(|frame| frame["msg_code"] != 200).await;
    assert_eq!(rate["msg_code"], 500, "{rate}");
    assert!(rate["message"].as_str().is_some_and(|why| !why.is_empty()), "{rate}");
    assert_eq!(stored(&herald, &conv).await, 5, "the refused one is not stored");
    ben.ping().await;
    herald.stop().await;
}

on_both_buses!(spam_and_rate_refusals);
