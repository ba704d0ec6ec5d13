//! The connections this gateway holds, by (app, session), and the routing entries that tell
//! delivery workers to send here. A delivery batch is written to every matching connection's
//! bounded queue without waiting; a connection whose queue is full is closed, not buffered.

use crate::frames;
use axum::extract::ws::{Message, Utf8Bytes};
use herald_bus::Bus;
use herald_protocol::bus::{Delivery, Push};
use herald_protocol::{AppId, GatewayId, Platform, SessionId, ws};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a connection receives: the native `/ws` protocol or the push-only `/notify` channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    Native,
    Notify,
}

impl ConnKind {
    pub fn label(self) -> &'static str {
        match self {
            ConnKind::Native => "ws",
            ConnKind::Notify => "notify_ws",
        }
    }
}

#[derive(Clone)]
pub struct Conn {
    pub id: u64,
    pub platform: Platform,
    pub kind: ConnKind,
    pub tx: mpsc::Sender<Message>,
    /// Set once the client speaks MessagePack; pushes follow.
    pub msgpack: Arc<AtomicBool>,
    /// Cancelled to close the connection (slow reader, shutdown).
    pub close: CancellationToken,
}

type Key = (AppId, SessionId);

const ROUTE_SHARDS: usize = 64;

pub struct Hub {
    gateway: GatewayId,
    bus: Arc<dyn Bus>,
    conns: Mutex<HashMap<Key, Vec<Conn>>>,
    next_id: AtomicU64,
    /// Serializes route changes per key, so an add and a remove never cross.
    route_locks: Vec<tokio::sync::Mutex<()>>,
}

impl Hub {
    pub fn new(gateway: GatewayId, bus: Arc<dyn Bus>) -> Self {
        Self {
            gateway,
            bus,
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            route_locks: (0..ROUTE_SHARDS).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn route_lock(&self, key: &Key) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        &self.route_locks[hasher.finish() as usize % ROUTE_SHARDS]
    }

    /// Adds a connection; the session's first one on this gateway publishes its route.
    pub async fn register(&self, app: &AppId, session: &SessionId, conn: Conn) -> Result<(), herald_bus::BusError> {
        let key = (app.clone(), session.clone());
        let _guard = self.route_lock(&key).lock().await;
        let first = {
            let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
            let list = conns.entry(key.clone()).or_default();
            list.push(conn.clone());
            list.len() == 1
        };
        metrics::gauge!("herald_connections", "protocol" => conn.kind.label()).increment(1.0);
        if first && let Err(err) = self.bus.route_add(app, session, &self.gateway).await {
            drop(_guard);
            self.unregister(app, session, conn.id, conn.kind).await;
            return Err(err);
        }
        Ok(())
    }

    /// Removes a connection; the session's last one on this gateway withdraws its route.
    pub async fn unregister(&self, app: &AppId, session: &SessionId, conn_id: u64, kind: ConnKind) {
        let key = (app.clone(), session.clone());
        let _guard = self.route_lock(&key).lock().await;
        let last = {
            let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
            let Some(list) = conns.get_mut(&key) else {
                return;
            };
            let before = list.len();
            list.retain(|c| c.id != conn_id);
            if list.len() == before {
                return;
            }
            let empty = list.is_empty();
            if empty {
                conns.remove(&key);
            }
            empty
        };
        metrics::gauge!("herald_connections", "protocol" => kind.label()).decrement(1.0);
        if last && let Err(err) = self.bus.route_remove(app, session, &self.gateway).await {
            tracing::warn!(error = %err, "could not withdraw route");
        }
    }

    /// Writes a delivery batch to the matching connections. Never waits.
    pub fn deliver(&self, deliveries: &[Delivery]) {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let mut written = 0u64;
        for delivery in deliveries {
            let Push::Message { msg_data_json, .. } = &delivery.push;
            let mut frames = PushFrames::new(msg_data_json);
            let mut key = (delivery.app.clone(), SessionId::parse("-").expect("valid"));
            for session in &delivery.recipients {
                key.1 = session.clone();
                let Some(list) = conns.get(&key) else {
                    continue;
                };
                for conn in list {
                    let frame = frames.for_conn(conn);
                    match conn.tx.try_send(frame) {
                        Ok(()) => written += 1,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            metrics::counter!("herald_slow_consumer_disconnects_total").increment(1);
                            tracing::info!(session = %session, conn = conn.id, "closing a connection that does not read");
                            conn.close.cancel();
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => {}
                    }
                }
            }
        }
        metrics::counter!("herald_pushes_written_total").increment(written);
    }

    /// Closes every connection (drain).
    pub fn close_all(&self) {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for conn in conns.values().flatten() {
            conn.close.cancel();
        }
    }

    pub fn connection_count(&self) -> usize {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }
}

/// The frames of one push, each built at most once however many connections take it.
struct PushFrames<'a> {
    msg_data_json: &'a str,
    notify: Option<Message>,
    native: Option<Message>,
    native_msgpack: Option<Message>,
}

impl<'a> PushFrames<'a> {
    fn new(msg_data_json: &'a str) -> Self {
        Self {
            msg_data_json,
            notify: None,
            native: None,
            native_msgpack: None,
        }
    }

    fn for_conn(&mut self, conn: &Conn) -> Message {
        let json = self.msg_data_json;
        match (conn.kind, conn.msgpack.load(Ordering::Relaxed)) {
            (ConnKind::Notify, _) => self
                .notify
                .get_or_insert_with(|| Message::Text(Utf8Bytes::from(json.to_owned())))
                .clone(),
            (ConnKind::Native, false) => self
                .native
                .get_or_insert_with(|| Message::Text(Utf8Bytes::from(ws::message_push(json))))
                .clone(),
            (ConnKind::Native, true) => self
                .native_msgpack
                .get_or_insert_with(|| Message::Binary(frames::to_msgpack(&ws::message_push(json))))
                .clone(),
        }
    }
}
