//! Runs the bus conformance suite on the in-process bus and on a real `nats-server`.

use async_nats::jetstream::stream;
use futures::StreamExt;
use herald_bus::inproc::InprocBus;
use herald_bus::nats::{NatsBus, NatsConfig};
use herald_bus::{Bus, Log, Outgoing, Payload, Published, RouteKey};
use herald_protocol::{AppId, GatewayId, SessionId};
use std::collections::HashMap;
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

/// The leases bucket forgets keys nobody writes (a stopped gateway's heartbeat, a gone
/// member): a bucket made before it had an age gets one when a process connects, and the other
/// buckets keep theirs forever. Its scans create no consumer (a watch per scan churned the meta
/// leader several times a second per process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leases_bucket_ages_out_dead_keys_and_scans_without_consumers() {
    let server = herald_testkit::NatsServer::start();
    let js = async_nats::jetstream::new(async_nats::connect(&server.url).await.unwrap());
    js.create_key_value(async_nats::jetstream::kv::Config {
        bucket: herald_bus::nats::LEASES_BUCKET.into(),
        history: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let bus = NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.unwrap();
    let age = |bucket: &'static str| {
        let js = js.clone();
        async move {
            let mut stream = js.get_stream(format!("KV_{bucket}")).await.unwrap();
            stream.info().await.unwrap().config.max_age
        }
    };
    assert_eq!(
        age(herald_bus::nats::LEASES_BUCKET).await,
        herald_bus::nats::LEASES_MAX_AGE
    );
    assert_eq!(age(herald_bus::nats::CHECKPOINTS_BUCKET).await, Duration::ZERO);
    assert_eq!(age(herald_bus::nats::ROUTES_BUCKET).await, Duration::ZERO);

    let leases = format!("KV_{}", herald_bus::nats::LEASES_BUCKET);
    let consumers = || {
        let (js, leases) = (js.clone(), leases.clone());
        async move {
            js.get_stream(leases)
                .await
                .unwrap()
                .info()
                .await
                .unwrap()
                .state
                .consumer_count
        }
    };
    for i in 0..3 {
        bus.kv_put(herald_bus::Bucket::Leases, &format!("member.t.{i}"), "x".into())
            .await
            .unwrap();
    }
    for _ in 0..5 {
        let listed = bus.kv_scan(herald_bus::Bucket::Leases, "member.t.").await.unwrap();
        assert_eq!(listed.len(), 3);
    }
    assert_eq!(consumers().await, 0, "a scan leaves no consumer behind");
}

