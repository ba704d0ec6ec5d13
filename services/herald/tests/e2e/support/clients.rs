//! Real clients of a running Herald: a WebSocket client of `/ws` and an SSE reader of `/notify`.

use super::*;

/// A WebSocket client that keeps pushes apart from replies.
pub struct WsClient {
    socket: Socket,
    pushes: VecDeque<Value>,
    next_req: u64,
}

impl WsClient {
    pub async fn connect(url: &str) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        WsClient {
            socket,
            pushes: VecDeque::new(),
            next_req: 1,
        }
    }

    async fn read_json(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a frame within the wait")
                .expect("socket open")
                .expect("frame ok");
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("json frame");
                }
                Message::Close(close) => panic!("server closed: {close:?}"),
                _ => continue,
            }
        }
    }

    /// Sends, ignoring a failure (the server may close while we write).
    pub async fn send_frame_text(&mut self, text: String) {
        self.socket.send(Message::Text(text.into())).await.expect("send");
    }

    /// The next frame that answers a request (`status` set, pushes skipped).
    pub async fn next_reply(&mut self) -> Value {
        loop {
            let frame = self.read_json().await;
            if frame.get("reqId").is_some() || frame["status"] == "error" {
                return frame;
            }
            self.pushes.push_back(frame);
        }
    }

    pub async fn send_frame(&mut self, frame: Value) {
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("send");
    }

    /// Sends a request and returns its reply; pushes read meanwhile are kept.
    pub async fn request(&mut self, action: &str, param: Value) -> Value {
        let req_id = self.next_req;
        self.next_req += 1;
        self.send_frame(json!({"action": action, "reqId": req_id, "param": param}))
            .await;
        loop {
            let frame = self.read_json().await;
            if frame.get("reqId") == Some(&json!(req_id)) {
                return frame;
            }
            self.pushes.push_back(frame);
        }
    }

    /// A request with a `data` part (chat rooms).
    pub async fn request_with_data(&mut self, action: &str, param: Value, data: Value) -> Value {
        let req_id = self.next_req;
        self.next_req += 1;
        self.send_frame(json!({"action": action, "reqId": req_id, "param": param, "data": data}))
            .await;
        loop {
            let frame = self.read_json().await;
            if frame.get("reqId") == Some(&json!(req_id)) {
                return frame;
            }
            self.pushes.push_back(frame);
        }
    }

    /// The next push with this action (others read meanwhile are kept).
    pub async fn next_push(&mut self, action: &str) -> Value {
        if let Some(i) = self
            .pushes
            .iter()
            .position(|f| f["action"] == action && f.get("reqId").is_none())
        {
            return self.pushes.remove(i).unwrap();
        }
        loop {
            let frame = self.read_json().await;
            if frame["action"] == action && frame.get("reqId").is_none() {
                return frame;
            }
            self.pushes.push_back(frame);
        }
    }

    /// True when no push is waiting and no frame arrives within `quiet`. A fixed window can
    /// only miss a late push, never invent one: prefer a barrier (a push known to travel the same
    /// ordered path after the one that must not come, as `actions.rs` does with friend
    /// requests) and use this only where no such path exists; each caller says why.
    pub async fn is_quiet(&mut self, quiet: Duration) -> bool {
        if let Some(waiting) = self.pushes.front() {
            eprintln!("not quiet: {waiting}");
            return false;
        }
        match tokio::time::timeout(quiet, self.socket.next()).await {
            Err(_) => true,
            Ok(frame) => {
                eprintln!("not quiet: {frame:?}");
                false
            }
        }
    }

    pub async fn send_message(&mut self, message: Message) {
        self.socket.send(message).await.expect("send");
    }

    /// The next raw frame, however it is encoded (for MessagePack and close frames).
    pub async fn next_raw(&mut self) -> Option<Message> {
        loop {
            match tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a frame within the wait")
            {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(err)) => {
                    eprintln!("websocket error: {err}");
                    return None;
                }
                None => return None,
            }
        }
    }

    /// Sends without waiting for the reply.
    pub async fn send_request(&mut self, action: &str, param: Value) -> u64 {
        let req_id = self.next_req;
        self.next_req += 1;
        self.send_frame(json!({"action": action, "reqId": req_id, "param": param}))
            .await;
        req_id
    }

    /// The next frame (push or reply), buffered ones first.
    pub async fn next(&mut self) -> Value {
        match self.pushes.pop_front() {
            Some(frame) => frame,
            None => self.read_json().await,
        }
    }

    /// The next message push's `MsgData` (native `/ws` pushes and `/notify` frames alike).
    pub async fn next_message(&mut self) -> Value {
        loop {
            let frame = self.next().await;
            if frame.get("action") == Some(&json!("msg-im")) && frame.get("reqId").is_none() {
                return frame["data"].clone();
            }
            if frame.get("MsgId").is_some() {
                return frame;
            }
        }
    }
}

/// Reads `text/event-stream` events from a streaming response.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

#[derive(Debug, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub comments: usize,
}

impl SseReader {
    pub async fn open(api: &Api, token: &str) -> Self {
        let response = api
            .http
            .get(format!("{}/notify?protoc=sse&token={token}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next event with data; comment lines seen before it are counted.
    pub async fn next(&mut self) -> SseEvent {
        let mut event = SseEvent::default();
        loop {
            while let Some(end) = self.buffer.find('\n') {
                let line: String = self.buffer.drain(..=end).collect();
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if !event.data.is_empty() {
                        return event;
                    }
                    continue;
                }
                if line.starts_with(':') {
                    event.comments += 1;
                } else if let Some(v) = line.strip_prefix("id:") {
                    event.id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("event:") {
                    event.event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    event.data.push_str(v.trim_start());
                }
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("sse data in time")
                .unwrap()
                .expect("stream open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}
