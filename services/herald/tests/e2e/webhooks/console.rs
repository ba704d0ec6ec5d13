//! The console's webhook routes act on an app of the console user's org only, and an app's
//! endpoints hear only that app's events.

use super::{HOOK_ARGS, accepted};
use crate::support::{BusKind, Herald, Receiver};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_routes_and_events_stay_within_their_app() {
    let herald = Herald::start_with(BusKind::Embedded, HOOK_ARGS).await;
    let api = herald.api();
    let (console_a, _, app_a, secret_a) = crate::accounts::tenant(&api, "alpha").await;
    let (console_b, _, app_b, secret_b) = crate::accounts::tenant(&api, "beta").await;
    let receiver = Receiver::start().await;
    let body = json!({"url": receiver.url, "events": ["message.created"]});
    let (status, made) = api
        .post(&format!("/console/app/{app_a}/webhooks"), &console_a, body.clone())
        .await;
    assert_eq!(status, 200, "{made}");
    let id = made["data"]["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .post(&format!("/console/app/{app_a}/webhooks"), &console_b, body)
        .await;
    assert_eq!(status, 404, "another org's console user does not see the app");
    let list = |secret: String| {
        let api = api.clone();
        async move {
            let response = api
                .http
                .get(format!("{}/inner/webhooks", api.base))
                .bearer_auth(secret)
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()["data"].clone()
        }
    };
    assert_eq!(
        list(secret_a.clone()).await[0]["id"],
        id.as_str(),
        "the app's backend sees it"
    );
    assert_eq!(list(secret_b.clone()).await, json!([]), "another app does not");
    let response = api
        .http
        .get(format!("{}/console/app/{app_b}/webhooks", api.base))
        .bearer_auth(&console_b)
        .send()
        .await
        .unwrap();
    let own: Value = response.json().await.unwrap();
    assert_eq!(own["data"], json!([]), "nor does the other app's console: {own}");
    let (status, _) = api
        .post(
            &format!("/console/app/{app_a}/webhooks/{id}/rotate_secret"),
            &console_b,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);

    // a message in each app: only app a's reaches app a's endpoint
    for (secret, name) in [(&secret_b, "in b"), (&secret_a, "in a")] {
        let (_, token) = api
            .post("/inner/get_token", secret, json!({"session": "alice", "platform": 1}))
            .await;
        let token = token["data"].as_str().unwrap().to_owned();
        let conv = api.create_group(&token, &["bob"]).await;
        api.send_until_acked(&token, &conv, "k1", name).await;
    }
    let got = accepted(&receiver, 1, |_| true).await;
    assert_eq!(got[0].body["app"], app_a.as_str());
    assert_eq!(got[0].body["data"]["Content"], "in a");
    let deleted = api
        .http
        .delete(format!("{}/console/app/{app_a}/webhooks/{id}", api.base))
        .bearer_auth(&console_a)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    assert_eq!(list(secret_a).await, json!([]));
    herald.stop().await;
}
