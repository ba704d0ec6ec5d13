//! Property-based malformed input: over 10,000 generated HTTP bodies and /ws frames (JSON and
//! MessagePack) per run, from a fixed seed (`HERALD_FUZZ_SEED` replays another). Every answer is
//! a clear error or a proper reply, never a 5xx; after each batch, a good request on the same
//! connection gets its own reply, matched by `reqId`.

use crate::support::{Api, BusKind, Herald, SECRET, WAIT};
use futures::{SinkExt, StreamExt};
use herald_protocol::ws::ACTIONS;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use std::collections::HashSet;
use tokio_tungstenite::tungstenite::Message;

const SEED: u64 = 0x4845_5241_4c44_0010;
const HTTP_CASES: usize = 2_500;
const WS_CASES: usize = 8_000;
/// Frames sent before a probe; below the per-connection in-flight cap.
const WS_BATCH: usize = 32;
const HTTP_BATCH: usize = 50;
/// The soft frame limit (`herald_protocol::ws::MAX_FRAME_BYTES`).
const FRAME_LIMIT: usize = 64 * 1024;

const ROUTES: &[&str] = &[
    "/send_msg",
    "/check_joined_conversation",
    "/get_joined_conversation",
    "/get_conversation_detail",
    "/join_conversation",
    "/create_conversation",
    "/leave_conversation",
    "/get_lastone_msgid",
    "/get_conversation_msg_by_range",
    "/get_conversation_30msg_before_the_id",
    "/get_conversation_30msg_after_the_id",
    "/get_conversation_last_30_msg",
    "/get_conversation_lastone_msg",
    "/inner/get_token",
    "/inner/create_conversation",
    "/inner/kickout_conversation",
    "/inner/join_conversation",
    "/inner/set_archive_conversations",
    "/inner/settings",
];
const FIELDS: &[&str] = &[
    "conversation_id",
    "content",
    "type",
    "client_msg_id",
    "sessions",
    "session",
    "platform",
    "msg_id",
    "start_msg_id",
    "end_msg_id",
    "conversation_type",
    "conversation_ids",
    "is_archive",
    "convId",
    "convIds",
    "msgKey",
    "msgType",
    "msgContent",
    "seq",
    "after",
    "limit",
    "beforeSeq",
    "msgId",
    "convType",
    "convKey",
    "linkKeys",
    "convs",
    "members",
];

fn json_leaf(conv: &str) -> BoxedStrategy<Value> {
    prop_oneof![
        4 => Just(Value::Null),
        4 => any::<bool>().prop_map(Value::from),
        6 => any::<i64>().prop_map(Value::from),
        6 => prop_oneof![Just(u64::MAX), Just(0u64), Just(1u64), any::<u64>()].prop_map(Value::from),
        2 => any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        8 => text(24).prop_map(Value::from),
        4 => prop::sample::select(FIELDS).prop_map(Value::from),
        6 => Just(Value::from(conv.to_owned())),
        2 => Just(Value::from("18446744073709551616")),
        1 => (1usize..2_000).prop_map(|n| Value::from("x".repeat(n))),
    ]
    .boxed()
}

/// Any characters (control characters, surrogate-free Unicode) up to `max`.
fn text(max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(any::<char>(), 0..max)
        .prop_map(String::from_iter)
        .boxed()
}

/// A string just under or over the soft frame limit.
fn near_the_limit() -> BoxedStrategy<Value> {
    (FRAME_LIMIT - 200..FRAME_LIMIT + 200)
        .prop_map(|n| Value::from("x".repeat(n)))
        .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![3 => prop::sample::select(FIELDS).prop_map(str::to_owned), 1 => text(10)].boxed()
}

