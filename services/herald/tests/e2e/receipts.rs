//! Read receipts (protocol §5): a read is pushed to the other members as `msg-readBy`, and
//! `msg-readers` answers every other member's cursor; a conversation of more than 50 members
//! keeps none.

use crate::support::{BusKind, Herald, SECRET};
use serde_json::{Value, json};
use std::time::Duration;

/// The (member, read cursor) pairs of a `msg-readers` reply, by member.
fn cursors(reply: &Value) -> Vec<(String, u64)> {
    let mut cursors: Vec<(String, u64)> = reply["data"]["readers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["linkKey"].as_str().unwrap().to_owned(), r["seq"].as_u64().unwrap()))
        .collect();
    cursors.sort();
    cursors
}

async fn reads_reach_the_other_members_as_receipts(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let mut ann = api.ws(&api.token("ann", 1).await).await;
    let mut ben = api.ws(&api.token("ben", 1).await).await;
    let mut cal = api.ws(&api.token("cal", 1).await).await;
    let group = ann
        .request("conv-create", json!({"convType": "multi", "linkKeys": ["ben", "cal"]}))
        .await;
    let conv = group["data"]["convId"].as_str().unwrap().to_owned();
    for text in ["one", "two"] {
        let sent = ann.request("msg-im", json!({"convId": conv, "msgContent": text})).await;
        assert_eq!(sent["status"], "ok", "{sent}");
    }

    let before = ann.request("msg-readers", json!({"convId": conv})).await;
    assert_eq!(before["data"]["receipts"], true, "{before}");
    assert_eq!(
        cursors(&before),
        [("ben".to_owned(), 0), ("cal".to_owned(), 0)],
        "nothing read yet"
    );

    let read = ben.request("msg-read", json!({"convId": conv, "seq": 2})).await;
    assert_eq!(read["status"], "ok", "{read}");
    for (name, member) in [("ann", &mut ann), ("cal", &mut cal)] {
        let receipt = member.next_push("msg-readBy").await;
        assert_eq!(
            (
                &receipt["data"]["convId"],
                &receipt["data"]["linkKey"],
                &receipt["data"]["seq"]
            ),
            (&json!(conv), &json!("ben"), &json!(2)),
            "{name}: {receipt}"
        );
    }
    let after = cal.request("msg-readers", json!({"convId": conv})).await;
    assert_eq!(
        cursors(&after),
        [("ann".to_owned(), 2), ("ben".to_owned(), 2)],
        "the others' cursors, not the asker's (a sender has read what she sent)"
    );

    let mut stranger = api.ws(&api.token("dan", 1).await).await;
    let refused = stranger.request("msg-readers", json!({"convId": conv})).await;
    assert_eq!(refused["code"], 10004, "members only: {refused}");
    herald.stop().await;
}
on_both_buses!(reads_reach_the_other_members_as_receipts);

async fn a_large_conversation_keeps_no_receipts(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let sessions: Vec<String> = (0..51).map(|i| format!("crowd{i}")).collect();
    let (status, created) = api
        .post(
            "/inner/create_conversation",
            SECRET,
            json!({"conversation_type": 1, "sessions": sessions}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let conv = created["data"]["ConversationId"].as_str().unwrap().to_owned();
    let mut first = api.ws(&api.token("crowd0", 1).await).await;
    let mut second = api.ws(&api.token("crowd1", 1).await).await;
    let sent = first
        .request("msg-im", json!({"convId": conv, "msgContent": "hello all"}))
        .await;
    assert_eq!(sent["status"], "ok", "{sent}");
    let _ = second.next_push("msg-im").await;

    let readers = second.request("msg-readers", json!({"convId": conv})).await;
    assert_eq!(readers["data"]["receipts"], false, "{readers}");
    assert_eq!(readers["data"]["readers"], json!([]));
    let read = second.request("msg-read", json!({"convId": conv})).await;
    assert_eq!(read["status"], "ok", "{read}");
    // the read is in the events log before this later message, and delivered with it or
    // before it: a receipt would be here by the time the message is (pushes that arrive first
    // are kept, and `is_quiet` counts them)
    let later = second
        .request("msg-im", json!({"convId": conv, "msgContent": "later"}))
        .await;
    assert_eq!(later["status"], "ok", "{later}");
    while first.next_push("msg-im").await["data"]["Content"] != "later" {}
    assert!(
        first.is_quiet(Duration::from_millis(200)).await,
        "no msg-readBy in a 51-member conversation"
    );
    herald.stop().await;
}
on_both_buses!(a_large_conversation_keeps_no_receipts);
