//! The bus conformance suite: every backend runs it against a real instance (in-process, and a
//! `nats-server` spawned on a free port). Panics name the broken promise.

use crate::ownership::{self, Grant, OwnershipConfig};
use crate::{Bucket, Bus, Log, Outgoing, Payload, Published};
use bytes::Bytes;
use herald_protocol::{AppId, GatewayId, SessionId};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Polls `check` until it holds or `within` passes.
pub async fn eventually<F: FnMut() -> bool>(within: Duration, what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run(bus: Arc<dyn Bus>) {
    let run = format!("{:x}", herald_protocol::timefmt::now_nanos());
    logs_keep_order_and_resume(bus.as_ref(), &run).await;
    logs_dedupe(bus.as_ref(), &run).await;
    batches_dedupe_whole_and_repeats_alone(bus.as_ref(), &run).await;
    batches_of_several_partitions(bus.as_ref(), &run).await;
    a_batch_larger_than_one_message(bus.as_ref(), &run).await;
    trace_context_travels(bus.as_ref(), &run).await;
    gateway_inbox(bus.as_ref(), &run).await;
    key_value(bus.as_ref(), &run).await;
    routes(bus.as_ref(), &run).await;
    rooms(bus.as_ref(), &run).await;
    checkpoints_only_move_forward(bus.as_ref(), &run).await;
    ownership_moves_on_failure(bus.clone(), &run).await;
}

/// A stale owner that wakes up late cannot rewind a checkpoint, and concurrent writers end at
/// the highest position any of them wrote.
async fn checkpoints_only_move_forward(bus: &dyn Bus, run: &str) {
    let role = format!("cp{run}");
    assert_eq!(ownership::load_checkpoint(bus, &role, 0).await.unwrap(), 0);
    ownership::store_checkpoint(bus, &role, 0, 10).await.unwrap();
    ownership::store_checkpoint(bus, &role, 0, 5).await.unwrap();
    assert_eq!(
        ownership::load_checkpoint(bus, &role, 0).await.unwrap(),
        10,
        "checkpoints: an older position never rewinds a newer one"
    );
    let writers = (11..=18).map(|position| ownership::store_checkpoint(bus, &role, 0, position));
    for written in futures::future::join_all(writers).await {
        written.unwrap();
    }
    assert_eq!(
        ownership::load_checkpoint(bus, &role, 0).await.unwrap(),
        18,
        "checkpoints: racing writers end at the highest position"
    );
}

fn outgoing(partition: u32, id: String) -> Outgoing {
    Outgoing {
        partition,
        // a value: handed over as it is in-process, serialized on NATS; read back the same
        payload: Payload::value(id.clone()),
        dedupe_id: id,
        trace: None,
        repeat: false,
    }
}

async fn logs_keep_order_and_resume(bus: &dyn Bus, run: &str) {
    let partition = bus.partitions() - 1;
    let batch: Vec<_> = (0..200)
        .map(|i| outgoing(partition, format!("{run}-order-{i}")))
        .collect();
    let outcomes = bus.publish(Log::Commands, batch).await;
    let positions: Vec<u64> = outcomes
        .into_iter()
        .map(|o| match o.expect("publish: stored") {
            Published::Stored(p) => p,
            Published::Duplicate => panic!("publish: fresh ids are not duplicates"),
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "publish: positions increase in order"
    );
    // another partition's traffic stays out of this partition's reader
    assert!(
        bus.partitions() >= 2,
        "the suite needs two partitions to check isolation"
    );
    let other = bus
        .publish(Log::Commands, vec![outgoing(0, format!("{run}-other"))])
        .await;
    assert!(
        matches!(other.as_slice(), [Ok(Published::Stored(_))]),
        "publish: the other partition's entry is stored, so its absence below means isolation"
    );

    let mut reader = bus.read(Log::Commands, partition, positions[0] - 1).await.unwrap();
    assert!(
        reader.replay_through() >= positions[199],
        "read: what was published before the reader started may be a replay"
    );
    let mut seen = Vec::new();
    while seen.len() < 200 {
        let batch = tokio::time::timeout(Duration::from_secs(10), reader.next_batch(64))
            .await
            .expect("read: entries arrive")
            .unwrap();
        seen.extend(batch);
    }
    let payloads: Vec<String> = seen
        .iter()
        .map(|e| e.payload.clone().decode::<String>().unwrap())
        .collect();
    let expected: Vec<String> = (0..200).map(|i| format!("{run}-order-{i}")).collect();
    assert_eq!(
        payloads, expected,
        "read: a partition is read in publish order, nothing else"
    );
    reader.done_through(seen[99].position);
    drop(reader);

    let mut resumed = bus.read(Log::Commands, partition, seen[99].position).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), resumed.next_batch(1))
        .await
        .expect("resume")
        .unwrap();
    assert_eq!(
        first[0].payload.clone().decode::<String>().unwrap(),
        format!("{run}-order-100"),
        "read: resumes after the given position"
    );
}

