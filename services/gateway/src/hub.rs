//! The connections this gateway holds, by (app, session), and the routing entries that tell
//! delivery workers to send here. A delivery batch is written to every matching connection
//! without waiting; a connection whose queue is full is closed, not buffered without bound.

use crate::frames::{self, Outbound};
use crate::mailbox::Mailbox;
use crate::outbound::{OutboundTx, Refused};
use axum::extract::ws::Utf8Bytes;
use herald_bus::Bus;
use herald_protocol::bus::{Delivery, Push};
use herald_protocol::{AppId, GatewayId, Platform, SessionId, ws};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// `herald_pushes_written_total`, resolved on first use (the process installs its recorder
/// before it serves): a registry lookup per delivery batch otherwise.
static PUSHES_WRITTEN: std::sync::LazyLock<metrics::Counter> =
    std::sync::LazyLock::new(|| metrics::counter!("herald_pushes_written_total"));

/// What a connection speaks: the native `/ws` protocol, one of the push-only `/notify`
/// channels, or a seed's WebSocket protocol (protocol §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    Native,
    NotifyWs,
    Sse,
    Poll,
    /// `/im/connect`: seed 002 (Im-Services).
    ImServices,
    /// `/chat/test`: seed 003 (gin-chat-demo).
    GinChat,
}

impl ConnKind {
    pub fn label(self) -> &'static str {
        match self {
            ConnKind::Native => "ws",
            ConnKind::NotifyWs => "notify_ws",
            ConnKind::Sse => "sse",
            ConnKind::Poll => "poll",
            ConnKind::ImServices => "im_services",
            ConnKind::GinChat => "gin_chat",
        }
    }

    /// A seed's protocol: every push reaches it in the native shape and its writer renders it.
    pub fn is_seed(self) -> bool {
        matches!(self, ConnKind::ImServices | ConnKind::GinChat)
    }
}

/// Where a connection's frames go.
#[derive(Clone)]
pub enum Sink {
    Queue(OutboundTx),
    Mailbox(Arc<Mailbox>),
}

#[derive(Clone)]
pub struct Conn {
    pub id: u64,
    pub platform: Platform,
    /// The token this connection authenticated with (closed when it is revoked).
    pub jti: String,
    pub iat: u64,
    pub kind: ConnKind,
    pub sink: Sink,
    /// Set once the client speaks MessagePack; pushes follow.
    pub msgpack: Arc<AtomicBool>,
    /// Cancelled to close the connection (slow reader, kickout, shutdown).
    pub close: CancellationToken,
    /// Requests of this connection waiting for the sequencer; at most `MAX_IN_FLIGHT`.
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// The highest `Seq` pushed per conversation: keeps this connection's pushes in order.
    pushed: Arc<PushedSeqs>,
}

/// Conversations whose last pushed `Seq` one connection remembers (16 bytes each: a keyed hash
/// of the conversation id and the `Seq`, so at most about 100 KiB per connection whatever the
/// ids' length); past it the memory starts over (a repeat may then pass once: the client drops
/// a `Seq` it already has).
pub const MAX_ORDERED_CONVERSATIONS: usize = 4096;

/// The highest `Seq` pushed to one connection per conversation. A push at or below it is a
/// repeat (a delivery worker replaying after a failover) or arrives late (pushes before it were
/// lost in transit and are replayed now): it is not written, so a connection only ever sees a
/// conversation's messages in rising `Seq` order; a client that sees a gap syncs from the store
/// (protocol §5 `sync`), which is where the late ones are.
#[derive(Default)]
struct PushedSeqs(Mutex<HashMap<u64, u64>>);

impl PushedSeqs {
    /// True when `seq` comes after every `Seq` of the conversation whose hash is `conv` pushed
    /// so far (and records it).
    fn admit(&self, conv: u64, seq: u64) -> bool {
        let mut pushed = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match pushed.get_mut(&conv) {
            Some(last) if seq <= *last => false,
            Some(last) => {
                *last = seq;
                true
            }
            None => {
                if pushed.len() >= MAX_ORDERED_CONVERSATIONS {
                    pushed.clear();
                }
                pushed.insert(conv, seq);
                true
            }
        }
    }
}

