//! Delivery's pure hot functions on the `chat` load's shape: a batch of 512 message events, each
//! for the two members of a 1:1 conversation, 400 sessions routed to one gateway. `push_of`
//! (the one serialization of a push, whatever its audience), `plan_fanout`, and the bus
//! encoding of the resulting delivery batch. Figures in `loadtest/RESULTS.md` ("Hot functions").

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use herald_bus::{RouteKey, RouteTable};
use herald_delivery::{plan_fanout, push_of};
use herald_protocol::bus::{Event, EventBody, GatewayMessage};
use herald_protocol::{AppId, ConvId, GatewayId, MessageRecord, MsgId, SessionId, codec};
use std::hint::black_box;

const CONVERSATIONS: usize = 200;
const BATCH: usize = 512;

fn session(name: String) -> SessionId {
    SessionId::parse(name).unwrap()
}

fn events() -> (Vec<Event>, Vec<Vec<SessionId>>) {
    let app = AppId::parse("bench").unwrap();
    (0..BATCH)
        .map(|n| {
            let i = n % CONVERSATIONS;
            let conv = ConvId::parse(format!("c{i}")).unwrap();
            let record = MessageRecord {
                app: app.clone(),
                conv: conv.clone(),
                seq: n as u64 + 1,
                msg_id: MsgId(7_000_000 + n as u64),
                from: session(format!("a{i}")),
                send_time: 1_700_000_000_000_000_000,
                status: 0,
                msg_type: 1,
                content: "x".repeat(64).into(),
                idempotency_key: format!("k{n}").into(),
                client_msg_id: Some(format!("k{n}").into()),
            };
            let event = Event {
                app: app.clone(),
                conv,
                body: EventBody::Message(record),
            };
            (event, vec![session(format!("a{i}")), session(format!("b{i}"))])
        })
        .unzip()
}

fn routes() -> RouteTable {
    let table = RouteTable::default();
    let gateway = GatewayId::parse("gw").unwrap();
    for i in 0..CONVERSATIONS {
        for name in [format!("a{i}"), format!("b{i}")] {
            let key = RouteKey {
                app: AppId::parse("bench").unwrap(),
                session: session(name),
            };
            table.add(key, gateway.clone());
        }
    }
    table
}

fn bench(c: &mut Criterion) {
    let (events, recipients) = events();
    let traces = vec![None; BATCH];
    let table = routes();
    let mut group = c.benchmark_group("delivery");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("push_of 512 message events", |b| {
        b.iter(|| events.iter().map(push_of).map(black_box).count())
    });
    group.bench_function("plan_fanout 512 events x 2 recipients", |b| {
        b.iter(|| black_box(plan_fanout(&events, &recipients, &traces, &table)))
    });
    let deliveries = plan_fanout(&events, &recipients, &traces, &table)
        .into_values()
        .next()
        .expect("one gateway");
    let message = GatewayMessage::Deliver(deliveries);
    group.bench_function("encode a delivery batch of 512", |b| {
        b.iter(|| black_box(codec::encode(&message).unwrap()))
    });
    let encoded = codec::encode(&message).unwrap();
    group.bench_function("decode a delivery batch of 512", |b| {
        b.iter(|| black_box(codec::decode::<GatewayMessage>(&encoded).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
