//! A webhook receiver on a free loopback port: records every request (headers, body, the
//! answer it gave) and answers as the test says.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub event_id: String,
    pub signature: String,
    /// The W3C `traceparent` the request carried ("" when none).
    pub traceparent: String,
    pub raw: String,
    pub body: Value,
    /// What the receiver answered.
    pub status: u16,
}

/// How to answer a request: status, body, and a delay first.
pub type Answer = Arc<dyn Fn(&Value) -> (u16, String, Duration) + Send + Sync>;

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver that answers 200 to everything.
    pub async fn start() -> Self {
        let shared = Shared {
            received: Arc::default(),
            answer: Arc::new(Mutex::new(Arc::new(|_: &Value| (200, String::new(), Duration::ZERO)))),
        };
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, shared, task }
    }

    /// From now on, answers with `answer`.
    pub fn answer_with(&self, answer: impl Fn(&Value) -> (u16, String, Duration) + Send + Sync + 'static) {
        *self.shared.answer.lock().unwrap() = Arc::new(answer);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The requests it answered with a 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let raw = String::from_utf8_lossy(&body).into_owned();
    let parsed: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let answer = shared.answer.lock().unwrap().clone();
    let (status, text, delay) = answer(&parsed);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    shared.received.lock().unwrap().push(Received {
        event_id: header("herald-event-id"),
        signature: header("herald-signature"),
        traceparent: header("traceparent"),
        raw,
        body: parsed,
        status,
    });
    (StatusCode::from_u16(status).unwrap(), text)
}
