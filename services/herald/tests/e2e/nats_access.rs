//! NATS access: the per-role users of `nats/users.conf` keep each role to its subjects, and a
//! cluster whose roles connect as those users still sends and pushes.

use crate::support::{Api, Process, free_addr, wait_healthy};
use bytes::Bytes;
use herald_bus::nats::{NatsAuth, NatsBus, NatsConfig};
use herald_bus::{Bus, Log, Outgoing, Published};
use serde_json::json;
use std::time::Duration;

const PASSWORDS: &[(&str, &str)] = &[
    ("HERALD_NATS_GATEWAY_PASSWORD", "gw-pass-0123"),
    ("HERALD_NATS_SEQUENCER_PASSWORD", "seq-pass-4567"),
    ("HERALD_NATS_DELIVERY_PASSWORD", "dlv-pass-89ab"),
];

/// A nats-server running the shipped per-role users.
fn server_with_role_users() -> herald_testkit::NatsServer {
    let users = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../nats/users.conf"))
        .expect("nats/users.conf");
    herald_testkit::NatsServer::start_with_config(&users, PASSWORDS)
}

fn password(role: &str) -> String {
    let var = format!("HERALD_NATS_{}_PASSWORD", role.to_uppercase());
    PASSWORDS.iter().find(|(k, _)| *k == var).unwrap().1.to_owned()
}

async fn connect_as(url: &str, role: &str) -> NatsBus {
    let mut config = NatsConfig::new(url, 4);
    config.auth = NatsAuth::UserPassword {
        user: role.into(),
        password: password(role),
    };
    config.inbox_prefix = Some(format!("_INBOX_{role}"));
    NatsBus::connect(&config)
        .await
        .expect("the role's user connects and sets up")
}

/// Refused: an error, or no answer at all (the server drops a forbidden publish and says why in
/// its log, which the callers check), within a bound well under the client's own timeouts.
async fn refused<T, E>(operation: impl std::future::Future<Output = Result<T, E>>) -> bool {
    !matches!(tokio::time::timeout(Duration::from_secs(2), operation).await, Ok(Ok(_)))
}

fn violation(nats: &herald_testkit::NatsServer, user: &str, subject: &str) -> bool {
    nats.log().contains(&format!(
        "\"$G/user:{user}\" - Publish Violation - Subject \"{subject}\""
    ))
}

fn one(payload: &'static str, dedupe: &str) -> Vec<Outgoing> {
    vec![Outgoing {
        partition: 0,
        dedupe_id: dedupe.into(),
        payload: Bytes::from_static(payload.as_bytes()).into(),
        trace: None,
        repeat: false,
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateways_credentials_publish_commands_but_not_events() {
    let nats = server_with_role_users();
    let gateway = connect_as(&nats.url, "gateway").await;
    let commands = gateway.publish(Log::Commands, one("a command", "cmd-1")).await;
    assert!(
        matches!(commands[..], [Ok(Published::Stored(_))]),
        "a gateway publishes commands: {commands:?}"
    );
    let forged = async {
        gateway
            .publish(Log::Events, one("a forged event", "evt-1"))
            .await
            .remove(0)
    };
    assert!(refused(forged).await, "a gateway's event publish is refused");
    assert!(
        violation(&nats, "gateway", "herald.evt.0"),
        "the server refused it as a permission violation:\n{}",
        nats.log()
    );
    assert!(
        refused(gateway.read(Log::Commands, 0, 0)).await,
        "a gateway cannot read the commands stream"
    );
    assert!(violation(&nats, "gateway", "$JS.API.CONSUMER.CREATE.HERALD_COMMANDS"));
    let delivery = connect_as(&nats.url, "delivery").await;
    let mut events = delivery.read(Log::Events, 0, 0).await.expect("delivery reads events");
    let sequencer = connect_as(&nats.url, "sequencer").await;
    let sent = sequencer.publish(Log::Events, one("a real event", "evt-2")).await;
    assert!(matches!(sent[..], [Ok(Published::Stored(_))]), "{sent:?}");
    let batch = tokio::time::timeout(Duration::from_secs(10), events.next_batch(10))
        .await
        .expect("an event arrives")
        .expect("the reader runs");
    assert_eq!(
        batch[0].payload.encoded().unwrap(),
        Bytes::from_static(b"a real event"),
        "the forged event is not in the stream"
    );
    // and the other roles are kept to theirs
    let forged = async {
        delivery
            .publish(Log::Commands, one("a forged command", "cmd-2"))
            .await
            .remove(0)
    };
    assert!(refused(forged).await, "a delivery worker cannot publish commands");
    assert!(violation(&nats, "delivery", "herald.cmd.0"));
    assert!(
        refused(sequencer.read(Log::Events, 0, 0)).await,
        "a sequencer cannot read the events stream"
    );
    assert!(violation(&nats, "sequencer", "$JS.API.CONSUMER.CREATE.HERALD_EVENTS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_per_role_users_sends_and_pushes() {
    let nats = server_with_role_users();
    let dir = tempfile::tempdir().unwrap();
    let mut processes = Vec::new();
    let mut addrs = Vec::new();
    for role in ["sequencer", "delivery", "gateway"] {
        let addr = free_addr();
        let env = vec![
            ("HERALD_NATS_URL", nats.url.clone()),
            ("HERALD_NATS_USER", role.to_owned()),
            ("HERALD_NATS_PASSWORD", password(role)),
            ("HERALD_DATA_DIR", dir.path().join("data").display().to_string()),
            ("HERALD_PARTITIONS", "4".to_owned()),
            ("HERALD_HTTP_ADDR", addr.to_string()),
        ];
        processes.push(Process::spawn(&format!("{role}-1"), role, &env, dir.path()));
        // one at a time: the first creates the store and the streams, the others find them
        wait_healthy(addr).await;
        addrs.push(addr);
    }
    let api = Api::new(addrs[2]);
    let alice = api.token("alice", 1).await;
    let bob = api.token("bob", 1).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    let mut bob_ws = api.ws(&bob).await;
    bob_ws.request("ping", json!({})).await;
    let (_, seq) = api
        .send_until_acked(&alice, &conv, "k1", "through restricted users")
        .await;
    assert_eq!(seq, 1);
    let pushed = bob_ws.next_message().await;
    assert_eq!(pushed["Seq"], 1, "{pushed}");
    assert!(pushed.to_string().contains("through restricted users"), "{pushed}");
    let log = nats.log();
    assert!(
        !log.contains("Violation"),
        "no role needed a subject its user may not use:\n{log}"
    );
    drop(processes);
}