fn json_value(conv: &str) -> BoxedStrategy<Value> {
    json_leaf(conv)
        .prop_recursive(2, 16, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

/// An object of the fields requests use, with values of any type.
fn json_object(conv: &str) -> BoxedStrategy<Value> {
    prop::collection::vec((key(), json_value(conv)), 0..6)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
        .boxed()
}

#[derive(Debug, Clone)]
enum Body {
    Json(Value),
    Truncated(Value, f64),
    Bytes(Vec<u8>),
}

impl Body {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Body::Json(value) => value.to_string().into_bytes(),
            Body::Truncated(value, at) => {
                let text = value.to_string().into_bytes();
                text[..(text.len() as f64 * at) as usize].to_vec()
            }
            Body::Bytes(bytes) => bytes.clone(),
        }
    }
}

fn http_case(conv: &str) -> BoxedStrategy<(usize, Body, bool)> {
    let owned = conv.to_owned();
    let body = prop_oneof![
        1 => near_the_limit().prop_map(move |content| Body::Json(json!({"conversation_id": owned, "content": content}))),
        4 => json_object(conv).prop_map(Body::Json),
        2 => json_value(conv).prop_map(Body::Json),
        2 => (json_object(conv), 0.0..1.0f64).prop_map(|(v, at)| Body::Truncated(v, at)),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Body::Bytes),
    ];
    (0..ROUTES.len(), body, any::<bool>()).boxed()
}

/// One /ws frame's shape; the test gives each a unique `reqId`.
#[derive(Debug, Clone)]
enum WsCase {
    /// A request envelope with a known action and arbitrary parameters.
    Request {
        action: &'static str,
        param: Value,
        data: Option<Value>,
        msgpack: bool,
    },
    /// An envelope whose action is unknown, empty or not a string: always an error.
    BadAction {
        action: Value,
        msgpack: bool,
    },
    /// A JSON request cut short: always an error.
    Truncated {
        param: Value,
        at: f64,
    },
    /// Any text or any bytes.
    Garbage {
        text: String,
    },
    RawBytes {
        bytes: Vec<u8>,
    },
}