async fn logs_dedupe(bus: &dyn Bus, run: &str) {
    let id = format!("{run}-dedupe");
    let first = bus.publish(Log::Events, vec![outgoing(0, id.clone())]).await;
    assert!(matches!(first[0], Ok(Published::Stored(_))), "dedupe: first is stored");
    let again = bus.publish(Log::Events, vec![outgoing(0, id)]).await;
    assert!(
        matches!(again[0], Ok(Published::Duplicate)),
        "dedupe: same id is a duplicate"
    );
}

/// A batch published again whole is dropped whole; an entry marked `repeat` is compared on its
/// own, even among fresh entries, with what was published alone (a NATS log packs a batch and
/// compares whole packs).
async fn batches_dedupe_whole_and_repeats_alone(bus: &dyn Bus, run: &str) {
    let batch = || {
        (0..20)
            .map(|i| outgoing(0, format!("{run}-batch-{i}")))
            .collect::<Vec<_>>()
    };
    let first = bus.publish(Log::Events, batch()).await;
    assert!(
        first.iter().all(|o| matches!(o, Ok(Published::Stored(_)))),
        "dedupe: a fresh batch is stored"
    );
    let again = bus.publish(Log::Events, batch()).await;
    assert!(
        again.iter().all(|o| matches!(o, Ok(Published::Duplicate))),
        "dedupe: the same batch again is a duplicate, all of it"
    );
    // published alone first, as an event whose batch held nothing else
    let alone = bus
        .publish(Log::Events, vec![outgoing(0, format!("{run}-alone"))])
        .await;
    assert!(matches!(alone[0], Ok(Published::Stored(_))), "dedupe: stored alone");
    let mut repeated = outgoing(0, format!("{run}-alone"));
    repeated.repeat = true;
    let mixed = vec![
        outgoing(0, format!("{run}-fresh-a")),
        repeated,
        outgoing(0, format!("{run}-fresh-b")),
    ];
    let outcomes = bus.publish(Log::Events, mixed).await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [Ok(Published::Stored(a)), Ok(Published::Duplicate), Ok(Published::Stored(b))] if a < b
        ),
        "dedupe: a repeat inside a batch is found, its neighbours stored in order: {outcomes:?}"
    );
}

