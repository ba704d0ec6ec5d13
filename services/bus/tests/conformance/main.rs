//! Runs the bus conformance suite on the in-process bus and on a real `nats-server`.

use herald_bus::inproc::InprocBus;
use herald_bus::nats::{NatsBus, NatsConfig};
use herald_bus::{Bus, RouteKey};
use herald_protocol::{AppId, GatewayId, SessionId};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inproc_bus_passes_the_suite() {
    herald_bus::testsuite::run(Arc::new(InprocBus::new(4))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_bus_passes_the_suite() {
    let server = herald_testkit::NatsServer::start();
    let bus = NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.unwrap();
    herald_bus::testsuite::run(Arc::new(bus)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_refuses_a_changed_partition_count() {
    let server = herald_testkit::NatsServer::start();
    NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.unwrap();
    let err = NatsBus::connect(&NatsConfig::new(&server.url, 8))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("partitions"), "{err}");
}

/// A routing-table replica (of a process connected to `url`) that shows the route of session
/// "before" to `gateway`, written by another process.
struct Replica {
    _follower: NatsBus,
    table: Arc<herald_bus::RouteTable>,
    gateway: GatewayId,
}

fn key(session: &str) -> RouteKey {
    RouteKey {
        app: AppId::parse("a").unwrap(),
        session: SessionId::parse(session).unwrap(),
    }
}

async fn replica_holding_a_route(url: &str) -> Replica {
    let follower = NatsBus::connect(&NatsConfig::new(url, 4)).await.unwrap();
    let table = follower.route_table().await.unwrap();
    let gateway = GatewayId::parse("g1").unwrap();
    let writer = NatsBus::connect(&NatsConfig::new(url, 4)).await.unwrap();
    let before = key("before");
    writer.route_add(&before.app, &before.session, &gateway).await.unwrap();
    herald_testkit::eventually(Duration::from_secs(10), "the route before the fault", || async {
        table.holds(&before, &gateway).then_some(())
    })
    .await;
    Replica {
        _follower: follower,
        table,
        gateway,
    }
}

/// A process's routing-table replica follows its bucket across a `kill -9` and restart of the
/// server: routes written afterwards (by another process) reach it, and removals too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routing_table_replica_survives_a_server_restart() {
    let mut server = herald_testkit::NatsServer::start();
    let replica = replica_holding_a_route(&server.url).await;
    server.kill9();
    server.restart();
    let writer = herald_testkit::eventually(Duration::from_secs(30), "a new connection", || async {
        NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.ok()
    })
    .await;
    routes_reach(&writer, &replica).await;
}

/// Issue 11 item 7: when the replica's watch ends (here: its bucket deleted under it, then
/// created again by the next process to start), the replica starts a new watch instead of
/// freezing, and routes written afterwards reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routing_table_replica_restarts_an_ended_watch() {
    let server = herald_testkit::NatsServer::start();
    let replica = replica_holding_a_route(&server.url).await;
    let client = async_nats::connect(&server.url).await.unwrap();
    async_nats::jetstream::new(client)
        .delete_key_value("herald_routes")
        .await
        .expect("bucket deleted");
    // the next process to start creates the bucket again
    let writer = NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.unwrap();
    routes_reach(&writer, &replica).await;
}

/// Writes route "after" and removes "before" until the replica shows both.
async fn routes_reach(writer: &NatsBus, replica: &Replica) {
    let (added, removed, gateway) = (key("after"), key("before"), &replica.gateway);
    herald_testkit::eventually(Duration::from_secs(30), "routes written later", || async {
        // written until seen: the first writes may meet a server still electing its leaders
        let _ = writer.route_add(&added.app, &added.session, gateway).await;
        let _ = writer.route_remove(&removed.app, &removed.session, gateway).await;
        (replica.table.holds(&added, gateway) && !replica.table.holds(&removed, gateway)).then_some(())
    })
    .await;
}