fn ws_case(conv: &str) -> BoxedStrategy<WsCase> {
    let bad_action = prop_oneof![
        Just(json!("no-such-action")),
        Just(json!("")),
        json_leaf(conv).prop_filter("not a known action", |v| !v
            .as_str()
            .is_some_and(|s| ACTIONS.contains(&s))),
    ];
    let (json_object, json_object_2) = (json_object(conv), json_object(conv));
    let conv = conv.to_owned();
    prop_oneof![
        8 => (prop::sample::select(ACTIONS), json_object.clone(), prop::option::of(json_object_2), any::<bool>())
            .prop_map(|(action, param, data, msgpack)| WsCase::Request { action, param, data, msgpack }),
        2 => (bad_action, any::<bool>()).prop_map(|(action, msgpack)| WsCase::BadAction { action, msgpack }),
        2 => (json_object, 0.0..1.0f64).prop_map(|(param, at)| WsCase::Truncated { param, at }),
        1 => text(64).prop_map(|text| WsCase::Garbage { text }),
        1 => near_the_limit().prop_map(move |content| WsCase::Request {
            action: "msg-im",
            param: json!({"convId": conv, "msgKey": "big", "msgType": 1, "msgContent": content}),
            data: None,
            msgpack: false
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| WsCase::RawBytes { bytes }),
    ]
    .boxed()
}

/// What a frame must get back.
struct Expect {
    /// The `reqId` its reply carries (`None`: the frame cannot be parsed, the reply has none).
    req_id: Option<u64>,
    must_fail: bool,
}

fn encode(envelope: &Value, msgpack: bool) -> Message {
    if msgpack {
        Message::Binary(rmp_serde::to_vec_named(envelope).expect("msgpack").into())
    } else {
        Message::Text(envelope.to_string().into())
    }
}

fn frame(case: &WsCase, id: u64) -> (Message, Expect) {
    let (message, mut expect) = match case {
        WsCase::Request {
            action,
            param,
            data,
            msgpack,
        } => {
            let mut envelope = json!({"action": action, "reqId": id, "param": param});
            if let Some(data) = data {
                envelope["data"] = data.clone();
            }
            (
                encode(&envelope, *msgpack),
                Expect {
                    req_id: Some(id),
                    must_fail: false,
                },
            )
        }
        WsCase::BadAction { action, msgpack } => (
            encode(&json!({"action": action, "reqId": id, "param": {}}), *msgpack),
            Expect {
                req_id: Some(id),
                must_fail: true,
            },
        ),
        WsCase::Truncated { param, at } => {
            let text = json!({"action": "msg-im", "reqId": id, "param": param}).to_string();
            let cut = ((text.len() - 1) as f64 * at) as usize;
            let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            (
                Message::Text(text[..cut].to_owned().into()),
                Expect {
                    req_id: None,
                    must_fail: true,
                },
            )
        }
        WsCase::Garbage { text } => {
            let is_request = serde_json::from_str::<Value>(text).is_ok_and(|v| v.get("action").is_some());
            (
                Message::Text(text.clone().into()),
                Expect {
                    req_id: None,
                    must_fail: !is_request,
                },
            )
        }
        WsCase::RawBytes { bytes } => {
            let is_request = rmp_serde::from_slice::<Value>(bytes).is_ok_and(|v| v.get("action").is_some());
            (
                Message::Binary(bytes.clone().into()),
                Expect {
                    req_id: None,
                    must_fail: !is_request,
                },
            )
        }
    };
    // past the soft limit the frame is not parsed: an error without its reqId
    if message.len() > FRAME_LIMIT {
        expect = Expect {
            req_id: None,
            must_fail: true,
        };
    }
    (message, expect)
}

fn decode(message: Message) -> Option<Value> {
    match message {
        Message::Text(text) => Some(serde_json::from_str(text.as_str()).expect("a JSON reply")),
        Message::Binary(bytes) => Some(rmp_serde::from_slice(&bytes).expect("a MessagePack reply")),
        Message::Close(close) => panic!("the connection closed: {close:?}"),
        _ => None,
    }
}

fn runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn seed() -> u64 {
    std::env::var("HERALD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED)
}

fn is_error_envelope(body: &Value) -> bool {
    body["code"].as_u64().is_some_and(|c| c > 0) && body["error"].as_str().is_some_and(|e| !e.is_empty())
}

async fn http_bodies(api: &Api, token: &str, conv: &str, seed: u64) -> usize {
    let mut runner = runner(seed);
    let strategy = http_case(conv);
    let mut cases = 0;
    for batch in 0..HTTP_CASES / HTTP_BATCH {
        for _ in 0..HTTP_BATCH {
            let (route, body, content_type) = strategy.new_tree(&mut runner).unwrap().current();
            let route = ROUTES[route];
            let bearer = if route.starts_with("/inner") { SECRET } else { token };
            let bytes = body.bytes();
            let mut request = if route == "/inner/settings" {
                api.http.put(format!("{}{route}", api.base))
            } else {
                api.http.post(format!("{}{route}", api.base))
            }
            .bearer_auth(bearer)
            .body(bytes.clone());
            if content_type {
                request = request.header("content-type", "application/json");
            }
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            assert!(status < 500, "seed {seed}: {route} {shown:?} -> {status} {text}");
            let reply: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("seed {seed}: {route} {shown:?} -> not JSON: {text}"));
            if status != 200 {
                assert!(
                    is_error_envelope(&reply),
                    "seed {seed}: {route} {shown:?} -> {status} {text}"
                );
            }
            cases += 1;
        }
        // the server (and the pooled keep-alive connection) still serves a good request
        let (status, reply) = api.post("/get_joined_conversation", token, json!({})).await;
        assert_eq!(status, 200, "seed {seed}: after HTTP batch {batch}: {reply}");
    }
    cases
}

async fn ws_frames(api: &Api, token: &str, conv: &str, seed: u64) -> usize {
    let url = format!("{}/ws?token={token}", api.base.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("websocket connects");
    let mut runner = runner(seed ^ 0x5753);
    let strategy = ws_case(conv);
    let mut next_id = 1u64;
    let mut cases = 0;
    for batch in 0..WS_CASES / WS_BATCH {
        let mut sent = Vec::with_capacity(WS_BATCH);
        for _ in 0..WS_BATCH {
            let case = strategy.new_tree(&mut runner).unwrap().current();
            let (message, expect) = frame(&case, next_id);
            next_id += 1;
            socket.send(message).await.expect("a bad frame is sent");
            sent.push((case, expect));
        }
        let probe = format!("probe-{batch}");
        socket
            .send(Message::Text(
                json!({"action": "ping", "reqId": probe}).to_string().into(),
            ))
            .await
            .expect("the probe is sent");
        // every frame gets one reply, and the probe gets its pong
        let mut waiting: HashSet<u64> = sent.iter().filter_map(|(_, e)| e.req_id).collect();
        let mut anonymous = sent.iter().filter(|(_, e)| e.req_id.is_none()).count();
        let mut probed = false;
        while !(probed && waiting.is_empty() && anonymous == 0) {
            let next = tokio::time::timeout(WAIT, socket.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("seed {seed}, batch {batch}: no reply; waiting for {waiting:?}, {anonymous} unparsable, probe answered: {probed}")
                })
                .expect("the connection stays open")
                .expect("a frame");
            let Some(reply) = decode(next) else { continue };
            let Some(req_id) = reply.get("reqId") else {
                continue; // a push
            };
            assert_ne!(
                reply["code"], 10002,
                "seed {seed}, batch {batch}: an internal error: {reply}"
            );
            if req_id == &json!(probe) {
                assert_eq!(reply["data"], "pong", "seed {seed}: {reply}");
                probed = true;
                continue;
            }
            let case = match req_id.as_u64() {
                Some(id) => {
                    assert!(
                        waiting.remove(&id),
                        "seed {seed}, batch {batch}: an unexpected or second reply: {reply}"
                    );
                    sent.iter()
                        .find(|(_, e)| e.req_id == Some(id))
                        .map(|(c, e)| (c, e.must_fail))
                }
                None => {
                    assert!(
                        anonymous > 0,
                        "seed {seed}, batch {batch}: a reply without reqId: {reply}"
                    );
                    anonymous -= 1;
                    assert_eq!(reply["status"], "error", "seed {seed}: {reply}");
                    None
                }
            };
            if reply["status"] == "error" || case.is_some_and(|(_, must_fail)| must_fail) {
                assert!(
                    reply["status"] == "error" && is_error_envelope(&reply),
                    "seed {seed}, batch {batch}: {case:?} -> {reply}"
                );
            }
        }
        cases += WS_BATCH;
    }
    cases
}

async fn generated_bad_input_never_breaks_a_connection(kind: BusKind) {
    let seed = seed();
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let token = api.token("fuzzer", 1).await;
    let conv = api.create_group(&token, &["other"]).await;
    // one HTTP client (a pooled keep-alive connection) and one WebSocket, side by side
    let (http, ws) = tokio::join!(
        http_bodies(&api, &token, &conv, seed),
        ws_frames(&api, &token, &conv, seed)
    );
    assert!(http + ws >= 10_000, "{http} HTTP + {ws} WebSocket cases");
    let health = api.http.get(format!("{}/healthz", api.base)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    herald.stop().await;
}

// In-process bus only: parsing and answering bad input happens in the gateway, before any bus;
// `malformed.rs` runs its hand-written cases over both buses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_bad_input_never_breaks_a_connection_embedded() {
    generated_bad_input_never_breaks_a_connection(BusKind::Embedded).await;
}
