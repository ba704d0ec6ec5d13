//! Conversations with limits (issue 10, item 7): the app's `max_members` holds on create,
//! invite and join, and a large group's messages still reach its connected members, on both
//! buses (events name no recipients, so their size does not grow with the group).

use crate::support::{BusKind, Herald, SECRET};
use serde_json::{Value, json};
use std::time::Duration;

fn error_code(reply: &Value) -> u64 {
    assert_eq!(reply["status"], "error", "{reply}");
    reply["code"].as_u64().unwrap()
}

async fn a_group_never_grows_past_the_app_member_cap(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let response = api
        .http
        .put(format!("{}/inner/settings", api.base))
        .bearer_auth(SECRET)
        .json(&json!({"max_members": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let owner_token = api.token("owner", 1).await;

    let (status, body) = api
        .post(
            "/create_conversation",
            &owner_token,
            json!({"conversation_type": 1, "sessions": ["m1", "m2", "m3", "m4", "m5"]}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (413, Some(10007)),
        "six members on create: {body}"
    );

    let (status, body) = api
        .post(
            "/create_conversation",
            &owner_token,
            json!({"conversation_type": 1, "sessions": ["m1", "m2", "m1", "owner"]}),
        )
        .await;
    assert_eq!(status, 200, "three members: {body}");
    let conv = body["data"]["ConversationId"].as_str().unwrap().to_owned();

    let mut owner = api.ws(&owner_token).await;
    let invite = |names: &[&str]| json!({"convId": conv, "linkKeys": names});
    let refused = owner.request("conv-inviteLinks", invite(&["m3", "m4", "m5"])).await;
    assert_eq!(error_code(&refused), 10007, "six members by invite");
    let accepted = owner.request("conv-inviteLinks", invite(&["m3", "m4", "m1"])).await;
    assert_eq!(accepted["status"], "ok", "five members: {accepted}");
    let mut sixth = api.ws(&api.token("m6", 1).await).await;
    let joined = sixth.request("conv-join", json!({"convId": conv})).await;
    assert_eq!(error_code(&joined), 10007, "six members by join");
    let list = owner.request("conv-list", json!({})).await;
    let entry = list["data"]
        .as_array()
        .and_then(|convs| convs.iter().find(|c| c["convId"] == conv.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("the group is listed: {list}"));
    assert_eq!(entry["linkCount"], 5, "{entry}");
    herald.stop().await;
}

async fn a_message_to_five_thousand_members_reaches_the_connected_ones(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let owner_token = api.token("owner", 1).await;
    let sessions: Vec<String> = (0..5_000).map(|i| format!("m{i}")).collect();
    let (status, body) = api
        .post(
            "/create_conversation",
            &owner_token,
            json!({"conversation_type": 1, "sessions": sessions}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let conv = body["data"]["ConversationId"].as_str().unwrap().to_owned();
    let mut connected = Vec::new();
    for name in ["m0", "m2500", "m4999"] {
        connected.push(api.ws(&api.token(name, 1).await).await);
    }
    let (msg_id, seq) = api
        .send_until_acked(&owner_token, &conv, "big-1", "hello, everyone")
        .await;
    assert_eq!(seq, 1);
    for member in &mut connected {
        let pushed = tokio::time::timeout(Duration::from_secs(15), member.next_message())
            .await
            .expect("the message push reaches every connected member");
        assert_eq!(
            (pushed["MsgId"].as_str(), pushed["Content"].as_str()),
            (Some(msg_id.as_str()), Some("hello, everyone"))
        );
    }
    herald.stop().await;
}

on_both_buses!(a_group_never_grows_past_the_app_member_cap);

on_both_buses!(a_message_to_five_thousand_members_reaches_the_connected_ones);
