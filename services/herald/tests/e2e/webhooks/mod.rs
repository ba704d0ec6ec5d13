//! Webhooks (protocol §10) end to end: a receiver on a free loopback port, Herald on both buses.

mod before_send;
mod bots;
mod console;
mod crash;
mod delivery;

use crate::support::{Api, Herald, Receiver, SECRET, WAIT};
use serde_json::{Value, json};
use std::time::Duration;

/// Herald with private destinations allowed (the receiver is on loopback) and quick retries.
pub const HOOK_ARGS: &[&str] = &["--webhook-allow-private", "--webhook-retry-base-ms", "100"];

/// Registers an endpoint for `events` at the receiver; its id and secret.
pub async fn register(api: &Api, receiver: &Receiver, events: &[&str]) -> (String, String) {
    let (status, body) = api
        .post(
            "/inner/webhooks",
            SECRET,
            json!({"url": receiver.url, "events": events}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    let secret = body["data"]["secret"].as_str().expect("secret").to_owned();
    (id, secret)
}

/// Waits until the receiver accepted `count` requests matching `wanted`; them, in arrival order.
pub async fn accepted(
    receiver: &Receiver,
    count: usize,
    wanted: impl Fn(&Value) -> bool,
) -> Vec<crate::support::receiver::Received> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got: Vec<_> = receiver.accepted().into_iter().filter(|r| wanted(&r.body)).collect();
        if got.len() >= count {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} webhook requests arrived: {:?}",
            got.len(),
            got.iter().map(|r| &r.body["type"]).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a request is signed with `secret`, recently.
pub fn signed(received: &crate::support::receiver::Received, secret: &str) -> bool {
    let now = (herald_protocol::timefmt::now_nanos() / 1_000_000_000) as i64;
    herald_webhooks::sign::verify(secret, &received.signature, &received.raw, now, 300)
}

/// A started Herald with webhooks reaching loopback.
pub async fn herald(kind: crate::support::BusKind) -> Herald {
    let herald = Herald::start_with(kind, HOOK_ARGS).await;
    herald.api().unlimited_sends().await;
    herald
}
