//! Bots: a bot session's conversations reach the endpoints as `bot.message`, and it answers
//! through `/inner/send_msg` with no WebSocket.

use super::{accepted, herald, register};
use crate::support::{BusKind, SECRET};
use serde_json::json;

async fn a_bot_answers_through_send_msg(kind: BusKind) {
    let herald = herald(kind).await;
    let api = herald.api();
    let receiver = crate::support::Receiver::start().await;
    register(&api, &receiver, &["bot.message"]).await;
    let response = api
        .http
        .put(format!("{}/inner/bots/helper-bot", api.base))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let alice = api.token("alice", 1).await;
    let mut alice_ws = api.ws(&alice).await;
    let conv = api.create_group(&alice, &["helper-bot"]).await;
    api.send_until_acked(&alice, &conv, "q1", "what's the weather?").await;
    let asked = accepted(&receiver, 1, |_| true).await;
    assert_eq!(asked[0].body["type"], "bot.message");
    assert_eq!(asked[0].body["data"]["bot"], "helper-bot");
    assert_eq!(asked[0].body["data"]["message"]["Content"], "what's the weather?");

    let (status, body) = api
        .post(
            "/inner/send_msg",
            SECRET,
            json!({"session": "helper-bot", "conversation_id": conv, "type": 1, "content": "sunny", "client_msg_id": "a1"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["Seq"], 2);
    let push = alice_ws.next_message().await;
    let push = if push["FromSession"] == "alice" {
        alice_ws.next_message().await
    } else {
        push
    };
    assert_eq!(
        (&push["FromSession"], &push["Content"]),
        (&json!("helper-bot"), &json!("sunny"))
    );
    // the bot's own message is not sent back to it
    api.send_until_acked(&alice, &conv, "q2", "thanks").await;
    let asked = accepted(&receiver, 2, |_| true).await;
    assert_eq!(asked[1].body["data"]["message"]["Content"], "thanks");

    // a session that is not a member cannot be sent as into the conversation
    let (status, body) = api
        .post(
            "/inner/send_msg",
            SECRET,
            json!({"session": "stranger", "conversation_id": conv, "type": 1, "content": "hi"}),
        )
        .await;
    assert_eq!((status, &body["code"]), (403, &json!(10004)), "{body}");
    herald.stop().await;
}
on_both_buses!(a_bot_answers_through_send_msg);
