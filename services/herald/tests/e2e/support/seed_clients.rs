//! A plain WebSocket client of the seed-compatible endpoints (`/chat/test`, `/im/connect`): it
//! knows nothing of Herald's native frames, only JSON values in and out, as a seed's own client.

use super::*;

/// One connection to a seed-compatible endpoint.
pub struct SeedClient {
    socket: Socket,
    /// Frames read while looking for another one, oldest first.
    waiting: VecDeque<Value>,
}

impl SeedClient {
    /// Connects to `path` (with its query) on `api`'s server; the handshake's refusal is the error.
    pub async fn connect(api: &Api, path: &str) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}{path}", api.base.replace("http://", "ws://"));
        let (socket, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(SeedClient {
            socket,
            waiting: VecDeque::new(),
        })
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_message(Message::Text(frame.to_string().into())).await;
    }

    pub async fn send_message(&mut self, message: Message) {
        self.socket.send(message).await.expect("send");
    }

    /// The next JSON text frame (waiting ones first), within `WAIT`; a close is a failure.
    pub async fn next(&mut self) -> Value {
        if let Some(frame) = self.waiting.pop_front() {
            return frame;
        }
        self.read_json().await
    }

    /// The next frame whose `op_type` is `op_type`; frames read meanwhile wait for `next`.
    pub async fn next_op(&mut self, op_type: u64) -> Value {
        if let Some(at) = self.waiting.iter().position(|f| f["op_type"] == op_type) {
            return self.waiting.remove(at).expect("found");
        }
        loop {
            let frame = self.read_json().await;
            if frame["op_type"] == op_type {
                return frame;
            }
            self.waiting.push_back(frame);
        }
    }

    /// The next raw frame (pings skipped), `None` once the connection is gone.
    pub async fn next_raw(&mut self) -> Option<Message> {
        loop {
            match tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a frame within the wait")
            {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// True when no frame is waiting and none arrives within `quiet`. A fixed window can only
    /// miss a late frame, never invent one: callers use it only where no ordered barrier exists
    /// and say why.
    pub async fn is_quiet(&mut self, quiet: Duration) -> bool {
        if let Some(waiting) = self.waiting.front() {
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

    async fn read_json(&mut self) -> Value {
        match self.next_raw().await {
            Some(Message::Text(text)) => serde_json::from_str(text.as_str()).expect("a JSON frame"),
            Some(Message::Close(close)) => panic!("server closed: {close:?}"),
            Some(other) => panic!("not a text frame: {other:?}"),
            None => panic!("connection gone"),
        }
    }
}
