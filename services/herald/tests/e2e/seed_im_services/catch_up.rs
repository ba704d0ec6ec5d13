//! The offline catch-up on connect (seed 002's offline queue): what arrived after the
//! session's read cursor, oldest first, before anything else.

use super::{assert_message_frame, inner_group, relax_limits, single};
use crate::support::{BusKind, Herald, ImClient, WsClient};
use serde_json::json;

/// Sends `m{i}` with key `k{i}` from a native client; returns its `MsgId`.
pub(super) async fn native_send(client: &mut WsClient, conv: &str, i: u64) -> String {
    let reply = client
        .request(
            "msg-im",
            json!({"convId": conv, "msgKey": format!("k{i}"), "msgType": 1, "msgContent": format!("m{i}")}),
        )
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    reply["data"]["MsgId"].as_str().unwrap().to_owned()
}

/// A 002 client that was offline while three messages arrived gets them on connect, first,
/// oldest first, as 200 frames: only what follows its read cursor.
async fn offline_catch_up(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let ann_token = api.token("ann", 3).await;
    let ben_token = api.token("ben", 1).await;
    let conv = single(&api, &ben_token, "ann").await;
    let mut ben = api.ws(&ben_token).await;
    let mut ids = Vec::new();
    let mut ann = ImClient::connect(&api, &ann_token).await;
    for i in 1..=2 {
        ids.push(native_send(&mut ben, &conv, i).await);
        assert_eq!(ann.next_code(200).await["seq"], i);
    }
    let mut ann_native = api.ws(&ann_token).await;
    let read = ann_native.request("msg-read", json!({"convId": conv, "seq": 2})).await;
    assert_eq!(read["status"], "ok", "{read}");
    drop(ann_native);
    ann.close().await;
    for i in 3..=5 {
        ids.push(native_send(&mut ben, &conv, i).await);
    }

    let mut ann = ImClient::connect(&api, &ann_token).await;
    for seq in 3..=5u64 {
        let frame = ann.next().await;
        assert_message_frame(
            &frame,
            json!({"msg_id": ids[seq as usize - 1], "msg_client_id": format!("k{seq}"),
                "msg_code": 200, "form_id": "ben", "to_id": "ann", "msg_type": 1,
                "channel_type": 1, "message": format!("m{seq}"), "data": "", "seq": seq}),
            &[],
        );
    }
    ann.send(json!({"msg_code": 1004})).await;
    assert_eq!(
        ann.next().await,
        json!({"msg_code": 1004, "message": "ping"}),
        "nothing but the three after the read cursor"
    );
    herald.stop().await;
}

on_both_buses!(offline_catch_up);

/// Messages of a single and a group conversation that arrived while offline come interleaved
/// as they were sent, each conversation's in `Seq` order, each in its channel's shape.
async fn catch_up_across_conversations(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    relax_limits(&api).await;
    let ann_token = api.token("ann", 3).await;
    let ben_token = api.token("ben", 1).await;
    let single_conv = single(&api, &ben_token, "ann").await;
    let group = inner_group(&api, &["ann", "ben", "cal"]).await;
    let mut ben = api.ws(&ben_token).await;
    let mut sent = Vec::new();
    for i in 1..=4u64 {
        let (conv, channel_type) = if i % 2 == 1 { (&single_conv, 1) } else { (&group, 2) };
        sent.push((native_send(&mut ben, conv, i).await, conv.clone(), channel_type));
    }

    let mut ann = ImClient::connect(&api, &ann_token).await;
    for (i, (msg_id, conv, channel_type)) in sent.iter().enumerate() {
        let i = i as u64 + 1;
        let to_id = if *channel_type == 1 { json!("ann") } else { json!(conv) };
        assert_message_frame(
            &ann.next().await,
            json!({"msg_id": msg_id, "msg_client_id": format!("k{i}"), "msg_code": 200,
                "form_id": "ben", "to_id": to_id, "msg_type": 1, "channel_type": channel_type,
                "message": format!("m{i}"), "data": "", "seq": i.div_ceil(2)}),
            &[],
        );
    }
    herald.stop().await;
}

on_both_buses!(catch_up_across_conversations);