/// Entries of two partitions interleaved in one batch: each partition reads back its own, in
/// order, each with its trace and the id it was published under, and a reader resuming after
/// any of them starts right after it.
async fn batches_of_several_partitions(bus: &dyn Bus, run: &str) {
    let trace = |i: u32| {
        i.is_multiple_of(3)
            .then(|| format!("00-{:032x}-{:016x}-01", i + 1, i + 1))
    };
    let batch: Vec<Outgoing> = (0..60)
        .map(|i| {
            let mut message = outgoing(i % 2, format!("{run}-mixed-{i}"));
            message.trace = trace(i);
            message
        })
        .collect();
    let positions: Vec<u64> = bus
        .publish(Log::Commands, batch)
        .await
        .into_iter()
        .map(|o| match o {
            Ok(Published::Stored(p)) => p,
            other => panic!("mixed batch: stored, got {other:?}"),
        })
        .collect();
    for partition in 0..2 {
        let mine: Vec<(u32, u64)> = (0..60u32)
            .zip(positions.iter().copied())
            .filter(|(i, _)| i % 2 == partition)
            .collect();
        assert!(
            mine.windows(2).all(|w| w[0].1 < w[1].1),
            "mixed batch: a partition's positions increase in order"
        );
        let entries = read_n(bus, Log::Commands, partition, mine[0].1 - 1, mine.len()).await;
        let got: Vec<(u64, String, Option<String>, Option<&str>)> = entries
            .iter()
            .map(|e| {
                let payload = e.payload.clone().decode::<String>().unwrap();
                (e.position, payload, e.trace.clone(), e.dedupe_id())
            })
            .collect();
        let ids: Vec<String> = mine.iter().map(|(i, _)| format!("{run}-mixed-{i}")).collect();
        let expected: Vec<(u64, String, Option<String>, Option<&str>)> = mine
            .iter()
            .zip(&ids)
            .map(|((i, p), id)| (*p, id.clone(), trace(*i), Some(id.as_str())))
            .collect();
        assert_eq!(
            got, expected,
            "mixed batch: partition {partition} reads its own, in order, each with its trace and id"
        );
        for k in [0, 7, mine.len() - 2] {
            let next = read_n(bus, Log::Commands, partition, mine[k].1, 1).await;
            assert_eq!(
                next[0].position,
                mine[k + 1].1,
                "mixed batch: a reader resuming after entry {k} starts at the next"
            );
        }
    }
}

/// A batch larger than one bus message may carry (NATS: `max_payload`, 1 MiB by default) is
/// stored whole and read back in order.
async fn a_batch_larger_than_one_message(bus: &dyn Bus, run: &str) {
    let partition = 1;
    let body = "x".repeat(4096);
    let batch: Vec<Outgoing> = (0..600)
        .map(|i| Outgoing {
            payload: Payload::value(format!("{i}:{body}")),
            ..outgoing(partition, format!("{run}-large-{i}"))
        })
        .collect();
    let outcomes = bus.publish(Log::Commands, batch).await;
    let Ok(Published::Stored(first)) = outcomes[0] else {
        panic!("large batch: stored, got {:?}", outcomes[0]);
    };
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(Published::Stored(_)))),
        "large batch: every entry stored"
    );
    let entries = read_n(bus, Log::Commands, partition, first - 1, 600).await;
    assert_eq!(entries[0].dedupe_id(), Some(format!("{run}-large-0").as_str()));
    let order: Vec<usize> = entries
        .iter()
        .map(|e| {
            let text = e.payload.clone().decode::<String>().unwrap();
            text.split(':').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(
        order,
        (0..600).collect::<Vec<_>>(),
        "large batch: read back whole, in order"
    );
}

/// The first `n` entries of a partition after `after`.
async fn read_n(bus: &dyn Bus, log: Log, partition: u32, after: u64, n: usize) -> Vec<crate::LogEntry> {
    let mut reader = bus.read(log, partition, after).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < n {
        let batch = tokio::time::timeout(Duration::from_secs(10), reader.next_batch(n - seen.len()))
            .await
            .expect("read: entries arrive")
            .unwrap();
        seen.extend(batch);
    }
    seen
}

async fn gateway_inbox(bus: &dyn Bus, run: &str) {
    let gateway = GatewayId::parse(format!("gw{run}")).unwrap();
    let mut inbox = bus.gateway_inbox(&gateway).await.unwrap();
    for i in 0..10 {
        bus.send_to_gateway(&gateway, Payload::value(format!("m{i}")))
            .await
            .unwrap();
    }
    for i in 0..10 {
        let got = tokio::time::timeout(Duration::from_secs(5), inbox.recv())
            .await
            .expect("inbox: arrives");
        let got = got.expect("inbox: open").decode::<String>().unwrap();
        assert_eq!(got, format!("m{i}"), "inbox: in order");
    }
}

async fn key_value(bus: &dyn Bus, run: &str) {
    let key = format!("test.{run}.a");
    let rev = bus
        .kv_create(Bucket::Leases, &key, Bytes::from("1"))
        .await
        .unwrap()
        .expect("kv: create");
    assert_eq!(
        bus.kv_create(Bucket::Leases, &key, Bytes::from("2")).await.unwrap(),
        None,
        "kv: create once"
    );
    assert_eq!(
        bus.kv_update(Bucket::Leases, &key, Bytes::from("3"), rev + 1000)
            .await
            .unwrap(),
        None,
        "kv: stale revision refused"
    );
    let rev2 = bus
        .kv_update(Bucket::Leases, &key, Bytes::from("4"), rev)
        .await
        .unwrap()
        .expect("kv: update");
    assert!(rev2 > rev, "kv: revisions grow");
    let got = bus.kv_get(Bucket::Leases, &key).await.unwrap().unwrap();
    assert_eq!((got.value, got.revision), (Bytes::from("4"), rev2));
    bus.kv_put(Bucket::Leases, &format!("test.{run}.b"), Bytes::from("5"))
        .await
        .unwrap();
    let scanned: BTreeSet<String> = bus
        .kv_scan(Bucket::Leases, &format!("test.{run}."))
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        scanned,
        BTreeSet::from([format!("test.{run}.a"), format!("test.{run}.b")]),
        "kv: scan by prefix"
    );
    assert_eq!(
        bus.kv_get(Bucket::Checkpoints, &key).await.unwrap(),
        None,
        "kv: buckets are separate"
    );
}

