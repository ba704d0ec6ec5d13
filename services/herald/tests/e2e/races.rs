//! Races and boundary numbers: a client-chosen conversation id is created once, and the loser of
//! a race is told so and added nowhere; `u64::MAX` and 0 in sync and history answer, never panic.

use crate::support::{BusKind, Herald};
use serde_json::json;

async fn racing_creations_of_one_conv_key(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let (ann_token, bob_token) = (api.token("ann", 1).await, api.token("bob", 1).await);
    let mut ann = api.ws(&ann_token).await;
    let mut bob = api.ws(&bob_token).await;
    for round in 0..20 {
        let key = format!("contested-{round}");
        let param = json!({"convType": "multi", "convKey": key, "open": false});
        let ann_req = ann.send_request("conv-create", param.clone()).await;
        let bob_req = bob.send_request("conv-create", param).await;
        let (ann_reply, bob_reply) = tokio::join!(ann.next_reply(), bob.next_reply());
        assert_eq!(
            (ann_reply["reqId"].as_u64(), bob_reply["reqId"].as_u64()),
            (Some(ann_req), Some(bob_req))
        );
        let replies = [("ann", &ann_reply, &ann_token), ("bob", &bob_reply, &bob_token)];
        let winners: Vec<_> = replies.iter().filter(|(_, reply, _)| reply["status"] == "ok").collect();
        assert_eq!(
            winners.len(),
            1,
            "exactly one creation succeeds: {ann_reply} {bob_reply}"
        );
        let (winner, _, winner_token) = winners[0];
        let (_, loser_reply, loser_token) = replies.iter().find(|(name, _, _)| name != winner).unwrap();
        assert_eq!(
            loser_reply["code"], 10006,
            "the other is told the id is taken: {loser_reply}"
        );
        let (_, joined) = api
            .post(
                "/check_joined_conversation",
                loser_token,
                json!({"conversation_id": key}),
            )
            .await;
        assert_eq!(joined["data"]["Joined"], false, "the loser is not a member");
        let (_, joined) = api
            .post(
                "/check_joined_conversation",
                winner_token,
                json!({"conversation_id": key}),
            )
            .await;
        assert_eq!(joined["data"]["Joined"], true, "{winner} is");
    }
    // the owner creating its own conversation again gets it back; anyone else is refused
    let again = ann
        .request("conv-create", json!({"convType": "multi", "convKey": "mine"}))
        .await;
    assert_eq!(again["status"], "ok");
    let again = ann
        .request("conv-create", json!({"convType": "multi", "convKey": "mine"}))
        .await;
    assert_eq!(again["data"]["convId"], "mine", "a retried creation: {again}");
    let refused = bob
        .request("conv-create", json!({"convType": "multi", "convKey": "mine"}))
        .await;
    assert_eq!(refused["code"], 10006, "{refused}");
    herald.stop().await;
}

on_both_buses!(racing_creations_of_one_conv_key);

/// Debug builds (as tests run) panic on overflow: every boundary number must answer.
async fn boundary_numbers_answer_without_panic(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let token = api.token("edge", 1).await;
    let conv = api.create_group(&token, &[]).await;
    for i in 0..3 {
        api.send_until_acked(&token, &conv, &format!("e{i}"), "edge").await;
    }
    let mut ws = api.ws(&token).await;
    let max = u64::MAX;
    let seqs = |reply: &serde_json::Value, path: &str| -> Vec<u64> {
        reply["data"]
            .pointer(path)
            .and_then(|v| v.as_array())
            .unwrap_or_else(|| panic!("{path} in {reply}"))
            .iter()
            .map(|m| m["Seq"].as_u64().unwrap())
            .collect()
    };
    let synced = ws.request("sync", json!({"convs": {conv.clone(): max}})).await;
    assert_eq!(
        seqs(&synced, &format!("/convs/{conv}/msgs")),
        Vec::<u64>::new(),
        "{synced}"
    );
    assert_eq!(synced["data"]["convs"][&conv]["hasMore"], false);
    let synced = ws.request("sync", json!({"convs": {conv.clone(): max - 1}})).await;
    assert_eq!(
        seqs(&synced, &format!("/convs/{conv}/msgs")),
        Vec::<u64>::new(),
        "{synced}"
    );
    let synced = ws.request("sync", json!({"convs": {conv.clone(): 0}})).await;
    assert_eq!(seqs(&synced, &format!("/convs/{conv}/msgs")), vec![1, 2, 3]);

    for (param, expected) in [
        (json!({"convId": conv, "limit": max, "beforeSeq": max}), vec![3, 2, 1]),
        (json!({"convId": conv, "limit": 0, "beforeSeq": 0}), vec![]),
        (json!({"convId": conv, "limit": max, "offset": max}), vec![]),
        (json!({"convId": conv, "limit": 2, "offset": 0}), vec![3, 2]),
    ] {
        let reply = ws.request("msg-listHistory", param).await;
        assert_eq!(seqs(&reply, "/msgs"), expected, "{reply}");
    }
    let read = ws.request("msg-read", json!({"convId": conv, "seq": max})).await;
    assert_eq!(read["data"]["seq"], 3, "{read}");
    assert_eq!(
        ws.request("ping", json!({})).await["data"],
        "pong",
        "the connection lives"
    );
    herald.stop().await;
}

on_both_buses!(boundary_numbers_answer_without_panic);
