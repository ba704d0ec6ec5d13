//! Requests waiting for the sequencer's answer, by request number; bounded, and expired after
//! the ack timeout with an answer that says retrying with the same key is safe.

use crate::frames;
use crate::hub::Conn;
use herald_protocol::bus::Reply;
use herald_protocol::error_code::WireError;
use herald_protocol::ws::Format;
use herald_protocol::{ConvId, ErrorCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

pub type Outcome = Result<Reply, WireError>;

/// How a `/ws` reply's `data` is built from the sequencer's answer.
#[derive(Debug, Clone)]
pub enum Shape {
    /// The stored message (`MsgData`).
    Message,
    /// `{"convId", "seq", "unreadNum"}`.
    Read(ConvId),
    /// `{"convId"}`.
    Conv(ConvId),
}

impl Shape {
    pub fn data(&self, reply: Reply) -> Value {
        match (self, reply) {
            (_, Reply::Message(record)) => serde_json::to_value(record.to_wire()).unwrap_or(Value::Null),
            (Shape::Read(conv), Reply::Read { seq, unread }) => {
                json!({"convId": conv, "seq": seq, "unreadNum": unread})
            }
            (Shape::Read(conv) | Shape::Conv(conv), _) => json!({"convId": conv}),
            (Shape::Message, _) => json!({}),
        }
    }
}

#[allow(
    clippy::large_enum_variant,
    reason = "most waiters are /ws ones: boxing them would add an allocation per request to save memory only on HTTP ones"
)]
pub enum Waiter {
    Http(oneshot::Sender<Outcome>),
    /// A `/ws` request: the reply goes straight into the connection's queue. `in_flight` is
    /// the connection's slot for it (`hub::MAX_IN_FLIGHT`), freed when it is answered.
    Ws {
        conn: Conn,
        in_flight: Option<OwnedSemaphorePermit>,
        action: String,
        req_id: Value,
        format: Format,
        shape: Shape,
    },
}

pub struct Pending {
    next: AtomicU64,
    max: usize,
    waiting: Mutex<HashMap<u64, (Instant, Waiter)>>,
    /// Metric handles resolved once: these are touched for every request.
    waiting_gauge: metrics::Gauge,
    ack_seconds: metrics::Histogram,
}

impl Pending {
    pub fn new(max: usize) -> Self {
        Self {
            // the high half is drawn at start: request numbers of two lives never meet
            next: AtomicU64::new((u64::from(rand::random::<u32>()) << 32) | 1),
            max,
            waiting: Mutex::new(HashMap::new()),
            waiting_gauge: metrics::gauge!("herald_pending_requests"),
            ack_seconds: metrics::histogram!("herald_command_ack_seconds"),
        }
    }

    /// Registers a waiter; refused when `max` requests already wait.
    pub fn insert(&self, waiter: Waiter) -> Result<u64, WireError> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if waiting.len() >= self.max {
            return Err(WireError::new(ErrorCode::Unavailable, "gateway busy, retry"));
        }
        let request = self.next.fetch_add(1, Ordering::Relaxed);
        waiting.insert(request, (Instant::now(), waiter));
        self.waiting_gauge.set(waiting.len() as f64);
        Ok(request)
    }

    pub fn complete(&self, request: u64, outcome: Outcome) {
        let waiter = self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&request);
        if let Some((started, waiter)) = waiter {
            self.ack_seconds.record(started.elapsed().as_secs_f64());
            answer(waiter, outcome);
        }
    }

    /// Answers every request older than `timeout`.
    pub fn expire(&self, timeout: Duration) {
        let expired: Vec<Waiter> = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            let old: Vec<u64> = waiting
                .iter()
                .filter(|(_, (at, _))| at.elapsed() >= timeout)
                .map(|(r, _)| *r)
                .collect();
            old.into_iter()
                .filter_map(|r| waiting.remove(&r))
                .map(|(_, w)| w)
                .collect()
        };
        for waiter in expired {
            metrics::counter!("herald_command_timeouts_total").increment(1);
            answer(
                waiter,
                Err(WireError::new(
                    ErrorCode::Unavailable,
                    "not confirmed in time; retrying with the same key is safe",
                )),
            );
        }
    }
}

fn answer(waiter: Waiter, outcome: Outcome) {
    match waiter {
        Waiter::Http(tx) => {
            let _ = tx.send(outcome);
        }
        Waiter::Ws {
            conn,
            in_flight,
            action,
            req_id,
            format,
            shape,
        } => {
            let encoded = match outcome {
                // JSON: the stored message serialized from the record (no `Value` built first);
                // MessagePack keeps its keys sorted, as its clients have always had them
                // (`ws/reply.rs`), which the `Value` below gives
                Ok(Reply::Message(record)) if format == Format::Json => {
                    format.ok_reply(&action, &req_id, record.wire())
                }
                Ok(reply) => format.ok_reply(&action, &req_id, shape.data(reply)),
                Err(err) => format.error_reply(&action, &req_id, err.code, &err.text),
            };
            // a connection too slow to take its reply is closed by its own queue bound
            conn.offer(frames::reply(encoded));
            drop(in_flight);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::Outbound;
    use crate::hub::{ConnKind, Sink};
    use crate::outbound;
    use herald_protocol::{AppId, MessageRecord};
    use tokio_util::sync::CancellationToken;

    /// A stored message whose content needs escaping.
    fn record() -> MessageRecord {
        let mut record =
            herald_store::testsuite::record(&AppId::parse("a").unwrap(), &ConvId::parse("c").unwrap(), 3, "s");
        record.content = "hi \"there\"".into();
        record
    }

    /// The frame a `/ws` send's answer becomes, in `format`.
    fn answered(format: Format) -> Outbound {
        let me = crate::Identity::for_tests();
        let (tx, mut rx) = outbound::channel(4, 1 << 20);
        let conn = Conn::new(1, &me, ConnKind::Native, Sink::Queue(tx), CancellationToken::new());
        let waiter = Waiter::Ws {
            conn,
            in_flight: None,
            action: "msg-im".into(),
            req_id: Value::from(7),
            format,
            shape: Shape::Message,
        };
        answer(waiter, Ok(Reply::Message(record())));
        rx.try_recv().expect("a reply frame")
    }

    /// A send's answer carries the stored message: in JSON serialized from the record (the same
    /// object the `Value` path gave), in MessagePack byte for byte as before (keys sorted).
    #[test]
    fn a_send_s_answer_is_the_stored_message_in_either_format() {
        let Outbound::Text { json, .. } = answered(Format::Json) else {
            panic!("a text frame")
        };
        let reply: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(reply["data"], serde_json::to_value(record().to_wire()).unwrap());
        assert_eq!(reply["reqId"], 7);

        let Outbound::Binary(bytes) = answered(Format::MsgPack) else {
            panic!("a binary frame")
        };
        let before = Format::MsgPack.ok_reply("msg-im", &Value::from(7), Shape::Message.data(Reply::Message(record())));
        let herald_protocol::ws::Encoded::Binary(before) = before else {
            panic!("MessagePack is binary")
        };
        assert_eq!(bytes.as_ref(), before.as_slice());
    }
}
