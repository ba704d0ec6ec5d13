//! Faults in the routing and presence machinery: a gateway that is alive keeps delivering to
//! its connections whatever a stale or late heartbeat makes the presence tracker believe.

use crate::support::{BusKind, Herald};
use bytes::Bytes;
use herald_bus::nats::{NatsBus, NatsConfig};
use herald_bus::{Bucket, Bus};
use std::time::Duration;

/// A stale heartbeat (an expired value written over the live gateway's key, as a late put
/// behind a slow publish window or a replayed KV write would leave it) must not cost the
/// gateway its routes: its connected client keeps receiving every push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_heartbeat_never_costs_a_live_gateway_its_routes() {
    let herald = Herald::start(BusKind::Nats).await;
    let api = herald.api();
    let alice = api.token("alice", 1).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    let mut bob = api.ws(&api.token("bob", 1).await).await;
    let bus = NatsBus::connect(&NatsConfig::new(herald.nats_url(), 8)).await.unwrap();
    let heartbeats = bus.kv_scan(Bucket::Leases, "gw.").await.unwrap();
    assert_eq!(heartbeats.len(), 1, "one gateway: {heartbeats:?}");
    let key = heartbeats[0].0.clone();

    api.send_until_acked(&alice, &conv, "before", "before").await;
    assert_eq!(bob.next_message().await["Content"], "before");
    bus.kv_put(Bucket::Leases, &key, Bytes::from(r#"{"expires_ms":1}"#))
        .await
        .unwrap();
    // over the next seconds (several tracker ticks and heartbeats), every push still arrives
    for i in 0..8 {
        let content = format!("after {i}");
        api.send_until_acked(&alice, &conv, &content, &content).await;
        let pushed = tokio::time::timeout(Duration::from_secs(10), bob.next_message())
            .await
            .unwrap_or_else(|_| panic!("push {i} after the stale heartbeat never arrived"));
        assert_eq!(pushed["Content"], content.as_str());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    herald.stop().await;
}

/// A batch of acks or deliveries is capped by count; its bytes can pass the NATS server's
/// `max_payload`, which refuses the publish. Such a batch is split, never retried whole
/// forever: with `max_payload` at 64 KiB, a burst of 30 KiB messages is acknowledged to its
/// sender and pushed to the member in full, in `Seq` order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_past_the_nats_max_payload_are_split_not_stuck() {
    let nats = herald_testkit::NatsServer::start_with_config("max_payload: 65536", &[]);
    let herald = Herald::start_on(Some(nats), &[]).await;
    let api = herald.api();
    api.unlimited_sends().await;
    let alice = api.token("alice", 1).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    let mut bob = api.ws(&api.token("bob", 1).await).await;
    let content = "m".repeat(30 * 1024);
    let count = 24;
    let sends = (0..count).map(|i| {
        let (api, alice, conv, content) = (api.clone(), alice.clone(), conv.clone(), content.clone());
        async move { api.send_until_acked(&alice, &conv, &format!("k{i}"), &content).await }
    });
    let mut acked: Vec<u64> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|(_, seq)| seq)
        .collect();
    acked.sort_unstable();
    assert_eq!(acked, (1..=count).collect::<Vec<u64>>(), "every send acknowledged once");
    let mut pushed = Vec::new();
    while pushed.len() < count as usize {
        let push = bob.next_message().await;
        assert_eq!(push["Content"].as_str().map(str::len), Some(content.len()));
        pushed.push(push["Seq"].as_u64().unwrap());
    }
    assert_eq!(
        pushed,
        (1..=count).collect::<Vec<u64>>(),
        "every message pushed, in order"
    );
    herald.stop().await;
}
