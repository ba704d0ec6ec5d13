//! Connections end, and stay bounded while they live: a client's Close is answered, a client
//! that stops reading is cut off and freed, an expired token's connection is closed, what one
//! connection may queue or have in flight is bounded (protocol §7; README invariant 5).

use crate::support::{Api, BusKind, Herald, WAIT, settings_args};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(api: &Api, path_and_query: &str) -> Socket {
    let url = format!("{}{path_and_query}", api.base.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects")
        .0
}

/// Reads until the server's Close frame and returns its code; `None` when the connection ended
/// without one (what browsers report as 1006).
async fn close_code(socket: &mut Socket) -> Option<u16> {
    let read = async {
        while let Some(frame) = socket.next().await {
            match frame {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(err) => {
                    eprintln!("websocket error: {err}");
                    return None;
                }
            }
        }
        None
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("the connection ends within the wait")
}

async fn connections_drop_to(herald: &Herald, count: usize, what: &str) {
    let running = herald.running.as_ref().expect("running");
    herald_testkit::eventually(WAIT, what, || {
        std::future::ready((running.connection_count() == count).then_some(()))
    })
    .await;
}

/// RFC 6455 §5.5.1: a client's Close frame is answered with a Close frame echoing its code, on
/// /ws and on /notify?protoc=ws (browsers and k6 report 1006 otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_close_is_answered_with_its_code() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    let token = api.token("alice", 1).await;
    for (path, code) in [("/ws?", 1000), ("/notify?protoc=ws&", 1000), ("/ws?", 4321)] {
        let mut socket = connect(&api, &format!("{path}token={token}")).await;
        let close = CloseFrame {
            code: CloseCode::from(code),
            reason: "bye".into(),
        };
        socket.send(Message::Close(Some(close))).await.expect("close sent");
        assert_eq!(close_code(&mut socket).await, Some(code), "{path} echoes close {code}");
    }
    connections_drop_to(&herald, 0, "every closed connection unregistered").await;
    herald.stop().await;
}

/// A session holds at most 16 connections per gateway (README limits): the 17th WebSocket is
/// refused before its handshake with HTTP 429 and code 10008, on /ws and /notify alike, and a
/// freed slot can be taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_past_its_connection_limit_is_refused_with_429() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    let token = api.token("alice", 1).await;
    let mut open = Vec::new();
    for i in 0..16 {
        let path = if i % 2 == 0 { "/ws?" } else { "/notify?protoc=ws&" };
        open.push(connect(&api, &format!("{path}token={token}")).await);
    }
    for path in ["/ws?", "/notify?protoc=ws&"] {
        let url = format!("{}{path}token={token}", api.base.replace("http://", "ws://"));
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 429, "{path}");
                let body: Value =
                    serde_json::from_slice(response.body().as_deref().unwrap_or_default()).expect("an error envelope");
                assert_eq!(body["code"], 10008, "{path}: {body}");
            }
            other => panic!("{path}: the 17th connection was not refused: {:?}", other.map(|_| ())),
        }
    }
    drop(open.pop());
    connections_drop_to(&herald, 15, "the closed connection unregistered").await;
    let _again = connect(&api, &format!("/ws?token={token}")).await;
    herald.stop().await;
}

/// A connection lives no longer than its token: at expiry it is closed with 4002 (an SSE
/// stream ends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_closed_when_its_token_expires() {
    let herald = Herald::start_with(BusKind::Embedded, &["--token-ttl-secs", "2"]).await;
    let api = herald.api();
    let token = api.token("alice", 1).await;
    let mut native = connect(&api, &format!("/ws?token={token}")).await;
    let mut notify = connect(&api, &format!("/notify?protoc=ws&token={token}")).await;
    let mut sse = open_sse(&api, &token).await;
    assert_eq!(close_code(&mut native).await, Some(4002), "/ws closed at expiry");
    assert_eq!(close_code(&mut notify).await, Some(4002), "/notify closed at expiry");
    sse_ends(&mut sse).await;
    connections_drop_to(&herald, 0, "expired connections unregistered").await;
    herald.stop().await;
}

