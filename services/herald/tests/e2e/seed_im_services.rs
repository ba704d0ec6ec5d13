//! Clients written for Im-Services (seed 002) on `/im/connect` (contract §9), driven with a
//! plain WebSocket client frame for frame as the seed shows them, against native `/ws` clients.

mod catch_up;
mod ids;
mod messages;
mod refusals;
mod social;

use crate::accounts::put;
use crate::support::{Api, Herald, SECRET, stored_log};
use serde_json::{Value, json};

/// Lifts the send rate limit and the unanswered-peer limit, which these tests do not test and
/// whose defaults a scenario of a few 1:1 messages could reach.
async fn relax_limits(api: &Api) {
    let (status, body) = put(
        api,
        "/inner/settings",
        SECRET,
        json!({"send_rate_per_sec": 0, "spam_unanswered_limit": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The single (1:1) conversation of the token's session and `other`.
async fn single(api: &Api, token: &str, other: &str) -> String {
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

/// A group made by the app's backend (`/inner/create_conversation`) with these members.
async fn inner_group(api: &Api, members: &[&str]) -> String {
    let (status, body) = api
        .post(
            "/inner/create_conversation",
            SECRET,
            json!({"conversation_type": 1, "sessions": members}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["ConversationId"].as_str().unwrap().to_owned()
}

/// A seed 002 chat frame as a client sends it (text, no `data`).
fn chat(msg_client_id: Value, to_id: Value, channel_type: u64, message: &str) -> Value {
    json!({
        "msg_client_id": msg_client_id,
        "to_id": to_id,
        "msg_type": 1,
        "channel_type": channel_type,
        "message": message,
        "data": "",
    })
}

/// How many messages the store on disk holds in `conv`.
async fn stored(herald: &Herald, conv: &str) -> usize {
    stored_log(herald.data_dir.path(), conv).await.len()
}

/// Whether the store on disk holds the message `msg_id` at `seq` in `conv`.
async fn stored_at(herald: &Herald, conv: &str, msg_id: &str, seq: u64) -> bool {
    stored_log(herald.data_dir.path(), conv)
        .await
        .iter()
        .any(|record| record.seq == seq && record.msg_id.to_string() == msg_id)
}

/// An id the seed types as an integer, in a frame to a connection that has not said which type
/// it uses: `text` as a string, or as an integer when `text` is one.
fn same_id(value: &Value, text: &str) -> bool {
    match value {
        Value::String(s) => s == text,
        Value::Number(n) => n.to_string() == text,
        _ => false,
    }
}

/// Checks a seed 002 message frame (code 200) field for field; `send_time` must be present.
/// The fields named in `either_type` are ids whose type this connection has not fixed (it sent
/// no integer ids): an integer or a string of the expected text passes.
fn assert_message_frame(frame: &Value, expected: Value, either_type: &[&str]) {
    let mut got = frame.clone();
    let fields = got.as_object_mut().expect("a JSON object");
    let send_time = fields.remove("send_time");
    assert!(
        matches!(send_time, Some(ref t) if t.is_string() || t.is_number()),
        "send_time: {frame}"
    );
    for field in either_type {
        let want = &expected[*field];
        let text = want.as_str().map(str::to_owned).unwrap_or_else(|| want.to_string());
        if fields.get(*field).is_some_and(|value| same_id(value, &text)) {
            fields.insert(field.to_string(), want.clone());
        }
    }
    assert_eq!(got, expected, "the message frame");
}