/// Requests one `/ws` connection may have waiting for the sequencer at once; past it, a request
/// is answered with an error (10008) and nothing is done.
pub const MAX_IN_FLIGHT: usize = 64;

impl Conn {
    pub fn new(id: u64, me: &crate::Identity, kind: ConnKind, sink: Sink, close: CancellationToken) -> Self {
        Self {
            id,
            platform: me.platform,
            jti: me.jti.clone(),
            iat: me.iat,
            kind,
            sink,
            msgpack: Arc::new(AtomicBool::new(false)),
            close,
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            pushed: Arc::default(),
        }
    }

    /// Whether a push with this order key (`Hub::order_key`) may be written to this connection:
    /// a conversation's messages only in rising `Seq` order.
    fn in_order(&self, key: Option<(u64, u64)>) -> bool {
        key.is_none_or(|(conv, seq)| self.pushed.admit(conv, seq))
    }

    /// Queues a frame; false when the connection cannot take it (and is being closed). A
    /// seed-protocol connection gets every text frame as a push to render in its dialect.
    pub fn offer(&self, frame: Outbound) -> bool {
        match frame {
            Outbound::Text { json, .. } if self.kind.is_seed() => self.offer_own(Outbound::Push(json)),
            frame => self.offer_own(frame),
        }
    }

    /// Queues a frame as it is (a seed dialect's own frames); false as for `offer`.
    pub fn offer_own(&self, frame: Outbound) -> bool {
        match &self.sink {
            Sink::Queue(tx) => match tx.try_send(frame) {
                Ok(()) => true,
                Err(Refused::Full) => {
                    if !self.close.is_cancelled() {
                        metrics::counter!("herald_slow_consumer_disconnects_total").increment(1);
                        tracing::info!(conn = self.id, "closing a connection that does not read");
                        self.close.cancel();
                    }
                    false
                }
                Err(Refused::Closed) => false,
            },
            Sink::Mailbox(mailbox) => {
                mailbox.push(frame);
                true
            }
        }
    }
}

type Key = (AppId, SessionId);

const ROUTE_SHARDS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("this session already has {0} connections on this gateway")]
    TooMany(usize),
    #[error(transparent)]
    Bus(#[from] herald_bus::BusError),
}

impl From<RegisterError> for crate::error::ApiError {
    /// What a client whose connection could not be registered is told.
    fn from(err: RegisterError) -> Self {
        match err {
            RegisterError::TooMany(n) => Self::new(
                herald_protocol::ErrorCode::RateLimited,
                format!("at most {n} connections per session"),
            ),
            RegisterError::Bus(err) => {
                tracing::warn!(error = %err, "could not register connection");
                Self::new(herald_protocol::ErrorCode::Unavailable, "try again")
            }
        }
    }
}

pub struct Hub {
    gateway: GatewayId,
    bus: Arc<dyn Bus>,
    max_per_session: usize,
    conns: Mutex<HashMap<Key, Vec<Conn>>>,
    next_id: AtomicU64,
    /// Serializes route changes per key, so an add and a remove never cross.
    route_locks: Vec<tokio::sync::Mutex<()>>,
    /// Keys the conversation hashes of `PushedSeqs` (randomly, so ids cannot be chosen to collide).
    order_hasher: std::hash::RandomState,
}

impl Hub {
    pub fn new(gateway: GatewayId, bus: Arc<dyn Bus>, max_per_session: usize) -> Self {
        Self {
            gateway,
            bus,
            max_per_session,
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            route_locks: (0..ROUTE_SHARDS).map(|_| tokio::sync::Mutex::new(())).collect(),
            order_hasher: std::hash::RandomState::new(),
        }
    }

