//! Malformed input: thousands of generated bad bodies and frames at every route and action.
//! No 5xx, no panic, an error for each, the connection keeps working, the server stays healthy.

use crate::support::{BusKind, Herald, SECRET};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

const CLIENT_ROUTES: &[&str] = &[
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
];
const INNER_ROUTES: &[&str] = &[
    "/inner/get_token",
    "/inner/create_conversation",
    "/inner/kickout_conversation",
    "/inner/join_conversation",
    "/inner/set_archive_conversations",
];
/// Every /ws action the server knows, and two it does not.
fn actions() -> Vec<&'static str> {
    let mut actions = herald_protocol::ws::ACTIONS.to_vec();
    actions.extend(["no-such-action", ""]);
    actions
}
const FIELDS: &[&str] = &[
    "conversation_id",
    "content",
    "type",
    "status",
    "client_msg_id",
    "sessions",
    "session",
    "platform",
    "msg_id",
    "start_msg_id",
    "end_msg_id",
    "desc",
    "conversation_type",
    "kind",
    "open",
    "conversation_ids",
    "is_archive",
    "convId",
    "msgKey",
    "msgType",
    "msgContent",
    "seq",
    "limit",
    "offset",
    "beforeSeq",
    "msgId",
    "forEveryone",
    "convType",
    "convKey",
    "linkKeys",
    "convs",
];

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    /// A value of a random wrong-or-right type, sometimes huge.
    fn value(&mut self, conv: &str) -> Value {
        match self.next() % 14 {
            0 => Value::Null,
            1 => json!(true),
            2 => json!(-1),
            3 => json!(u64::MAX),
            4 => json!(1e300),
            5 => json!("x".repeat(200_000)),
            6 => json!(""),
            7 => json!([1, [2, [3]]]),
            8 => json!({"nested": {"deep": [null]}}),
            9 => json!(conv),
            10 => json!("\u{0000}\u{0007}control"),
            11 => json!([conv, 5, null]),
            12 => json!({conv: "x"}),
            _ => json!("18446744073709551616"),
        }
    }

    fn object(&mut self, conv: &str) -> Value {
        let mut object = serde_json::Map::new();
        for _ in 0..(self.next() % 5) {
            object.insert(self.pick(FIELDS).to_string(), self.value(conv));
        }
        Value::Object(object)
    }

    /// A raw body: broken JSON, wrong JSON, or bytes that are not UTF-8.
    fn body(&mut self, conv: &str) -> Vec<u8> {
        let valid = self.object(conv).to_string();
        match self.next() % 7 {
            0 => valid.as_bytes()[..valid.len() / 2].to_vec(),
            1 => vec![0xff, 0xfe, b'{', 0xc3, 0x28, b'}'],
            2 => b"[1,2,".to_vec(),
            3 => self.value(conv).to_string().into_bytes(),
            4 => b"{\"a\":".repeat(1000),
            5 => Vec::new(),
            _ => valid.into_bytes(),
        }
    }
}

/// Sends, on a raw socket, only the header of a 2 MiB text frame (and a few bytes of it), so the
/// server refuses it from the header alone with nothing left unread; returns the server's frame
/// before its close, and the close code.
async fn frame_past_the_hard_limit(addr: std::net::SocketAddr, token: &str) -> (Value, Option<u16>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let handshake = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    socket.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(socket.read_u8().await.expect("handshake answer"));
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    // FIN + text, masked, 64-bit length 2 MiB, a zero mask, 16 bytes of payload
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(2u64 * 1024 * 1024).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(b"xxxxxxxxxxxxxxxx");
    socket.write_all(&frame).await.unwrap();
    let mut error = Value::Null;
    loop {
        let read = async {
            let (b0, b1) = (socket.read_u8().await?, socket.read_u8().await?);
            let len = match b1 & 0x7f {
                126 => socket.read_u16().await? as usize,
                127 => socket.read_u64().await? as usize,
                n => n as usize,
            };
            let mut payload = vec![0; len];
            socket.read_exact(&mut payload).await?;
            std::io::Result::Ok((b0 & 0x0f, payload))
        };
        match tokio::time::timeout(crate::support::WAIT, read)
            .await
            .expect("the server answers")
        {
            Ok((0x1, payload)) => error = serde_json::from_slice(&payload).expect("a JSON error frame"),
            Ok((0x8, payload)) => {
                return (error, payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])));
            }
            Ok(_) => continue,
            Err(err) => panic!("the connection ended without a close frame: {err}; before it: {error}"),
        }
    }
}

