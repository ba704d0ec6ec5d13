//! One client WebSocket (`/ws` or `/notify?protoc=ws`): its reading half records every reply
//! and push; its sending half, if it has work, runs `sender::drive`.

use crate::frames::{self, Incoming};
use crate::recorder::{LocalRecorder, Sample};
use crate::run::{Counters, Run};
use crate::sender::{self, Work};
use crate::tracker::{AckedRange, SeqTracker};
use crate::ws::Socket;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Error texts kept per connection (the count is always kept).
const ERRORS_KEPT: usize = 3;

/// Who is at the other end of this connection, and what it must receive.
#[derive(Debug, Clone)]
pub struct Role {
    pub session: String,
    /// Conversations whose every message this connection must receive.
    pub convs: Vec<String>,
    /// Largest history page asked for (to check answers).
    pub history_limit: u64,
}

/// What the reading half needs to know of the sending half.
#[derive(Clone, Copy)]
pub struct Sending<'a> {
    /// Returns a slot of the window when a request is answered.
    pub permits: Option<&'a Semaphore>,
    /// Pushes each acknowledged send causes.
    pub fanout: u64,
}

/// What a connection saw, handed in when the run ends.
#[derive(Debug, Default)]
pub struct Outcome {
    pub trackers: HashMap<String, SeqTracker>,
    pub acked: HashMap<String, AckedRange>,
    /// Why the server closed the connection, when it did.
    pub closed: Option<String>,
    pub errors: Vec<String>,
    /// History pages that were not a contiguous run of `Seq` within the limit.
    pub bad_pages: u64,
}

impl Outcome {
    pub fn for_role(role: &Role) -> Self {
        Self {
            trackers: role.convs.iter().map(|c| (c.clone(), SeqTracker::default())).collect(),
            ..Default::default()
        }
    }

    /// Records one text frame.
    pub fn on_text(&mut self, text: &str, role: &Role, run: &Run, local: &mut LocalRecorder, sending: Sending<'_>) {
        let permits = sending.permits;
        let counters = &run.counters;
        let now = run.now_us();
        let second = Run::second_of(now);
        let answered = |permits: Option<&Semaphore>| {
            Counters::add(&counters.answered, 1);
            if let Some(permits) = permits {
                permits.add_permits(1);
            }
        };
        match frames::decode(text) {
            Ok(Incoming::Push(msg)) => self.on_push(&msg, role, run, local),
            Ok(Incoming::Stored { req_id, msg }) => {
                Counters::add(&counters.acked, 1);
                Counters::add(&counters.expected_acked, sending.fanout);
                self.acked
                    .entry(msg.conversation_id.into_owned())
                    .or_default()
                    .record(msg.seq);
                local.record(Sample::Acked {
                    second,
                    us: now.saturating_sub(frames::sent_us_of_req(req_id)),
                });
                answered(permits);
            }
            Ok(Incoming::History { req_id, seqs }) => {
                Counters::add(&counters.reads, 1);
                if !frames::history_page_is_contiguous(&seqs, role.history_limit) {
                    self.bad_pages += 1;
                }
                local.record(Sample::Read {
                    second,
                    us: now.saturating_sub(frames::sent_us_of_req(req_id)),
                });
                answered(permits);
            }
            Ok(Incoming::Failed { req_id, code, error }) => {
                Counters::add(&counters.errors, 1);
                if self.errors.len() < ERRORS_KEPT {
                    self.errors.push(format!("{code}: {error}"));
                }
                if req_id.is_some() {
                    answered(permits);
                }
            }
            Ok(Incoming::Other) => {}
            Err(err) => {
                Counters::add(&counters.errors, 1);
                if self.errors.len() < ERRORS_KEPT {
                    self.errors.push(format!("undecodable frame: {err}"));
                }
            }
        }
    }

    pub fn on_push(&mut self, msg: &frames::Msg<'_>, role: &Role, run: &Run, local: &mut LocalRecorder) {
        let now = run.now_us();
        Counters::add(&run.counters.delivered, 1);
        match self.trackers.get_mut(msg.conversation_id.as_ref()) {
            Some(tracker) => tracker.record(msg.seq),
            None => self
                .trackers
                .entry(msg.conversation_id.to_string())
                .or_default()
                .record(msg.seq),
        }
        // latency counts at addressees, not at the sender's own connections
        let us = (msg.from_session != role.session)
            .then(|| frames::sent_us_of_content(&msg.content).map(|sent| now.saturating_sub(sent)))
            .flatten();
        local.record(Sample::Delivered {
            second: Run::second_of(now),
            us,
        });
    }

    pub fn on_closed(&mut self, why: String, run: &Run) {
        if !run.stop_reading.is_cancelled() {
            Counters::add(&run.counters.disconnects, 1);
            self.closed = Some(why);
        }
    }
}

/// Runs a connection until the run stops reading; returns what it saw.
pub fn spawn(socket: Socket, role: Role, work: Option<Work>, run: Arc<Run>) -> JoinHandle<Outcome> {
    let (sink, mut stream) = socket.split();
    Counters::add(&run.counters.connections, 1);
    let permits = work.as_ref().map(|w| Arc::new(Semaphore::new(w.window() as usize)));
    let fanout = work.as_ref().map_or(0, Work::fanout);
    let sending = match (work, &permits) {
        (Some(work), Some(permits)) => {
            SinkState::Sending(tokio::spawn(sender::drive(sink, permits.clone(), run.clone(), work)))
        }
        _ => SinkState::Idle(sink),
    };
    tokio::spawn(async move {
        let mut outcome = Outcome::for_role(&role);
        let mut local = run.recorder.local();
        loop {
            let frame = tokio::select! {
                frame = stream.next() => frame,
                _ = run.stop_reading.cancelled() => break,
            };
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let sending = Sending {
                        permits: permits.as_deref(),
                        fanout,
                    };
                    outcome.on_text(text.as_str(), &role, &run, &mut local, sending)
                }
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map_or("closed".to_owned(), |f| format!("closed {}: {}", f.code, f.reason));
                    outcome.on_closed(why, &run);
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    outcome.on_closed(format!("error: {err}"), &run);
                    break;
                }
                None => {
                    outcome.on_closed("connection ended".to_owned(), &run);
                    break;
                }
            }
        }
        local.flush();
        let sink = match sending {
            SinkState::Idle(sink) => Some(sink),
            SinkState::Sending(task) => task.await.ok(),
        };
        if let Some(sink) = sink
            && let Ok(mut socket) = sink.reunite(stream)
        {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), socket.close(None)).await;
        }
        outcome
    })
}

enum SinkState {
    Idle(crate::sender::Sink),
    Sending(JoinHandle<crate::sender::Sink>),
}
