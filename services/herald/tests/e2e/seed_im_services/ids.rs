//! Ids on `/im/connect`: seed 002 types user ids as integers, Herald's are strings. Ids are
//! accepted in either type, the ack echoes `msg_client_id` in its own, and pushes carry integer
//! `form_id` / `to_id` only to a connection that sent integer ids (strings otherwise).

use super::messages::assert_ack;
use super::{assert_message_frame, chat, relax_limits};
use crate::support::{BusKind, Herald, ImClient};
use serde_json::json;

/// The seed's own example, numeric user ids included: integer ids are accepted and a
/// connection that sent integer ids gets integer `form_id` / `to_id` back.
async fn integer_ids_as_the_seed_sends_them(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let mut u34 = ImClient::connect(&api, &api.token("34", 1).await).await;
    let mut u35 = ImClient::connect(&api, &api.token("35", 1).await).await;
    u34.send(json!({"msg_client_id": 1, "msg_code": 200, "form_id": 34, "to_id": 35,
        "msg_type": 1, "channel_type": 1, "message": "你好！", "data": ""}))
        .await;
    let first = assert_ack(&u34.next_code(1005).await, json!(1), 1);
    let frame = u35.next_code(200).await;
    assert_message_frame(
        &frame,
        json!({"msg_id": first, "msg_client_id": 1, "msg_code": 200, "form_id": 34, "to_id": 35,
            "msg_type": 1, "channel_type": 1, "message": "你好！", "data": "", "seq": 1}),
        &["msg_client_id", "form_id", "to_id"],
    );
    u35.send(chat(json!(2), json!(34), 1, "hi 34")).await;
    let second = assert_ack(&u35.next_code(1005).await, json!(2), 2);
    let frame = u34.next_code(200).await;
    assert_message_frame(
        &frame,
        json!({"msg_id": second, "msg_client_id": 2, "msg_code": 200, "form_id": 35, "to_id": 34,
            "msg_type": 1, "channel_type": 1, "message": "hi 34", "data": "", "seq": 2}),
        &["msg_client_id"],
    );
    herald.stop().await;
}

on_both_buses!(integer_ids_as_the_seed_sends_them);

/// A connection that has sent no ids gets them as strings; one that sent string ids too; one
/// that sent integer ids gets integers (the decision for pushes, whose ids came in no frame).
async fn ids_in_pushes_follow_the_connection(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let mut integers = ImClient::connect(&api, &api.token("34", 1).await).await;
    let mut strings = ImClient::connect(&api, &api.token("34", 2).await).await;
    let mut silent = ImClient::connect(&api, &api.token("35", 1).await).await;
    // each connection shows its type in another conversation first, so every push of the
    // conversation of 34 and 35 comes after it
    integers.send(chat(json!(10), json!(36), 1, "declare")).await;
    assert_ack(&integers.next_code(1005).await, json!(10), 1);
    strings.send(chat(json!("d"), json!("36"), 1, "declare")).await;
    assert_ack(&strings.next_code(1005).await, json!("d"), 2);
    integers.send(chat(json!(1), json!(35), 1, "as integers")).await;
    assert_ack(&integers.next_code(1005).await, json!(1), 1);
    strings.send(chat(json!("s2"), json!("35"), 1, "as strings")).await;
    assert_ack(&strings.next_code(1005).await, json!("s2"), 2);

    for seq in [1, 2] {
        let frame = silent.next_code(200).await;
        assert_eq!(
            (&frame["seq"], &frame["form_id"], &frame["to_id"]),
            (&json!(seq), &json!(34), &json!(35)),
            "a connection that sent no ids: integers, the seed's type: {frame}"
        );
    }
    let frame = strings.next_matching(|f| f["message"] == "as integers").await;
    assert_eq!(
        (&frame["seq"], &frame["form_id"], &frame["to_id"]),
        (&json!(1), &json!("34"), &json!("35")),
        "a connection that sent string ids: strings: {frame}"
    );
    let frame = integers.next_matching(|f| f["message"] == "as strings").await;
    assert_eq!(
        (&frame["seq"], &frame["form_id"], &frame["to_id"]),
        (&json!(2), &json!(34), &json!(35)),
        "a connection that sent integer ids: integers: {frame}"
    );
    herald.stop().await;
}

on_both_buses!(ids_in_pushes_follow_the_connection);
