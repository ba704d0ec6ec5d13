//! Two apps that use the same conversation id on one partition: each keeps its own members,
//! `Seq`s and recipients (issue 10, item 2), on both buses.

use crate::support::{Api, BusKind, Herald, SECRET, WsClient};
use serde_json::{Value, json};
use std::time::Duration;

/// A second app, made through the console: its secret.
pub async fn another_app(api: &Api, name: &str) -> String {
    let email = format!("{name}@example.com");
    let credentials = json!({"email": email, "password": "correct horse battery", "nick": name});
    let (status, body) = api.post("/console/reg", "", credentials.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.post("/console/login", "", credentials).await;
    assert_eq!(status, 200, "{body}");
    let console = body["data"]["token"].as_str().unwrap().to_owned();
    let (status, org) = api
        .post("/console/org", &console, json!({"name": format!("{name} inc")}))
        .await;
    assert_eq!(status, 200, "{org}");
    let (status, app) = api
        .post(
            "/console/app",
            &console,
            json!({"orgId": org["data"]["orgId"], "name": format!("{name} app")}),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    app["data"]["secret"].as_str().unwrap().to_owned()
}

pub async fn token_of(api: &Api, secret: &str, session: &str) -> String {
    let (status, body) = api
        .post("/inner/get_token", secret, json!({"session": session, "platform": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_str().unwrap().to_owned()
}

fn data(reply: &Value) -> &Value {
    assert_eq!(reply["status"], "ok", "{reply}");
    &reply["data"]
}

async fn send(client: &mut WsClient, key: &str, content: &str) -> u64 {
    let reply = client
        .request(
            "msg-im",
            json!({"convId": "general", "msgKey": key, "msgType": 1, "msgContent": content}),
        )
        .await;
    data(&reply)["Seq"].as_u64().unwrap()
}

/// The (content, Seq) of the next `count` message pushes.
async fn pushed(client: &mut WsClient, count: usize) -> Vec<(String, u64)> {
    let mut got = Vec::new();
    for _ in 0..count {
        let message = tokio::time::timeout(Duration::from_secs(15), client.next_message())
            .await
            .expect("a message push");
        got.push((
            message["Content"].as_str().unwrap_or_default().to_owned(),
            message["Seq"].as_u64().unwrap(),
        ));
    }
    got
}

async fn one_conversation_id_in_two_apps_stays_two_conversations(kind: BusKind) {
    let herald = Herald::start_with_partitions(kind, Some(1)).await;
    let api = herald.api();
    let secret_b = another_app(&api, "bravo").await;
    let mut alice = api.ws(&token_of(&api, SECRET, "alice").await).await;
    let mut carol = api.ws(&token_of(&api, SECRET, "carol").await).await;
    let mut bob = api.ws(&token_of(&api, &secret_b, "bob").await).await;
    let mut dave = api.ws(&token_of(&api, &secret_b, "dave").await).await;

    let create = |member: &str| json!({"convType": "multi", "convKey": "general", "linkKeys": [member]});
    let created_a = alice.request("conv-create", create("carol")).await;
    assert_eq!(data(&created_a)["convId"], "general");
    let created_b = bob.request("conv-create", create("dave")).await;
    assert_eq!(data(&created_b)["convId"], "general");
    assert_eq!(
        created_b["data"]["linkKeys"],
        json!(["bob", "dave"]),
        "app b's members only"
    );

    let mut seqs = (Vec::new(), Vec::new());
    for i in 1..=3 {
        seqs.0
            .push(send(&mut alice, &format!("a{i}"), &format!("alpha {i}")).await);
        seqs.1
            .push(send(&mut bob, &format!("b{i}"), &format!("bravo {i}")).await);
    }
    assert_eq!(
        seqs,
        (vec![1, 2, 3], vec![1, 2, 3]),
        "each conversation counts its own Seq"
    );

    let expected = |app: &str| (1..=3).map(|i| (format!("{app} {i}"), i)).collect::<Vec<_>>();
    assert_eq!(
        pushed(&mut carol, 3).await,
        expected("alpha"),
        "app a's member hears app a only"
    );
    assert_eq!(
        pushed(&mut dave, 3).await,
        expected("bravo"),
        "app b's member hears app b only"
    );

    let history = dave
        .request(
            "msg-listHistory",
            json!({"convId": "general", "limit": 10, "offset": 0}),
        )
        .await;
    let contents: Vec<&str> = data(&history)["msgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        vec!["bravo 3", "bravo 2", "bravo 1"],
        "app b's log holds app b's messages"
    );
    herald.stop().await;
}

on_both_buses!(one_conversation_id_in_two_apps_stays_two_conversations);
