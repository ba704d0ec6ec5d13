//! Runs the bus conformance suite on the in-process bus and on a real `nats-server`.

use herald_bus::inproc::InprocBus;
use herald_bus::nats::{NatsBus, NatsConfig};
use std::sync::Arc;

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