async fn open_sse(api: &Api, token: &str) -> reqwest::Response {
    let url = format!("{}/notify?protoc=sse&token={token}", api.base);
    let response = api.http.get(url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response
}

/// Reads an SSE response until the server ends it.
async fn sse_ends(response: &mut reqwest::Response) {
    let ended = tokio::time::timeout(WAIT, async { while let Ok(Some(_)) = response.chunk().await {} }).await;
    assert!(ended.is_ok(), "the event stream ends within the wait");
}

/// A revoked session's connections are closed (4003) on every gateway within seconds.
async fn a_revoked_session_s_connections_are_closed(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let second = match kind {
        BusKind::Nats => Some(herald.second_gateway().await),
        BusKind::Embedded => None,
    };
    let api = herald.api();
    let other_api = second.as_ref().map_or_else(|| api.clone(), |s| Api::new(s.addr));
    let token = api.token("mallory", 1).await;
    let mut here = connect(&api, &format!("/ws?token={token}")).await;
    let mut there = connect(&other_api, &format!("/notify?protoc=ws&token={token}")).await;
    let mut sse = open_sse(&other_api, &token).await;
    let (status, body) = api
        .post(
            "/inner/revoke_session",
            crate::support::SECRET,
            json!({"session": "mallory"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(close_code(&mut here).await, Some(4003));
    assert_eq!(close_code(&mut there).await, Some(4003), "on the other gateway too");
    sse_ends(&mut sse).await;
    connections_drop_to(&herald, 0, "revoked connections unregistered").await;
    if let Some(second) = second {
        herald_testkit::eventually(WAIT, "unregistered on the other gateway", || {
            std::future::ready((second.connection_count() == 0).then_some(()))
        })
        .await;
        second.stop().await;
    }
    herald.stop().await;
}

on_both_buses!(a_revoked_session_s_connections_are_closed);

/// A client that stops reading (its TCP window stays shut) while pushes keep coming is cut off
/// within `WRITE_TIMEOUT` (5 s) even when its queue has room, and its socket, tasks and queue are
/// freed: the server closes the TCP connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_and_freed() {
    // queue bounds far above what is sent: only the write timeout can end this connection
    let bounds = ["--outbound-queue", "1000000", "--outbound-queue-bytes", "4000000000"];
    let herald = Herald::start_with(BusKind::Embedded, &bounds).await;
    let api = herald.api();
    let mut sleeper = api.ws(&api.token("sleeper", 1).await).await;
    let mut sender = api.ws(&api.token("sender", 1).await).await;
    for client in [&mut sleeper, &mut sender] {
        let joined = client.request("chat-conv-join", json!({"convId": "flood"})).await;
        assert_eq!(joined["status"], "ok", "{joined}");
    }
    let running = herald.running.as_ref().unwrap();
    assert_eq!(running.connection_count(), 2);
    // the sleeper reads nothing from here on; 30 KiB pushes fill the kernel's buffers, then
    // the server's writes to it block
    let content = "z".repeat(30 * 1024);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut sent = 0;
    while running.connection_count() == 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sleeper is still connected after {sent} pushes"
        );
        let reply = sender
            .request_with_data(
                "chat-msg-im",
                json!({"convId": "flood", "msgKey": format!("k{sent}")}),
                json!({"msgType": 1, "content": content}),
            )
            .await;
        assert_eq!(reply["status"], "ok", "{reply}");
        sent += 1;
    }
    // the server dropped its socket: reading drains what the kernel held, then the stream ends
    let drained = tokio::time::timeout(WAIT, async { while sleeper.next_raw().await.is_some() {} }).await;
    assert!(drained.is_ok(), "the sleeper's connection is closed at the TCP level");
    assert_eq!(
        sender.request("ping", json!({})).await["data"],
        "pong",
        "the sender is untouched"
    );
    herald.stop().await;
}

/// Invariant 5 (Bounded): a connection whose outbound queue would pass its byte bound is closed
/// with 1008, over both buses.
async fn a_connection_past_its_outbound_bytes_is_closed(kind: BusKind) {
    let herald = Herald::start_with(kind, &["--outbound-queue-bytes", "16384"]).await;
    let api = herald.api();
    let alice = api.token("alice", 1).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    let mut bob = connect(&api, &format!("/ws?token={}", api.token("bob", 1).await)).await;
    let (status, body) = api
        .post(
            "/send_msg",
            &alice,
            json!({"conversation_id": conv, "content": "small", "type": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // a push of 20 KiB cannot be queued within 16 KiB
    let (status, body) = api
        .post(
            "/send_msg",
            &alice,
            json!({"conversation_id": conv, "content": "x".repeat(20 * 1024), "type": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut seqs = Vec::new();
    let code = tokio::time::timeout(WAIT, async {
        while let Some(frame) = bob.next().await {
            match frame.expect("frame") {
                Message::Text(text) => {
                    let push: Value = serde_json::from_str(text.as_str()).unwrap();
                    seqs.push(push["data"]["Seq"].as_u64());
                }
                Message::Close(frame) => return frame.map(|f| u16::from(f.code)),
                _ => {}
            }
        }
        None
    })
    .await
    .expect("closed within the wait");
    assert_eq!((seqs, code), (vec![Some(1)], Some(1008)));
    connections_drop_to(&herald, 0, "the closed connection unregistered").await;
    herald.stop().await;
}

on_both_buses!(a_connection_past_its_outbound_bytes_is_closed);

/// Two first long polls of one (session, platform) at once share one registration: after
/// they end the session holds one connection, not one per poll (a leaked one stayed online
/// forever and counted toward the session's connections).
async fn simultaneous_first_polls_register_once(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let bob = api.token("bob", 2).await;
    let url = format!("{}/notify?protoc=poll&wait=1&token={bob}", api.base);
    // connections opened first, so the polls arrive together
    let clients: Vec<reqwest::Client> = (0..8).map(|_| crate::support::http_client()).collect();
    for client in &clients {
        let status = client
            .get(format!("{}/healthz", api.base))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    }
    let polls = clients.iter().map(|client| {
        let url = url.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(polls).await;
    assert_eq!(statuses, vec![204; 8]);
    assert_eq!(herald.running.as_ref().unwrap().connection_count(), 1);
    herald.stop().await;
}

on_both_buses!(simultaneous_first_polls_register_once);

/// A gateway alone on NATS, with no sequencer: commands are never answered before the ack
/// timeout, so what waits is exactly what was sent.
struct LoneGateway {
    running: herald::Running,
    _nats: herald_testkit::NatsServer,
    _data_dir: tempfile::TempDir,
}

impl LoneGateway {
    async fn start(extra: &[&str]) -> Self {
        let nats = herald_testkit::NatsServer::start();
        let data_dir = tempfile::tempdir().unwrap();
        let mut args = settings_args(data_dir.path(), Some(&nats.url));
        args[1] = "gateway".into();
        args.extend(["--ack-timeout-ms".into(), "4000".into()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let cli = herald::Cli::parse_from(args);
        let running = herald::start(cli.role, cli.settings).await.expect("gateway starts");
        let gateway = LoneGateway {
            running,
            _nats: nats,
            _data_dir: data_dir,
        };
        gateway.api().unlimited_sends().await;
        gateway
    }

    fn api(&self) -> Api {
        Api::new(self.running.addr)
    }
}

fn send_frame(req_id: u64) -> Value {
    json!({"action": "msg-im", "reqId": req_id, "param": {"convId": "c", "msgKey": format!("k{req_id}"), "msgContent": "x"}})
}

/// One connection may have 64 requests waiting for the sequencer; one more is answered at once
/// with 10008 (and its `reqId`), and nothing is done for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_has_at_most_64_requests_in_flight() {
    let gateway = LoneGateway::start(&[]).await;
    let api = gateway.api();
    let mut client = api.ws(&api.token("alice", 1).await).await;
    for req_id in 1..=70 {
        client.send_frame(send_frame(req_id)).await;
    }
    for req_id in 65..=70 {
        let reply = client.next_reply().await;
        assert_eq!(
            (reply["reqId"].as_u64(), reply["code"].as_u64()),
            (Some(req_id), Some(10008)),
            "{reply}"
        );
    }
    // the 64 are answered "retry" at the ack timeout, each once; then the slots are free again
    let mut answered: Vec<u64> = Vec::new();
    for _ in 1..=64 {
        let reply = client.next_reply().await;
        assert_eq!(reply["code"], 10010, "{reply}");
        answered.push(reply["reqId"].as_u64().unwrap());
    }
    answered.sort_unstable();
    assert_eq!(answered, (1..=64).collect::<Vec<_>>());
    client.send_frame(send_frame(71)).await;
    let reply = client.next_reply().await;
    assert_eq!(
        (reply["reqId"].as_u64(), reply["code"].as_u64()),
        (Some(71), Some(10010))
    );
    gateway.running.stop().await;
}

/// Invariant 5 (Bounded): sends past the gateway's bound on waiting sends
/// (`HERALD_MAX_PENDING`) are answered 503 / 10010 at once, on /ws and over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_past_the_pending_bound_are_refused_with_10010() {
    let gateway = LoneGateway::start(&["--max-pending", "4"]).await;
    let api = gateway.api();
    let token = api.token("alice", 1).await;
    let mut client = api.ws(&token).await;
    for req_id in 1..=6 {
        client.send_frame(send_frame(req_id)).await;
    }
    for req_id in 5..=6 {
        let reply = client.next_reply().await;
        assert_eq!(
            (reply["reqId"].as_u64(), reply["code"].as_u64()),
            (Some(req_id), Some(10010)),
            "{reply}"
        );
    }
    let started = tokio::time::Instant::now();
    let (status, body) = api
        .post("/send_msg", &token, json!({"conversation_id": "c", "content": "x"}))
        .await;
    assert_eq!((status, body["code"].as_u64()), (503, Some(10010)), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused at once, not after the 4 s ack timeout"
    );
    gateway.running.stop().await;
}

/// Friend requests are throttled per session: 10 at once, then 10008 with when to retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_requests_are_throttled_per_session() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    let mut alice = api.ws(&api.token("alice", 1).await).await;
    for i in 0..10 {
        let reply = alice
            .request("friend-request", json!({"linkKey": format!("u{i}")}))
            .await;
        assert_eq!(reply["status"], "ok", "{reply}");
    }
    let refused = alice.request("friend-request", json!({"linkKey": "u10"})).await;
    assert_eq!(refused["code"], 10008, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("retry in 6 s"), "{refused}");
    let mut bob = api.ws(&api.token("bob", 1).await).await;
    let reply = bob.request("friend-request", json!({"linkKey": "u10"})).await;
    assert_eq!(reply["status"], "ok", "another session has its own budget: {reply}");
    herald.stop().await;
}
