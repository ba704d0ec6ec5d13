//! `plan_batch`, the sequencer's pure hot function, on the `chat` load's shape: a batch of 512
//! sends spread over 200 two-member conversations whose state is cached. Figures in
//! `loadtest/RESULTS.md` ("Hot functions").

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use herald_protocol::bus::{Action, Command, ReplyTo, SendCommand};
use herald_protocol::{AppId, ConvId, ConvKind, GatewayId, SessionId};
use herald_sequencer::{ConvState, Known, plan_batch};
use herald_store::Conversation;
use std::collections::HashMap;
use std::hint::black_box;

const CONVERSATIONS: usize = 200;
const BATCH: usize = 512;

fn session(name: String) -> SessionId {
    SessionId::parse(name).unwrap()
}

fn states() -> HashMap<(AppId, ConvId), ConvState> {
    let app = AppId::parse("bench").unwrap();
    (0..CONVERSATIONS)
        .map(|i| {
            let conv = Conversation {
                app: app.clone(),
                id: ConvId::parse(format!("c{i}")).unwrap(),
                kind: ConvKind::Single,
                conv_type: 0,
                name: String::new(),
                avatar: String::new(),
                owner: session(format!("a{i}")),
                open: false,
                archived: false,
                created_at: 0,
            };
            let members = vec![session(format!("a{i}")), session(format!("b{i}"))];
            let state = ConvState::new(conv, members, 1_000);
            (state.key(), state)
        })
        .collect()
}

fn batch(round: u64) -> Vec<(u64, Command)> {
    let app = AppId::parse("bench").unwrap();
    let gateway = GatewayId::parse("gw").unwrap();
    (0..BATCH)
        .map(|n| {
            let i = n % CONVERSATIONS;
            let key = format!("r{round}-{n}");
            let command = Command {
                app: app.clone(),
                conv: ConvId::parse(format!("c{i}")).unwrap(),
                reply_to: Some(ReplyTo {
                    gateway: gateway.clone(),
                    request: n as u64,
                }),
                action: Action::Send(SendCommand {
                    from: session(format!("a{i}")),
                    idempotency_key: key.clone().into(),
                    client_msg_id: Some(key.into()),
                    msg_type: 1,
                    status: 0,
                    content: "x".repeat(64).into(),
                }),
            };
            (n as u64, command)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("sequencer");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("plan_batch 512 sends / 200 conversations", |b| {
        let mut states = states();
        let mut round = 0;
        let mut next_id = 0u64;
        b.iter_batched(
            || {
                round += 1;
                batch(round)
            },
            |commands| {
                let plan = plan_batch(
                    commands,
                    &mut states,
                    Known::default(),
                    || {
                        next_id += 1;
                        next_id
                    },
                    1_700_000_000_000_000_000,
                );
                black_box(plan)
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