async fn thousands_of_bad_inputs_get_clear_errors(kind: BusKind) {
    let herald = Herald::start(kind).await;
    let api = herald.api();
    let token = api.token("fuzzer", 1).await;
    let conv = api.create_group(&token, &["other"]).await;
    let mut generator = Gen(0x9e37_79b9_7f4a_7c15);
    let mut http_cases = 0;
    for round in 0..40 {
        for route in CLIENT_ROUTES.iter().chain(INNER_ROUTES) {
            let bearer = if route.starts_with("/inner") { SECRET } else { &token };
            let body = generator.body(&conv);
            let mut request = api
                .http
                .post(format!("{}{route}", api.base))
                .bearer_auth(bearer)
                .body(body.clone());
            if round % 3 == 0 {
                request = request.header("content-type", "application/json");
            }
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(
                status < 500,
                "{route} {:?} -> {status} {text}",
                String::from_utf8_lossy(&body)
            );
            let envelope: Value =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("{route}: not an envelope: {text}"));
            if status != 200 {
                assert!(
                    envelope["code"].as_u64().unwrap() > 0 && envelope["error"].is_string(),
                    "{route}: {text}"
                );
            }
            http_cases += 1;
        }
    }
    // query strings and tokens on the push channel
    for query in [
        "protoc=ws",
        "protoc=sse&token=garbage",
        "protoc=poll&wait=abc&token=",
        "protoc=%ff%fe",
        "protoc=poll&max=-1",
    ] {
        let response = api
            .http
            .get(format!("{}/notify?{query}", api.base))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{query}: {}", response.status());
        http_cases += 1;
    }

    let mut ws = api.ws(&token).await;
    let mut ws_cases = 0;
    let actions = actions();
    for i in 0..600 {
        let action = generator.pick(&actions).to_string();
        let frame = match i % 6 {
            0 => json!({"action": action, "reqId": i, "param": generator.value(&conv)}).to_string(),
            1 => {
                json!({"action": action, "reqId": i, "param": generator.object(&conv), "data": generator.object(&conv)})
                    .to_string()
            }
            2 => {
                let text = json!({"action": action, "reqId": i, "param": generator.object(&conv)}).to_string();
                text[..text.len() / 2].to_owned()
            }
            3 => generator.value(&conv).to_string(),
            4 => json!({"action": generator.value(&conv), "reqId": i}).to_string(),
            _ => json!({"action": action, "reqId": i, "linkKey": generator.value(&conv), "param": {}}).to_string(),
        };
        if frame.len() > 60_000 {
            continue;
        }
        ws.send_frame_text(frame.clone()).await;
        let reply = ws.next_reply().await;
        assert!(
            reply["status"] == "ok" || reply["status"] == "error",
            "every frame gets a reply: {frame} -> {reply}"
        );
        // broken JSON, a bare value and a bad action are errors; a request's reply is its own
        if matches!(i % 6, 2..=4) {
            assert_eq!(reply["status"], "error", "{frame} -> {reply}");
            assert!(reply["code"].as_u64().unwrap_or(0) > 0, "{frame} -> {reply}");
        }
        if i % 6 != 2 && i % 6 != 3 {
            assert_eq!(reply["reqId"], i, "the reply answers its frame: {frame} -> {reply}");
        }
        ws_cases += 1;
        if i % 50 == 0 {
            let mut bytes = vec![0u8; (generator.next() % 64) as usize];
            bytes.iter_mut().for_each(|b| *b = generator.next() as u8);
            ws.send_message(Message::Binary(bytes.into())).await;
            let Some(Message::Binary(reply)) = ws.next_raw().await else {
                panic!("binary error reply")
            };
            let reply: Value = rmp_serde::from_slice(&reply).unwrap();
            assert_eq!(reply["status"], "error");
            assert_eq!(reply["code"], 10001, "{reply}");
            ws_cases += 1;
            // back to JSON for the next requests
            ws.send_frame(json!({"action": "ping", "reqId": "json"})).await;
            let pong = ws.next_reply().await;
            assert_eq!(
                (&pong["reqId"], &pong["data"]),
                (&json!("json"), &json!("pong")),
                "{pong}"
            );
        }
    }
    let pong = ws.request("ping", json!({})).await;
    assert_eq!(pong["data"], "pong", "the connection still works");
    assert!(http_cases + ws_cases >= 1000, "{http_cases} + {ws_cases} cases");

    // an oversize frame and invalid UTF-8 get an error and the connection stays
    ws.send_frame_text("x".repeat(100_000)).await;
    assert_eq!(ws.next_reply().await["code"], 10007, "a frame over 64 KiB is refused");
    assert_eq!(
        ws.request("ping", json!({})).await["data"],
        "pong",
        "and the connection goes on"
    );
    // invalid UTF-8 in a text frame breaks the protocol: an error, then close 1007
    let mut broken = api.ws(&token).await;
    broken
        .send_message(Message::Frame(Frame::message(
            vec![0xff, 0xfe, 0xfd],
            OpCode::Data(Data::Text),
            true,
        )))
        .await;
    assert_eq!(broken.next_reply().await["code"], 10001, "invalid UTF-8 is refused");
    match broken.next_raw().await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1007),
        other => panic!("expected close 1007, got {other:?}"),
    }
    // past the hard limit (1 MiB) the frame is not read: an error, then close 1009
    let (error, close) = frame_past_the_hard_limit(herald.addr, &token).await;
    assert_eq!(error["status"], "error", "{error}");
    assert_eq!(close, Some(1009), "a frame past 1 MiB closes the connection with 1009");
    assert_eq!(
        ws.request("ping", json!({})).await["data"],
        "pong",
        "other connections are unaffected"
    );

    let health = api.http.get(format!("{}/healthz", api.base)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let (status, _) = api
        .post(
            "/send_msg",
            &token,
            json!({"conversation_id": conv, "content": "still fine"}),
        )
        .await;
    assert_eq!(status, 200, "the server still works");
    herald.stop().await;
}

on_both_buses!(thousands_of_bad_inputs_get_clear_errors);