/// A deployment upgraded in place: its leases bucket predates the key age, and each role's user
/// of `nats/users.conf` must still connect, and give the bucket its age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_connects_to_a_leases_bucket_made_before_its_key_age() {
    const PASSWORDS: &[(&str, &str)] = &[
        ("HERALD_NATS_GATEWAY_PASSWORD", "gw-pass-0123"),
        ("HERALD_NATS_SEQUENCER_PASSWORD", "seq-pass-4567"),
        ("HERALD_NATS_DELIVERY_PASSWORD", "dlv-pass-89ab"),
    ];
    let users = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../nats/users.conf")).unwrap();
    let server = herald_testkit::NatsServer::start_with_config(&users, PASSWORDS);
    let client = async_nats::ConnectOptions::with_user_and_password("gateway".into(), "gw-pass-0123".into())
        .custom_inbox_prefix("_INBOX_gateway")
        .connect(&server.url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    js.create_key_value(async_nats::jetstream::kv::Config {
        bucket: herald_bus::nats::LEASES_BUCKET.into(),
        history: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    for (role, (_, password)) in ["gateway", "sequencer", "delivery"].into_iter().zip(PASSWORDS) {
        let mut config = NatsConfig::new(&server.url, 4);
        config.auth = herald_bus::nats::NatsAuth::UserPassword {
            user: role.into(),
            password: (*password).into(),
        };
        config.inbox_prefix = Some(format!("_INBOX_{role}"));
        NatsBus::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("{role} connects: {e}"));
    }
    let mut leases = js
        .get_stream(format!("KV_{}", herald_bus::nats::LEASES_BUCKET))
        .await
        .unwrap();
    assert_eq!(
        leases.info().await.unwrap().config.max_age,
        herald_bus::nats::LEASES_MAX_AGE
    );
}

/// A stream's messages on subject `herald.cmd.<partition>`.
async fn messages_on(url: &str, partition: u32) -> u64 {
    let client = async_nats::connect(url).await.unwrap();
    let stream = async_nats::jetstream::new(client)
        .get_stream(herald_bus::nats::COMMANDS_STREAM)
        .await
        .unwrap();
    let subject = format!("herald.cmd.{partition}");
    let mut subjects = stream.info_with_subjects(subject.clone()).await.unwrap();
    let mut count = 0;
    while let Some((name, n)) = subjects.next().await.transpose().unwrap() {
        if name == subject {
            count += n as u64;
        }
    }
    count
}

fn batch(partition: u32, n: usize) -> Vec<Outgoing> {
    (0..n)
        .map(|i| Outgoing {
            partition,
            dedupe_id: format!("packed-{partition}-{i}"),
            payload: Payload::value(format!("entry {i}")),
            trace: None,
            repeat: false,
        })
        .collect()
}

async fn positions_of(bus: &NatsBus, partition: u32, n: usize) -> Vec<u64> {
    bus.publish(Log::Commands, batch(partition, n))
        .await
        .into_iter()
        .map(|o| match o {
            Ok(Published::Stored(p)) => p,
            other => panic!("stored, got {other:?}"),
        })
        .collect()
}

/// Streams created now carry a partition's entries of one batch in one JetStream message (a
/// pack): the server's cost is per message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_one_partition_is_one_stream_message() {
    let server = herald_testkit::NatsServer::start();
    let bus = NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.unwrap();
    let first = positions_of(&bus, 2, 50).await;
    assert_eq!(messages_on(&server.url, 2).await, 1, "one pack");
    let second = positions_of(&bus, 2, 5).await;
    let read = |after: u64| {
        let bus = &bus;
        async move {
            let mut reader = bus.read(Log::Commands, 2, after).await.unwrap();
            let entries = tokio::time::timeout(Duration::from_secs(10), reader.next_batch(1))
                .await
                .expect("an entry")
                .unwrap();
            entries[0].position
        }
    };
    assert_eq!(read(0).await, first[0], "from the start");
    assert_eq!(
        read(first[49]).await,
        second[0],
        "after a pack's last entry: the next pack"
    );
    assert_eq!(read(first[48]).await, first[49], "inside a pack: its next entry");
}

/// While a reader of this process reads a partition, the process reads back the values it
/// published there (no decoding), from the start or resuming inside a pack; another process
/// reads bytes; all read the same entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publishing_process_reads_back_values() {
    let server = herald_testkit::NatsServer::start();
    let here = NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.unwrap();
    let there = NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.unwrap();
    let _reading = here.read(Log::Commands, 1, 0).await.unwrap();
    let positions = positions_of(&here, 1, 20).await;
    for (bus, from, values) in [(&here, 0, true), (&here, 10, true), (&there, 0, false)] {
        let after = if from == 0 {
            positions[0] - 1
        } else {
            positions[from - 1]
        };
        let mut reader = bus.read(Log::Commands, 1, after).await.unwrap();
        let mut entries = Vec::new();
        while entries.len() < 20 - from {
            let batch = tokio::time::timeout(Duration::from_secs(10), reader.next_batch(20))
                .await
                .expect("entries")
                .unwrap();
            entries.extend(batch);
        }
        assert!(
            entries
                .iter()
                .all(|e| e.payload.as_value::<String>().is_some() == values),
            "values in the publishing process only ({values}, from {from})"
        );
        let texts: Vec<String> = entries.into_iter().map(|e| e.payload.decode().unwrap()).collect();
        let expected: Vec<String> = (from..20).map(|i| format!("entry {i}")).collect();
        assert_eq!(texts, expected, "the same entries (from {from})");
    }
    // a partition no reader of this process reads: nothing kept, the bytes decoded
    let positions = positions_of(&here, 3, 5).await;
    let mut reader = here.read(Log::Commands, 3, positions[0] - 1).await.unwrap();
    let entries = tokio::time::timeout(Duration::from_secs(10), reader.next_batch(5))
        .await
        .expect("entries")
        .unwrap();
    assert!(entries.iter().all(|e| e.payload.as_value::<String>().is_none()));
}

