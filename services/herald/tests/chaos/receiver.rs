//! Receivers: one WebSocket per session, recording every message push and what `sync` brings.
//! A receiver whose connection ends reconnects (its preferred gateway first, then the other)
//! and syncs every conversation from the end of what it holds, as docs/protocol.md §7 tells clients.
//! Unlike `support::WsClient`, it never gives up on a quiet socket and keeps live pushes apart
//! from synced messages, which the per-fault figures need.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// What one session holds of one conversation.
#[derive(Debug, Default)]
pub struct ConvView {
    /// `Seq` → `MsgId`, from live pushes and `sync`.
    pub held: BTreeMap<u64, String>,
    /// The highest `Seq` received as a live push, on any connection.
    pub highest_live: u64,
    /// Messages first received live; messages first received by `sync`, with when, and those
    /// of them whose live push came afterwards after all (a push in flight during the sync is
    /// not a push missed).
    pub live: u64,
    pub synced_first: Vec<(Instant, u64)>,
    pub pushed_after_sync: HashSet<u64>,
    /// The first live push past `mark_seq`, once it came (the per-fault push recovery).
    pub mark_seq: u64,
    pub mark_at: Option<Instant>,
    /// Contract breaches seen: one `Seq` with two `MsgId`s, a push out of `Seq` order.
    pub breaches: Vec<String>,
    /// The stall detector's place in the conversation's acknowledgements.
    pub cursor: usize,
}

impl ConvView {
    /// The end of the run 1, 2, 3, … without a hole.
    pub fn contiguous(&self) -> u64 {
        let mut last = 0;
        for seq in self.held.keys() {
            if *seq != last + 1 {
                break;
            }
            last = *seq;
        }
        last
    }

    /// Messages first received by `sync` within `[from, to)` whose live push never came.
    pub fn missed_live(&self, from: Instant, to: Instant) -> u64 {
        self.synced_first
            .iter()
            .filter(|(at, seq)| *at >= from && *at < to && !self.pushed_after_sync.contains(seq))
            .count() as u64
    }

