//! Graceful drain on SIGTERM: a gateway tells its clients to reconnect (close 1012) and exits; a
//! sequencer releases its partitions at once, so another takes them without waiting out the lease.

use crate::support::{Api, Process, free_addr, wait_healthy};
use herald_bus::nats::{NatsBus, NatsConfig};
use herald_bus::{Bucket, Bus};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn sigterm(process: &mut Process) {
    let pid = process.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_exit(process: &mut Process, within: Duration) -> std::process::ExitStatus {
    herald_testkit::eventually(within, "the process exits", || {
        let exited = process.child.try_wait().unwrap();
        std::future::ready(exited)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_gateway_tells_clients_to_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let env = vec![
        ("HERALD_DATA_DIR", dir.path().join("data").display().to_string()),
        ("HERALD_HTTP_ADDR", addr.to_string()),
    ];
    let mut herald = Process::spawn("draining", "up", &env, dir.path());
    wait_healthy(addr).await;
    let api = Api::new(addr);
    let mut ws = api.ws(&api.token("client", 1).await).await;
    sigterm(&mut herald);
    let close = loop {
        match ws.next_raw().await {
            Some(Message::Close(frame)) => break frame.expect("a close frame with a code"),
            Some(_) => continue,
            None => panic!("dropped without a close frame"),
        }
    };
    assert_eq!(u16::from(close.code), 1012, "reconnect elsewhere: {close:?}");
    let status = wait_exit(&mut herald, Duration::from_secs(15)).await;
    assert!(status.success(), "exits cleanly: {status:?}");
}

/// The owner of every lease still held (a released lease has `expires_ms` 0), one entry per partition.
fn live_owners(values: &[(String, bytes::Bytes)]) -> Vec<String> {
    values
        .iter()
        .filter_map(|(_, v)| serde_json::from_slice::<serde_json::Value>(v).ok())
        .filter(|v| v["expires_ms"].as_u64().unwrap_or(0) > 0)
        .filter_map(|v| v["owner"].as_str().map(str::to_owned))
        .collect()
}

fn held_by(values: &[(String, bytes::Bytes)], owner: &str) -> usize {
    live_owners(values).iter().filter(|o| *o == owner).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_sequencer_hands_its_partitions_over_at_once() {
    let nats = herald_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    // a lease far longer than the test waits: a takeover inside the wait means a release
    let env = |addr: std::net::SocketAddr| {
        vec![
            ("HERALD_NATS_URL", nats.url.clone()),
            ("HERALD_DATA_DIR", dir.path().join("data").display().to_string()),
            ("HERALD_PARTITIONS", "4".to_owned()),
            ("HERALD_LEASE_TTL_MS", "60000".to_owned()),
            ("HERALD_HTTP_ADDR", addr.to_string()),
        ]
    };
    let (a, b) = (free_addr(), free_addr());
    let mut first = Process::spawn("seq-first", "sequencer", &env(a), dir.path());
    wait_healthy(a).await;
    let bus = NatsBus::connect(&NatsConfig::new(&nats.url, 4)).await.unwrap();
    herald_testkit::eventually(
        Duration::from_secs(30),
        "the first sequencer holds every partition",
        || {
            let bus = &bus;
            async move {
                let leases = bus.kv_scan(Bucket::Leases, "lease.sequencer.").await.ok()?;
                (leases.len() == 4 && held_by(&leases, "seq-first") == 4).then_some(())
            }
        },
    )
    .await;
    let _second = Process::spawn("seq-second", "sequencer", &env(b), dir.path());
    wait_healthy(b).await;
    sigterm(&mut first);
    assert!(wait_exit(&mut first, Duration::from_secs(15)).await.success());
    // every one of the four partitions, within a quarter of the 60 s lease: only a release explains that
    herald_testkit::eventually(
        Duration::from_secs(15),
        "the second sequencer holds all four partitions, long before the lease expires",
        || {
            let bus = &bus;
            async move {
                let leases = bus.kv_scan(Bucket::Leases, "lease.sequencer.").await.ok()?;
                let all = held_by(&leases, "seq-second") == 4 && live_owners(&leases).len() == 4;
                all.then_some(())
            }
        },
    )
    .await;
}