async fn routes(bus: &dyn Bus, run: &str) {
    let table = bus.route_table().await.unwrap();
    let app = AppId::parse(format!("app-{run}")).unwrap();
    let alice = SessionId::parse("alice").unwrap();
    let g1 = GatewayId::parse(format!("g1{run}")).unwrap();
    let g2 = GatewayId::parse(format!("g2{run}")).unwrap();
    bus.route_add(&app, &alice, &g1).await.unwrap();
    bus.route_add(&app, &alice, &g2).await.unwrap();
    let sessions = [alice.clone()];
    eventually(Duration::from_secs(5), "routes: both gateways visible", || {
        table.plan(&app, &sessions).len() == 2
    })
    .await;
    bus.route_remove(&app, &alice, &g1).await.unwrap();
    eventually(Duration::from_secs(5), "routes: removal visible", || {
        let plan = table.plan(&app, &sessions);
        plan.len() == 1 && plan.contains_key(&g2)
    })
    .await;
}

async fn ownership_moves_on_failure(bus: Arc<dyn Bus>, run: &str) {
    let role: &'static str = Box::leak(format!("t{run}").into_boxed_str());
    let held: Arc<Mutex<Vec<(String, Grant)>>> = Arc::default();
    let spawn_owner = |name: &str| {
        let stop = CancellationToken::new();
        let config = OwnershipConfig {
            role,
            instance: name.to_owned(),
            lease_ttl: Duration::from_millis(1500),
            partitions: bus.partitions(),
        };
        let held = held.clone();
        let owner = name.to_owned();
        let task = tokio::spawn(ownership::run(
            bus.clone(),
            config,
            stop.clone(),
            move |grant: Grant| {
                held.lock().unwrap().push((owner.clone(), grant.clone()));
                async move { grant.cancel.cancelled().await }
            },
        ));
        (stop, task)
    };
    let live = |held: &Arc<Mutex<Vec<(String, Grant)>>>| -> Vec<(String, u32)> {
        held.lock()
            .unwrap()
            .iter()
            .filter(|(_, g)| g.is_valid())
            .map(|(o, g)| (o.clone(), g.partition))
            .collect()
    };
    let partitions = bus.partitions() as usize;
    // no partition ever has two valid grants: sampled every few milliseconds, not just at the end
    let exclusive = |held: &Arc<Mutex<Vec<(String, Grant)>>>| {
        let live = live(held);
        let distinct: BTreeSet<u32> = live.iter().map(|(_, p)| *p).collect();
        assert_eq!(
            distinct.len(),
            live.len(),
            "ownership: a partition has two valid owners at once: {live:?}"
        );
        live
    };
    let watch = |held: Arc<Mutex<Vec<(String, Grant)>>>,
                 what: &'static str,
                 done: fn(&[(String, u32)], usize) -> bool| {
        async move {
            let started = tokio::time::Instant::now();
            loop {
                if done(&exclusive(&held), partitions) {
                    return started.elapsed();
                }
                assert!(started.elapsed() < Duration::from_secs(15), "ownership: {what}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let (_stop_a, task_a) = spawn_owner("a");
    let (stop_b, task_b) = spawn_owner("b");
    watch(
        held.clone(),
        "every partition held exactly once, shared",
        |live, partitions| {
            let by_a = live.iter().filter(|(o, _)| o == "a").count();
            live.len() == partitions && (partitions < 2 || (by_a > 0 && by_a < partitions))
        },
    )
    .await;
    // `a` dies without releasing anything (its task is aborted: no release, no membership
    // update); `b` takes every partition once the leases expire, and never overlaps with `a`
    task_a.abort();
    let _ = task_a.await;
    watch(
        held.clone(),
        "b takes over every partition of a dead owner",
        |live, partitions| live.len() == partitions && live.iter().all(|(o, _)| o == "b"),
    )
    .await;
    // a few more samples with b alone
    for _ in 0..50 {
        exclusive(&held);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let epochs: Vec<u64> = held.lock().unwrap().iter().map(|(_, g)| g.epoch).collect();
    let distinct: BTreeSet<u64> = epochs.iter().copied().collect();
    assert_eq!(distinct.len(), epochs.len(), "ownership: every grant has its own epoch");
    stop_b.cancel();
    task_b.await.unwrap();
}

async fn rooms(bus: &dyn Bus, run: &str) {
    let app = AppId::parse(format!("app-{run}")).unwrap();
    let mut first = bus.room_subscribe(&app, "lobby").await.unwrap();
    let mut second = bus.room_subscribe(&app, "lobby").await.unwrap();
    let mut elsewhere = bus.room_subscribe(&app, "other room").await.unwrap();
    // a subscription is live once a publish reaches it
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        bus.room_publish(&app, "lobby", Bytes::from("hi")).await.unwrap();
        let a = tokio::time::timeout(Duration::from_millis(200), first.recv()).await;
        let b = tokio::time::timeout(Duration::from_millis(200), second.recv()).await;
        if matches!((a, b), (Ok(Some(_)), Ok(Some(_)))) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "rooms: subscribers receive");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), elsewhere.recv())
            .await
            .is_err(),
        "rooms: other rooms hear nothing"
    );
    drop(first);
    bus.room_publish(&app, "lobby", Bytes::from("after")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if second.recv().await == Some(Bytes::from("after")) {
                return;
            }
        }
    })
    .await;
    assert!(
        got.is_ok(),
        "rooms: the other subscriber still receives after one leaves"
    );
}

async fn trace_context_travels(bus: &dyn Bus, run: &str) {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned();
    let mut message = outgoing(1 % bus.partitions(), format!("{run}-traced"));
    message.trace = Some(traceparent.clone());
    let stored = bus.publish(Log::Events, vec![message]).await;
    let Ok(Published::Stored(position)) = stored[0] else {
        panic!("trace: stored")
    };
    let mut reader = bus.read(Log::Events, 1 % bus.partitions(), position - 1).await.unwrap();
    let entries = tokio::time::timeout(Duration::from_secs(10), reader.next_batch(1))
        .await
        .expect("trace: read")
        .unwrap();
    assert_eq!(
        entries[0].trace.as_deref(),
        Some(traceparent.as_str()),
        "trace: the traceparent travels with the entry"
    );
}