    fn hold(&mut self, seq: u64, msg_id: &str, who: &str, conv: &str) -> bool {
        match self.held.get(&seq) {
            Some(held) if held != msg_id => {
                self.breaches
                    .push(format!("{who}/{conv}: Seq {seq} is {held} and also {msg_id}"));
                false
            }
            Some(_) => false,
            None => {
                self.held.insert(seq, msg_id.to_owned());
                true
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct ReceiverState {
    /// Since when the current connection is open (`None`: reconnecting).
    pub connected_since: Option<Instant>,
    /// The gateway (index into the gateways) it is connected to.
    pub gateway: usize,
    pub views: HashMap<String, ConvView>,
    pub reconnects: u64,
}

enum Command {
    /// Sync every conversation until no page says `hasMore`; answered when done.
    Sync(oneshot::Sender<()>),
    /// Close the connection and reconnect, the preferred gateway first.
    Rejoin,
}

/// The handle the suite keeps of one receiver.
pub struct Receiver {
    pub session: String,
    pub preferred: usize,
    pub state: Arc<Mutex<ReceiverState>>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Receiver {
    /// Starts the receiver's task: connect, sync, read, and again on every disconnect.
    pub fn spawn(
        session: String,
        token: String,
        convs: Vec<String>,
        gateways: Vec<String>,
        preferred: usize,
        stop: CancellationToken,
    ) -> Self {
        let state = Arc::new(Mutex::new(ReceiverState {
            views: convs.iter().map(|c| (c.clone(), ConvView::default())).collect(),
            ..Default::default()
        }));
        let (commands, rx) = mpsc::unbounded_channel();
        let task = Task {
            session: session.clone(),
            token,
            convs,
            gateways,
            preferred,
            state: state.clone(),
            commands: rx,
            stop,
        };
        tokio::spawn(task.run());
        Receiver {
            session,
            preferred,
            state,
            commands,
        }
    }

    /// Syncs every conversation on the current connection; `false` if the connection ended
    /// first or it took longer than `within` (the caller asks again).
    pub async fn sync(&self, within: Duration) -> bool {
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Sync(done)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(within, wait).await, Ok(Ok(())))
    }

    pub fn rejoin(&self) {
        let _ = self.commands.send(Command::Rejoin);
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Task {
    session: String,
    token: String,
    convs: Vec<String>,
    gateways: Vec<String>,
    preferred: usize,
    state: Arc<Mutex<ReceiverState>>,
    commands: mpsc::UnboundedReceiver<Command>,
    stop: CancellationToken,
}

/// A sync round in progress: the conversations still paging, by request id, and who waits
/// for it; a sync asked during a round waits for the next one, which starts after it asked.
#[derive(Default)]
struct Round {
    pending: HashMap<u64, String>,
    waiting: Vec<oneshot::Sender<()>>,
    queued: Vec<oneshot::Sender<()>>,
}

impl Task {
    async fn run(mut self) {
        let mut attempt = 0usize;
        while !self.stop.is_cancelled() {
            let gateway = (self.preferred + attempt) % self.gateways.len();
            attempt += 1;
            let url = format!("{}/ws?token={}", self.gateways[gateway], self.token);
            let connect = tokio::time::timeout(Duration::from_secs(3), tokio_tungstenite::connect_async(url));
            let Ok(Ok((socket, _))) = connect.await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            {
                let mut state = self.state.lock().unwrap();
                state.connected_since = Some(Instant::now());
                state.gateway = gateway;
            }
            let rejoin = self.serve(socket).await;
            let mut state = self.state.lock().unwrap();
            state.connected_since = None;
            state.reconnects += 1;
            if rejoin {
                attempt = 0;
            }
        }
    }

    /// Reads one connection until it ends (`false`) or a rejoin is asked (`true`). Syncs first.
    async fn serve(&mut self, socket: Socket) -> bool {
        let (mut sink, mut stream) = socket.split();
        let mut next_req = 1u64;
        let mut round = Round::default();
        let mut last_on_connection: HashMap<String, u64> = HashMap::new();
        // a reconnect syncs before anything else
        if !self.start_round(&mut sink, &mut next_req, &mut round).await {
            return false;
        }
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return false,
                command = self.commands.recv() => match command {
                    Some(Command::Sync(done)) if round.pending.is_empty() => {
                        round.waiting.push(done);
                        if !self.start_round(&mut sink, &mut next_req, &mut round).await {
                            return false;
                        }
                    }
                    Some(Command::Sync(done)) => round.queued.push(done),
                    Some(Command::Rejoin) => return true,
                    None => return false,
                },
                frame = stream.next() => {
                    let Some(Ok(frame)) = frame else { return false };
                    let Message::Text(text) = frame else { continue };
                    let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                    if let Some(req) = frame.get("reqId").and_then(Value::as_u64) {
                        if !self.on_reply(req, &frame, &mut sink, &mut next_req, &mut round).await {
                            return false;
                        }
                    } else if frame["action"] == "msg-im" {
                        self.on_push(&frame["data"], &mut last_on_connection);
                    }
                }
            }
        }
    }

    async fn start_round(
        &self,
        sink: &mut futures::stream::SplitSink<Socket, Message>,
        next_req: &mut u64,
        round: &mut Round,
    ) -> bool {
        for conv in &self.convs {
            if !self.ask(conv, sink, next_req, round).await {
                return false;
            }
        }
        true
    }

    /// Asks for what follows the end of the contiguous run of `conv`.
    async fn ask(
        &self,
        conv: &str,
        sink: &mut futures::stream::SplitSink<Socket, Message>,
        next_req: &mut u64,
        round: &mut Round,
    ) -> bool {
        let from = self.state.lock().unwrap().views[conv].contiguous();
        let req = *next_req;
        *next_req += 1;
        round.pending.insert(req, conv.to_owned());
        let frame = json!({"action": "sync", "reqId": req, "param": {"convs": {conv: from}}});
        sink.send(Message::Text(frame.to_string().into())).await.is_ok()
    }

    async fn on_reply(
        &self,
        req: u64,
        frame: &Value,
        sink: &mut futures::stream::SplitSink<Socket, Message>,
        next_req: &mut u64,
        round: &mut Round,
    ) -> bool {
        let Some(conv) = round.pending.remove(&req) else {
            return true;
        };
        if frame["status"] != "ok" {
            // asked again; a gateway answering errors is seen by the recovery bounds
            tokio::time::sleep(Duration::from_millis(100)).await;
            return self.ask(&conv, sink, next_req, round).await;
        }
        let entry = &frame["data"]["convs"][&conv];
        let msgs = entry["msgs"].as_array().cloned().unwrap_or_default();
        {
            let mut state = self.state.lock().unwrap();
            let view = state.views.get_mut(&conv).expect("a conversation of the receiver");
            for msg in &msgs {
                let (Some(seq), Some(id)) = (msg["Seq"].as_u64(), msg["MsgId"].as_str()) else {
                    view.breaches
                        .push(format!("{}/{conv}: sync without Seq or MsgId: {msg}", self.session));
                    continue;
                };
                if view.hold(seq, id, &self.session, &conv) {
                    view.synced_first.push((Instant::now(), seq));
                }
            }
        }
        if !msgs.is_empty() && entry["hasMore"] == Value::Bool(true) {
            return self.ask(&conv, sink, next_req, round).await;
        }
        if round.pending.is_empty() {
            for done in round.waiting.drain(..) {
                let _ = done.send(());
            }
            if !round.queued.is_empty() {
                round.waiting = std::mem::take(&mut round.queued);
                return self.start_round(sink, next_req, round).await;
            }
        }
        true
    }

    fn on_push(&self, data: &Value, last_on_connection: &mut HashMap<String, u64>) {
        let (Some(conv), Some(seq), Some(id)) = (
            data["ConversationID"].as_str(),
            data["Seq"].as_u64(),
            data["MsgId"].as_str(),
        ) else {
            return;
        };
        let mut state = self.state.lock().unwrap();
        let Some(view) = state.views.get_mut(conv) else { return };
        let last = last_on_connection.entry(conv.to_owned()).or_default();
        let new = view.hold(seq, id, &self.session, conv);
        if new && seq < *last {
            // a repeat after a failover is allowed; a message never pushed before arriving
            // behind a later one is not (pushes come in Seq order on each connection)
            view.breaches.push(format!(
                "{}/{conv}: push of Seq {seq} after Seq {last} on the same connection",
                self.session
            ));
        }
        *last = (*last).max(seq);
        if new {
            view.live += 1;
        } else {
            view.pushed_after_sync.insert(seq);
        }
        view.highest_live = view.highest_live.max(seq);
        if seq > view.mark_seq && view.mark_at.is_none() {
            view.mark_at = Some(Instant::now());
        }
    }
}
