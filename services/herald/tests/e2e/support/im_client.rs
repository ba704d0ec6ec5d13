//! A plain WebSocket client of `/im/connect` (seed 002, Im-Services): it knows nothing of
//! Herald's native protocol, only JSON frames, so the tests see exactly what an Im-Services
//! client would see.

use super::*;

/// One `/im/connect` connection; frames read while waiting for another are kept, in order.
pub struct ImClient {
    socket: Socket,
    waiting: VecDeque<Value>,
}

/// The `/im/connect` URL of a server for `token`.
pub fn im_url(api: &Api, token: &str) -> String {
    format!("{}/im/connect?token={token}", api.base.replace("http://", "ws://"))
}

impl ImClient {
    pub async fn connect(api: &Api, token: &str) -> Self {
        match Self::try_connect(&im_url(api, token)).await {
            Ok(client) => client,
            Err(status) => panic!("/im/connect refused the handshake: HTTP {status:?}"),
        }
    }

    /// The handshake's outcome: a client, or the HTTP status of the refusal (`None` when the
    /// handshake failed without one).
    pub async fn try_connect(url: &str) -> Result<Self, Option<u16>> {
        use tokio_tungstenite::tungstenite::Error;
        match tokio_tungstenite::connect_async(url).await {
            Ok((socket, _)) => Ok(ImClient {
                socket,
                waiting: VecDeque::new(),
            }),
            Err(Error::Http(response)) => Err(Some(response.status().as_u16())),
            Err(err) => {
                eprintln!("handshake failed: {err}");
                Err(None)
            }
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.send_message(Message::Text(text.into())).await;
    }

    pub async fn send_message(&mut self, message: Message) {
        self.socket.send(message).await.expect("send");
    }

    /// The next JSON text frame off the socket (pings skipped); panics on a close or a timeout.
    async fn read_json(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a frame within the wait")
                .expect("socket open")
                .expect("frame ok");
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .unwrap_or_else(|_| panic!("a JSON text frame, got {text}"));
                }
                Message::Close(close) => panic!("server closed: {close:?}"),
                Message::Binary(bytes) => panic!("a binary frame on /im/connect: {bytes:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame, kept ones first.
    pub async fn next(&mut self) -> Value {
        match self.waiting.pop_front() {
            Some(frame) => frame,
            None => self.read_json().await,
        }
    }

    /// The first frame `wanted` accepts; the frames before it are kept for `next`.
    pub async fn next_matching(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.waiting.iter().position(&wanted) {
            return self.waiting.remove(at).unwrap();
        }
        loop {
            let frame = self.read_json().await;
            if wanted(&frame) {
                return frame;
            }
            self.waiting.push_back(frame);
        }
    }

    /// The next frame with this `msg_code`.
    pub async fn next_code(&mut self, code: u64) -> Value {
        self.next_matching(|frame| frame["msg_code"] == code).await
    }

    /// Sends seed 002's ping and waits for its answer: the server has handled every frame sent
    /// before it, and every frame it wrote before the answer is in `waiting` (a barrier).
    pub async fn ping(&mut self) {
        self.send(json!({"msg_code": 1004})).await;
        let pong = self
            .next_matching(|frame| frame == &json!({"msg_code": 1004, "message": "ping"}))
            .await;
        assert_eq!(pong["message"], "ping");
    }

    /// Frames kept but not taken yet.
    pub fn waiting(&self) -> &VecDeque<Value> {
        &self.waiting
    }

    /// Reads until the server's Close frame and returns its code (`None`: the connection ended
    /// without one); JSON frames read meanwhile are kept.
    pub async fn next_close(&mut self) -> Option<u16> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a frame within the wait");
            match frame {
                Some(Ok(Message::Close(close))) => return close.map(|c| u16::from(c.code)),
                Some(Ok(Message::Text(text))) => self
                    .waiting
                    .push_back(serde_json::from_str(text.as_str()).expect("json frame")),
                Some(Ok(_)) => continue,
                Some(Err(err)) => {
                    eprintln!("websocket error: {err}");
                    return None;
                }
                None => return None,
            }
        }
    }

    /// Closes the connection as a client does (Close frame, then the server's answer).
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.socket.next()).await {}
    }
}