/// A stream created before packs (no numbering in its metadata) keeps one message per entry and
/// positions equal to stream sequences, so the checkpoints recorded against it keep their
/// meaning; one of a numbering this version does not know is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_made_before_packs_keeps_one_message_per_entry() {
    let server = herald_testkit::NatsServer::start();
    let js = async_nats::jetstream::new(async_nats::connect(&server.url).await.unwrap());
    for (name, subjects) in [
        (herald_bus::nats::COMMANDS_STREAM, "herald.cmd.*"),
        (herald_bus::nats::EVENTS_STREAM, "herald.evt.*"),
    ] {
        js.create_stream(stream::Config {
            name: name.into(),
            subjects: vec![subjects.into()],
            max_age: Duration::from_secs(3600),
            duplicate_window: Duration::from_secs(120),
            metadata: HashMap::from([("herald.partitions".to_owned(), "4".to_owned())]),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let bus = NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.unwrap();
    let positions = positions_of(&bus, 2, 50).await;
    assert_eq!(
        positions,
        (1..=50).collect::<Vec<u64>>(),
        "positions are stream sequences"
    );
    assert_eq!(messages_on(&server.url, 2).await, 50, "one message per entry");
    let mut reader = bus.read(Log::Commands, 2, 20).await.unwrap();
    let next = reader.next_batch(1).await.unwrap();
    assert_eq!(next[0].position, 21, "resumes after a stream sequence");
    // the limits are updated in place, the numbering kept
    let mut config = NatsConfig::new(&server.url, 4);
    config.commands.max_age = Duration::from_secs(7200);
    let bus = NatsBus::connect(&config).await.unwrap();
    assert_eq!(
        positions_of(&bus, 3, 2).await,
        vec![51, 52],
        "still one message per entry"
    );

    let mut stream = js.get_stream(herald_bus::nats::EVENTS_STREAM).await.unwrap();
    let mut unknown = stream.info().await.unwrap().config.clone();
    unknown.metadata.insert("herald.positions".into(), "packed-99".into());
    js.update_stream(unknown).await.unwrap();
    let err = NatsBus::connect(&NatsConfig::new(&server.url, 4))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("does not know"), "{err}");
}

/// A gateway's inbox takes messages from its own process as values (no encoding, no trip
/// through the server) and from other processes through its subject; both arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_inbox_takes_values_from_its_process_and_bytes_from_others() {
    use herald_protocol::bus::{Ack, GatewayMessage, Reply};
    let server = herald_testkit::NatsServer::start();
    let here = NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.unwrap();
    let there = NatsBus::connect(&NatsConfig::new(&server.url, 4)).await.unwrap();
    let gateway = GatewayId::parse("g-local").unwrap();
    let mut inbox = here.gateway_inbox(&gateway).await.unwrap();
    assert!(here.carries_values_to(&gateway) && !there.carries_values_to(&gateway));
    let acks = |request| {
        GatewayMessage::Acks(vec![Ack {
            request,
            outcome: Ok(Reply::Done),
        }])
    };
    let mut pass = async |from: &NatsBus, request| {
        herald_bus::send_gateway_message(from, &gateway, acks(request))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), inbox.recv())
            .await
            .expect("arrives")
            .expect("inbox open")
    };
    let local = pass(&here, 1).await;
    assert_eq!(
        local.as_value::<GatewayMessage>(),
        Some(&acks(1)),
        "handed over as a value"
    );
    let remote = pass(&there, 2).await;
    assert!(remote.as_value::<GatewayMessage>().is_none(), "bytes from the server");
    assert_eq!(remote.decode::<GatewayMessage>().unwrap(), acks(2));
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
