//! Reconnect without loss: a member drops while 500 messages are sent across 5 conversations,
//! reconnects, syncs from its last `Seq` per conversation, and ends with every message once.

use crate::support::{BusKind, Herald};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CONVERSATIONS: usize = 5;
const PER_CONVERSATION: u64 = 100;

async fn reconnect_and_sync(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    api.unlimited_sends().await;
    let alice = api.token("alice", 1).await;
    let bob_token = api.token("bob", 1).await;
    let mut convs = Vec::new();
    for _ in 0..CONVERSATIONS {
        convs.push(api.create_group(&alice, &["bob"]).await);
    }
    // bob is online for the first 10 messages of each conversation, then drops
    let mut seen: BTreeMap<String, Vec<u64>> = convs.iter().map(|c| (c.clone(), Vec::new())).collect();
    let mut bob = api.ws(&bob_token).await;
    let sender = |from: u64, to: u64| {
        let (api, alice, convs) = (api.clone(), alice.clone(), convs.clone());
        async move {
            for i in from..to {
                for conv in &convs {
                    let (status, body) = api
                        .post(
                            "/send_msg",
                            &alice,
                            json!({"conversation_id": conv, "content": format!("{i}")}),
                        )
                        .await;
                    assert_eq!(status, 200, "{body}");
                }
            }
        }
    };
    sender(0, 10).await;
    for _ in 0..10 * CONVERSATIONS {
        let msg = bob.next_message().await;
        seen.get_mut(msg["ConversationID"].as_str().unwrap())
            .unwrap()
            .push(msg["Seq"].as_u64().unwrap());
    }
    drop(bob);
    sender(10, PER_CONVERSATION).await;

    // reconnect and sync until nothing is left
    let mut bob = api.ws(&bob_token).await;
    loop {
        let last: BTreeMap<&String, u64> = seen.iter().map(|(c, s)| (c, s.last().copied().unwrap_or(0))).collect();
        let reply = bob.request("sync", json!({"convs": last})).await;
        assert_eq!(reply["status"], "ok", "{reply}");
        let mut more = false;
        for (conv, entry) in reply["data"]["convs"].as_object().unwrap() {
            for msg in entry["msgs"].as_array().unwrap() {
                seen.get_mut(conv).unwrap().push(msg["Seq"].as_u64().unwrap());
            }
            more |= entry["hasMore"] == Value::Bool(true);
        }
        if !more {
            break;
        }
    }
    for (conv, seqs) in &seen {
        assert_eq!(
            seqs,
            &(1..=PER_CONVERSATION).collect::<Vec<_>>(),
            "{conv}: every message exactly once, in order"
        );
    }
    herald.stop().await;
}

on_both_buses!(reconnect_and_sync);