    /// A message push's (conversation hash, `Seq`), computed once per delivery; `None` for
    /// pushes with no order (and from senders that do not say).
    fn order_key(&self, push: &Push) -> Option<(u64, u64)> {
        use std::hash::BuildHasher;
        match push {
            Push::Message {
                conv: Some(conv), seq, ..
            } if *seq > 0 => Some((self.order_hasher.hash_one(conv), *seq)),
            _ => None,
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
    pub async fn register(&self, app: &AppId, session: &SessionId, conn: Conn) -> Result<(), RegisterError> {
        let key = (app.clone(), session.clone());
        let guard = self.route_lock(&key).lock().await;
        let first = {
            let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
            let list = conns.entry(key.clone()).or_default();
            if list.len() >= self.max_per_session {
                return Err(RegisterError::TooMany(self.max_per_session));
            }
            list.push(conn.clone());
            list.len() == 1
        };
        metrics::gauge!("herald_connections", "protocol" => conn.kind.label()).increment(1.0);
        if first && let Err(err) = self.bus.route_add(app, session, &self.gateway).await {
            drop(guard);
            self.unregister(app, session, conn.id, conn.kind).await;
            return Err(err.into());
        }
        Ok(())
    }

    /// Removes a connection; the session's last one on this gateway withdraws its route.
    pub async fn unregister(&self, app: &AppId, session: &SessionId, conn_id: u64, kind: ConnKind) {
        let key = (app.clone(), session.clone());
        let _guard = self.route_lock(&key).lock().await;
        let last = {
            let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
            let Some(list) = conns.get_mut(&key) else { return };
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
        let (mut written, mut skipped) = (0u64, 0u64);
        for delivery in deliveries {
            let mut frames = PushFrames::new(&delivery.push);
            let order = self.order_key(&delivery.push);
            let mut key = (delivery.app.clone(), SessionId::parse("-").expect("valid"));
            for session in &delivery.recipients {
                key.1 = session.clone();
                let Some(list) = conns.get(&key) else { continue };
                for conn in list {
                    if !conn.in_order(order) {
                        skipped += 1;
                        continue;
                    }
                    if conn.offer(frames.for_conn(conn)) {
                        written += 1;
                    }
                }
            }
        }
        PUSHES_WRITTEN.increment(written);
        if skipped > 0 {
            metrics::counter!("herald_pushes_out_of_order_total").increment(skipped);
        }
    }

    /// Sends `frame` to the session's connections matching `filter` on this gateway.
    pub fn send_to_session(&self, app: &AppId, session: &SessionId, frame: &Outbound, filter: impl Fn(&Conn) -> bool) {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = conns.get(&(app.clone(), session.clone())) {
            for conn in list.iter().filter(|c| filter(c)) {
                conn.offer(frame.clone());
            }
        }
    }

    /// Closes, with `frame` first, every connection for which `condemned(app, session, conn)` holds.
    pub fn close_where(&self, frame: &Outbound, condemned: impl Fn(&AppId, &SessionId, &Conn) -> bool) -> usize {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let mut closed = 0;
        for ((app, session), list) in conns.iter() {
            for conn in list.iter().filter(|c| condemned(app, session, c)) {
                conn.offer(frame.clone());
                conn.offer(Outbound::Close {
                    code: 4003,
                    reason: "token revoked",
                });
                if matches!(conn.sink, Sink::Mailbox(_)) {
                    conn.close.cancel();
                }
                closed += 1;
            }
        }
        closed
    }

    /// Whether this gateway holds a connection of the session (known here before any replica of
    /// the routing table has seen its route).
    pub fn holds(&self, app: &AppId, session: &SessionId) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.contains_key(&(app.clone(), session.clone()))
    }

    pub fn for_each_conn(&self, app: &AppId, session: &SessionId, mut visit: impl FnMut(&Conn)) {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = conns.get(&(app.clone(), session.clone())) {
            list.iter().for_each(&mut visit);
        }
    }

    /// The token id of a connection of this gateway.
    pub fn jti_of(&self, conn_id: u64) -> Option<String> {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns
            .values()
            .flatten()
            .find(|c| c.id == conn_id)
            .map(|c| c.jti.clone())
    }

    /// Closes every connection (drain).
    pub fn close_all(&self) {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for conn in conns.values().flatten() {
            conn.close.cancel();
        }
    }

    /// Publishes again the route of every session with a connection here that `table` does
    /// not show on this gateway (withdrawn by a presence tracker that took this gateway for
    /// dead, or lost with the bus): a gateway never loses the routes it holds. Returns how many.
    pub async fn reassert_routes(&self, table: &herald_bus::RouteTable) -> RoutesPublished {
        self.publish_routes(|(app, session)| {
            let key = herald_bus::RouteKey {
                app: app.clone(),
                session: session.clone(),
            };
            !table.holds(&key, &self.gateway)
        })
        .await
    }

    /// Publishes again the route of every session with a connection here, whatever the routing
    /// table shows: after this gateway's heartbeat lapsed (a pause, a lost NATS connection) a
    /// presence tracker may have withdrawn them, and the local replica may not show it yet (its
    /// watch lived through the same outage).
    pub async fn republish_routes(&self) -> RoutesPublished {
        self.publish_routes(|_| true).await
    }

    /// Puts the route of every session here that `wanted` picks, `PUBLISH_CONCURRENCY` at a
    /// time (a gateway may hold many sessions, and each put waits for its answer).
    async fn publish_routes(&self, wanted: impl Fn(&Key) -> bool) -> RoutesPublished {
        use futures::StreamExt;
        let keys: Vec<Key> = {
            let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
            conns.keys().filter(|key| wanted(key)).cloned().collect()
        };
        let outcomes: Vec<Option<Result<(), herald_bus::BusError>>> = futures::stream::iter(keys)
            .map(|key| async move {
                // under the key's route lock, so a last connection closing meanwhile wins
                let _guard = self.route_lock(&key).lock().await;
                let still_here = self.conns.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&key);
                if !still_here {
                    return None;
                }
                Some(self.bus.route_add(&key.0, &key.1, &self.gateway).await)
            })
            .buffer_unordered(PUBLISH_CONCURRENCY)
            .collect()
            .await;
        let mut published = RoutesPublished::default();
        for outcome in outcomes.into_iter().flatten() {
            match outcome {
                Ok(()) => published.ok += 1,
                Err(err) => {
                    if published.failed == 0 {
                        tracing::warn!(error = %err, "could not publish a route");
                    }
                    published.failed += 1;
                }
            }
        }
        published
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
    push: &'a Push,
    plain: Option<Outbound>,
    native: Option<Outbound>,
    native_msgpack: Option<Outbound>,
}

impl<'a> PushFrames<'a> {
    fn new(push: &'a Push) -> Self {
        Self {
            push,
            plain: None,
            native: None,
            native_msgpack: None,
        }
    }

    fn for_conn(&mut self, conn: &Conn) -> Outbound {
        let push = self.push;
        let native_json = || match push {
            Push::Message { msg_data_json, .. } => ws::message_push(msg_data_json),
            Push::Frame { json } => json.clone(),
        };
        match (conn.kind, conn.msgpack.load(Ordering::Relaxed)) {
            (ConnKind::Native | ConnKind::ImServices | ConnKind::GinChat, false) => self
                .native
                .get_or_insert_with(|| Outbound::Text {
                    json: Utf8Bytes::from(native_json()),
                    id: None,
                })
                .clone(),
            (ConnKind::Native | ConnKind::ImServices | ConnKind::GinChat, true) => self
                .native_msgpack
                .get_or_insert_with(|| Outbound::Binary(frames::to_msgpack(&native_json())))
                .clone(),
            // /notify: a message is its MsgData; other pushes their frame
            _ => self
                .plain
                .get_or_insert_with(|| match push {
                    Push::Message {
                        msg_id, msg_data_json, ..
                    } => Outbound::Text {
                        json: Utf8Bytes::from(msg_data_json.clone()),
                        id: Some(*msg_id),
                    },
                    Push::Frame { json } => Outbound::Text {
                        json: Utf8Bytes::from(json.clone()),
                        id: None,
                    },
                })
                .clone(),
        }
    }
}

/// How many route puts one pass of `publish_routes` keeps in flight.
const PUBLISH_CONCURRENCY: usize = 32;

/// What one pass of publishing routes did: puts answered, and puts that failed (to retry).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoutesPublished {
    pub ok: usize,
    pub failed: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound;
    use herald_bus::inproc::InprocBus;
    use herald_protocol::{ConvId, MsgId};

    fn message(conv: &str, seq: u64) -> Delivery {
        Delivery {
            app: AppId::parse("a").unwrap(),
            recipients: vec![SessionId::parse("s").unwrap()],
            push: Push::Message {
                msg_id: MsgId(1000 + seq),
                msg_data_json: format!("{{\"Seq\":{seq},\"ConversationID\":\"{conv}\"}}"),
                conv: Some(ConvId::parse(conv).unwrap()),
                seq,
            },
            trace: None,
        }
    }

    /// A connection sees a conversation's pushes in rising `Seq` order only: a repeat (a
    /// replay after a failover) and a late one (earlier pushes lost and replayed after a later
    /// one was written) are not written, each conversation on its own. Seen in the chaos
    /// suite: Seq 38, 39, 40 pushed after 41 when a NATS node was paused.
    #[tokio::test]
    async fn a_connection_gets_each_conversation_s_pushes_in_rising_seq_order() {
        let hub = Hub::new(GatewayId::parse("g").unwrap(), Arc::new(InprocBus::new(1)), 16);
        let me = crate::Identity::for_tests();
        let (tx, mut rx) = outbound::channel(64, 1 << 20);
        let conn = Conn::new(1, &me, ConnKind::Sse, Sink::Queue(tx), CancellationToken::new());
        hub.register(&me.app, &me.session, conn).await.unwrap();
        for (conv, seq) in [("x", 41), ("x", 38), ("y", 1), ("x", 41), ("x", 42), ("y", 1), ("y", 2)] {
            hub.deliver(&[message(conv, seq)]);
        }
        let mut written = Vec::new();
        while let Some(frame) = rx.try_recv() {
            let Outbound::Text { json, .. } = frame else {
                panic!("a text frame")
            };
            written.push(json.to_string());
        }
        let expected: Vec<String> = [("x", 41), ("y", 1), ("x", 42), ("y", 2)]
            .iter()
            .map(|(conv, seq)| format!("{{\"Seq\":{seq},\"ConversationID\":\"{conv}\"}}"))
            .collect();
        assert_eq!(written, expected);
    }

    /// After a lapse the local replica may still show routes a tracker withdrew (its watch
    /// lived through the same outage): reasserting against it publishes nothing, republishing
    /// publishes every route this gateway holds. Seen in the chaos suite: a paused gateway's
    /// receivers got no push for 10 s after it resumed, until its replica caught up.
    #[tokio::test]
    async fn republishing_restores_routes_a_stale_replica_still_shows() {
        let bus = Arc::new(InprocBus::new(1));
        let gateway = GatewayId::parse("g").unwrap();
        let hub = Hub::new(gateway.clone(), bus.clone(), 16);
        let me = crate::Identity::for_tests();
        let (tx, _rx) = outbound::channel(64, 1 << 20);
        let conn = Conn::new(1, &me, ConnKind::Sse, Sink::Queue(tx), CancellationToken::new());
        hub.register(&me.app, &me.session, conn).await.unwrap();
        let key = herald_bus::RouteKey {
            app: me.app.clone(),
            session: me.session.clone(),
        };
        let table = bus.route_table().await.unwrap();
        assert!(table.holds(&key, &gateway), "registered");

        // a tracker withdraws the route; a stale replica still shows it
        bus.route_remove(&me.app, &me.session, &gateway).await.unwrap();
        assert!(!table.holds(&key, &gateway), "withdrawn");
        let stale = herald_bus::RouteTable::default();
        stale.add(key.clone(), gateway.clone());
        assert_eq!(hub.reassert_routes(&stale).await, RoutesPublished::default());
        assert!(
            !table.holds(&key, &gateway),
            "nothing reasserted against the stale replica"
        );

        assert_eq!(hub.republish_routes().await, RoutesPublished { ok: 1, failed: 0 });
        assert!(table.holds(&key, &gateway), "republished");
    }
}
