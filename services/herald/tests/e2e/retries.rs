//! A retried send gets an answer of its own: a key whose first send was refused is refused again
//! (not left waiting for an original that was never stored), and once the send is allowed the
//! same key stores exactly one message, which every later retry answers with.

use crate::accounts::put;
use crate::support::{BusKind, Herald, SECRET};
use serde_json::json;

async fn a_refused_send_retried_with_its_key_is_answered_again(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let (status, _) = put(&api, "/inner/settings", SECRET, json!({"require_friendship": true})).await;
    assert_eq!(status, 200);
    let mut ann = api.ws(&api.token("ann", 1).await).await;
    let mut ben = api.ws(&api.token("ben", 1).await).await;
    let single = ann
        .request("conv-create", json!({"convType": "single", "linkKeys": ["ben"]}))
        .await;
    let conv = single["data"]["convId"].as_str().unwrap().to_owned();
    let send = json!({"convId": conv, "msgKey": "k1", "msgContent": "hi ben"});

    for attempt in 1..=3 {
        let refused = ann.request("msg-im", send.clone()).await;
        assert_eq!(refused["code"], 1003, "attempt {attempt}: {refused}");
    }

    assert_eq!(
        ann.request("friend-request", json!({"linkKey": "ben"})).await["status"],
        "ok"
    );
    let answered = ben
        .request("friend-respond", json!({"linkKey": "ann", "accept": true}))
        .await;
    assert_eq!(answered["status"], "ok", "{answered}");

    let stored = ann.request("msg-im", send.clone()).await;
    assert_eq!(stored["status"], "ok", "{stored}");
    let again = ann.request("msg-im", send.clone()).await;
    assert_eq!(again["data"]["MsgId"], stored["data"]["MsgId"], "the same message");
    let history = ben
        .request("msg-listHistory", json!({"convId": conv, "limit": 10, "offset": 0}))
        .await;
    let msgs = history["data"]["msgs"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "stored once: {history}");
    assert_eq!(msgs[0]["Seq"], 1);
    herald.stop().await;
}
on_both_buses!(a_refused_send_retried_with_its_key_is_answered_again);
