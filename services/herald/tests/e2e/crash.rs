//! Crash tests: `kill -9` of the sequencer that owns a conversation (cluster, separate
//! processes) and of the all-in-one process; nothing acknowledged is lost or duplicated, and a
//! retry after the crash answers the original message.

use crate::support::{Api, Process, SECRET, free_addr, stored_log, wait_healthy};
use herald_bus::nats::{NatsBus, NatsConfig};
use herald_bus::{Bucket, Bus};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MESSAGES: usize = 2000;
const SENDERS: usize = 16;
const KILL_AFTER: usize = 500;

type Acked = Arc<Mutex<HashMap<String, (String, u64)>>>;

/// One client sends `MESSAGES` messages with 16 requests in flight, retrying each with its key
/// until acknowledged. Returns the acknowledgements by key.
fn start_sending(api: Api, token: String, conv: String, acked: Acked) -> Vec<tokio::task::JoinHandle<()>> {
    let next = Arc::new(AtomicUsize::new(0));
    (0..SENDERS)
        .map(|_| {
            let (api, token, conv, acked, next) =
                (api.clone(), token.clone(), conv.clone(), acked.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= MESSAGES {
                        return;
                    }
                    let key = format!("key-{i}");
                    let ack = api.send_until_acked(&token, &conv, &key, &format!("message {i}")).await;
                    acked.lock().unwrap().insert(key, ack);
                }
            })
        })
        .collect()
}

async fn wait_for_acks(acked: &Acked, count: usize) {
    herald_testkit::eventually(Duration::from_secs(120), "acknowledgements", || {
        let n = acked.lock().unwrap().len();
        std::future::ready((n >= count).then_some(()))
    })
    .await;
}

/// Every acknowledged message is in the log exactly once, `Seq` is 1..=N without gaps, and a
/// retry after the crash answers the original `MsgID` and `Seq`.
async fn verify(api: &Api, token: &str, conv: &str, data_dir: &Path, acked: &Acked) {
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), MESSAGES, "every send was acknowledged");
    let log = stored_log(data_dir, conv).await;
    let seqs: Vec<u64> = log.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=MESSAGES as u64).collect::<Vec<_>>(),
        "Seq is contiguous and each message stored once"
    );
    let keys: HashSet<&str> = log.iter().map(|r| r.idempotency_key.as_str()).collect();
    assert_eq!(keys.len(), MESSAGES, "no key stored twice");
    let by_key: HashMap<String, (String, u64)> = log
        .iter()
        .map(|r| (r.client_msg_id.clone().unwrap(), (r.msg_id.to_string(), r.seq)))
        .collect();
    for (key, ack) in &acked {
        assert_eq!(
            by_key.get(key),
            Some(ack),
            "acknowledged {key} is stored as acknowledged"
        );
    }
    for i in (0..MESSAGES).step_by(97) {
        let key = format!("key-{i}");
        let again = api.send_until_acked(token, conv, &key, "retried").await;
        assert_eq!(&again, &acked[&key], "a retry of {key} answers the original");
    }
    assert_eq!(
        stored_log(data_dir, conv).await.len(),
        MESSAGES,
        "retries stored nothing new"
    );
}

async fn owner_of_partition(nats_url: &str, partitions: u32, conv: &str) -> String {
    let bus = NatsBus::connect(&NatsConfig::new(nats_url, partitions)).await.unwrap();
    let app = herald_protocol::AppId::parse("default").unwrap();
    let partition =
        herald_protocol::partition::partition_of(&app, &herald_protocol::ConvId::parse(conv).unwrap(), partitions);
    let key = format!("lease.sequencer.{partition}");
    let entry = bus
        .kv_get(Bucket::Leases, &key)
        .await
        .unwrap()
        .expect("partition is leased");
    let value: serde_json::Value = serde_json::from_slice(&entry.value).unwrap();
    value["owner"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_survives_kill9_of_the_owning_sequencer() {
    let nats = herald_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let env = |addr: std::net::SocketAddr| {
        vec![
            ("HERALD_NATS_URL", nats.url.clone()),
            ("HERALD_DATA_DIR", data_dir.display().to_string()),
            ("HERALD_PARTITIONS", "8".to_owned()),
            ("HERALD_LEASE_TTL_MS", "2000".to_owned()),
            ("HERALD_ACK_TIMEOUT_MS", "2500".to_owned()),
            ("HERALD_HTTP_ADDR", addr.to_string()),
        ]
    };
    let addrs: Vec<_> = (0..4).map(|_| free_addr()).collect();
    let mut sequencers = HashMap::new();
    for (name, addr) in [("seq-a", addrs[0]), ("seq-b", addrs[1])] {
        sequencers.insert(
            name.to_owned(),
            Process::spawn(name, "sequencer", &env(addr), dir.path()),
        );
        wait_healthy(addr).await;
    }
    let _delivery = Process::spawn("delivery-1", "delivery", &env(addrs[2]), dir.path());
    let _gateway = Process::spawn("gateway-1", "gateway", &env(addrs[3]), dir.path());
    wait_healthy(addrs[2]).await;
    wait_healthy(addrs[3]).await;

    let api = Api::new(addrs[3]);
    api.unlimited_sends().await;
    let token = api.token("alice", 1).await;
    let conv = api.create_group(&token, &["bob"]).await;
    let mut bob = api.ws(&api.token("bob", 1).await).await;
    // both sequencers share the partitions before the crash
    let owner = herald_testkit::eventually(Duration::from_secs(20), "partitions shared by both sequencers", || {
        let (url, conv) = (nats.url.clone(), conv.clone());
        async move {
            let bus = NatsBus::connect(&NatsConfig::new(&url, 8)).await.ok()?;
            let owners: HashSet<String> = bus
                .kv_scan(Bucket::Leases, "lease.sequencer.")
                .await
                .ok()?
                .iter()
                .filter_map(|(_, v)| {
                    serde_json::from_slice::<serde_json::Value>(v).ok()?["owner"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect();
            (owners.len() == 2).then_some(())?;
            Some(owner_of_partition(&url, 8, &conv).await)
        }
    })
    .await;

    let acked: Acked = Arc::default();
    let senders = start_sending(api.clone(), token.clone(), conv.clone(), acked.clone());
    wait_for_acks(&acked, KILL_AFTER).await;
    let before = acked.lock().unwrap().len();
    sequencers.get_mut(&owner).unwrap().kill9();
    let killed_at = Instant::now();
    // the first acknowledgement of a message sequenced by the survivor
    herald_testkit::eventually(Duration::from_secs(30), "the survivor takes over", || {
        let n = acked.lock().unwrap().len();
        std::future::ready((n > before + SENDERS).then_some(()))
    })
    .await;
    let takeover = killed_at.elapsed();
    eprintln!("takeover: sends acknowledged again {takeover:?} after kill -9 of {owner} (lease TTL 2 s)");
    for sender in senders {
        sender.await.unwrap();
    }
    verify(&api, &token, &conv, &data_dir, &acked).await;
    assert_ne!(
        owner_of_partition(&nats.url, 8, &conv).await,
        owner,
        "the partition moved"
    );

    // bob's connection saw every message, in order (delivery at least once: duplicates dropped by Seq)
    let mut seen = 0u64;
    while seen < MESSAGES as u64 {
        let seq = bob.next_message().await["Seq"].as_u64().unwrap();
        if seq <= seen {
            continue;
        }
        assert_eq!(seq, seen + 1, "bob's pushes arrive in Seq order without gaps");
        seen = seq;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_in_one_survives_kill9_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let addr = free_addr();
    let env = vec![
        ("HERALD_DATA_DIR", data_dir.display().to_string()),
        ("HERALD_HTTP_ADDR", addr.to_string()),
        ("HERALD_ACK_TIMEOUT_MS", "2500".to_owned()),
    ];
    let mut herald = Process::spawn("up-1", "up", &env, dir.path());
    wait_healthy(addr).await;
    let api = Api::new(addr);
    api.unlimited_sends().await;
    let token = api.token("alice", 1).await;
    let conv = api.create_group(&token, &["bob"]).await;

    let acked: Acked = Arc::default();
    let senders = start_sending(api.clone(), token.clone(), conv.clone(), acked.clone());
    wait_for_acks(&acked, KILL_AFTER).await;
    herald.kill9();
    let _restarted = Process::spawn("up-2", "up", &env, dir.path());
    wait_healthy(addr).await;
    for sender in senders {
        sender.await.unwrap();
    }
    // the token minted before the crash still works: the app's key is in the store
    verify(&api, &token, &conv, &data_dir, &acked).await;
    let (status, _) = api
        .post("/inner/get_token", SECRET, serde_json::json!({"session": "x"}))
        .await;
    assert_eq!(status, 200);
}
