//! One Matrix user under load, the counterpart of a Herald connection: a `/sync` long-poll loop
//! that records the peer's messages, and a sender that pipelines `PUT …/send` up to the window.
//!
//! Accounting, as for Herald: the sender numbers its messages 1, 2, 3… into the body with the
//! send time; a 200 with an `event_id` is the ack (`Outcome.acked[key]`), the peer's receipt is
//! recorded in `Outcome.trackers[peer_key]`, so `tracker::tally` finds lost, duplicated and
//! misordered messages exactly as for Herald. Each send has one receiving user (fanout 1); the
//! sender's own echoes are filtered out at the server.
//!
//! Order: Matrix orders a room's events as the server persists them, and concurrent `PUT`s (one
//! per HTTP/1.1 connection) reach it in any order, so with a window above 1 the peer receives
//! some messages out of the sender's order (32 of 150 in a 3-pair run with window 4) — counted
//! as misordered, though nothing is lost. Matrix clients keep their order by sending one message
//! at a time per room (Element's and matrix-rust-sdk's send queues): window 1 is that client.

use super::client::{self, Event, SynapseClient, User};
use crate::connection::Outcome;
use crate::recorder::{LocalRecorder, Sample};
use crate::run::{Counters, Run};
use crate::sender::{self, Counted, Pace};
use crate::tracker::{AckedRange, SeqTracker};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Error texts kept per user (the count is always kept).
const ERRORS_KEPT: usize = 3;
/// Pause after a failed `/sync` before the next.
const SYNC_RETRY: Duration = Duration::from_millis(200);

/// What the sends of one user were answered, filled in by the tasks that send.
struct Acks {
    /// The direction the sends are recorded under.
    key: String,
    acked: AckedRange,
    errors: Vec<String>,
    local: LocalRecorder,
}

fn keep_error(errors: &mut Vec<String>, counters: &Counters, error: String) {
    Counters::add(&counters.errors, 1);
    if errors.len() < ERRORS_KEPT {
        errors.push(error);
    }
}

/// Runs `user` in `room` until the run stops reading; returns what it saw. With `sends =
/// Some((key, pace))` it also sends to the peer at `pace`, its acks recorded under `key`; what it
/// receives from the peer is recorded under `peer_key`. The first (empty) sync happens before
/// this returns, so the user is "connected" once it has.
pub async fn spawn_user(
    client: &SynapseClient,
    user: &User,
    room: &str,
    sends: Option<(String, Pace)>,
    peer_key: String,
    run: Arc<Run>,
) -> anyhow::Result<JoinHandle<Outcome>> {
    let filter = client.sync_filter(user, room).await?;
    let first = client.sync(user, &filter, None, 0).await?;
    Counters::add(&run.counters.connections, 1);
    let acks = Arc::new(Mutex::new(Acks {
        key: sends.as_ref().map(|(key, _)| key.clone()).unwrap_or_default(),
        acked: AckedRange::default(),
        errors: Vec::new(),
        local: run.recorder.local(),
    }));
    let sender = sends.map(|(key, pace)| {
        tokio::spawn(send_loop(
            client.clone(),
            user.clone(),
            room.to_owned(),
            key,
            pace,
            run.clone(),
            acks.clone(),
        ))
    });
    let reader = Reader {
        client: client.clone(),
        user: user.clone(),
        room: room.to_owned(),
        filter,
        since: first.next_batch,
        last_seen: None,
        peer_key,
    };
    Ok(tokio::spawn(async move {
        let mut outcome = Outcome {
            trackers: HashMap::from([(reader.peer_key.clone(), SeqTracker::default())]),
            ..Default::default()
        };
        reader.read(&run, &mut outcome).await;
        if let Some(sender) = sender {
            let _ = sender.await;
            let mut acks = acks.lock().unwrap_or_else(|p| p.into_inner());
            acks.local.flush();
            let acked = std::mem::take(&mut acks.acked);
            outcome.acked.insert(acks.key.clone(), acked);
            outcome.errors.append(&mut acks.errors);
        }
        outcome
    }))
}

/// The receiving half: long-polls `/sync` from `since` until the run stops reading.
struct Reader {
    client: SynapseClient,
    user: User,
    room: String,
    filter: String,
    since: String,
    /// The newest event received: where a gap fill stops.
    last_seen: Option<String>,
    peer_key: String,
}

impl Reader {
    async fn read(mut self, run: &Run, outcome: &mut Outcome) {
        let mut local = run.recorder.local();
        loop {
            let answer = tokio::select! {
                answer = self.client.sync(&self.user, &self.filter, Some(&self.since), client::POLL_MS) => answer,
                _ = run.stop_reading.cancelled() => break,
            };
            let sync = match answer {
                Ok(sync) => sync,
                Err(err) => {
                    keep_error(&mut outcome.errors, &run.counters, format!("sync: {err:#}"));
                    tokio::select! {
                        _ = tokio::time::sleep(SYNC_RETRY) => continue,
                        _ = run.stop_reading.cancelled() => break,
                    }
                }
            };
            self.since = sync.next_batch;
            let Some(joined) = sync
                .rooms
                .join
                .into_iter()
                .find_map(|(id, r)| (id == self.room).then_some(r))
            else {
                continue;
            };
            let mut events = joined.timeline.events;
            if joined.timeline.limited {
                // never silently lost: the events between the last sync and these are fetched
                let gap = match &joined.timeline.prev_batch {
                    Some(from) => {
                        self.client
                            .gap(&self.user, &self.room, from, self.last_seen.as_deref())
                            .await
                    }
                    None => Err(anyhow::anyhow!("a limited timeline without prev_batch")),
                };
                match gap {
                    Ok(mut older) => {
                        older.append(&mut events);
                        events = older;
                    }
                    Err(err) => keep_error(&mut outcome.errors, &run.counters, format!("gap: {err:#}")),
                }
            }
            for event in &events {
                self.on_event(event, run, outcome, &mut local);
            }
        }
        local.flush();
    }

    /// Records one of the peer's messages: its number for the tally, its latency.
    fn on_event(&mut self, event: &Event, run: &Run, outcome: &mut Outcome, local: &mut LocalRecorder) {
        if event.sender == self.user.user_id {
            return;
        }
        self.last_seen = Some(event.event_id.clone());
        let Some((sent_us, n)) = event.content.body.as_deref().and_then(crate::peer::parse_body) else {
            keep_error(
                &mut outcome.errors,
                &run.counters,
                format!("undecodable message {}", event.event_id),
            );
            return;
        };
        let now = run.now_us();
        Counters::add(&run.counters.delivered, 1);
        outcome.trackers.entry(self.peer_key.clone()).or_default().record(n);
        local.record(Sample::Delivered {
            second: Run::second_of(now),
            us: Some(now.saturating_sub(sent_us)),
        });
    }
}

/// The sending half: numbers 1, 2, 3… at `pace`, each `PUT` in its own task holding a slot of
/// the window until it is answered.
async fn send_loop(
    client: SynapseClient,
    user: User,
    room: String,
    key: String,
    pace: Pace,
    run: Arc<Run>,
    acks: Arc<Mutex<Acks>>,
) {
    let counters = &run.counters;
    let stop = run.stop_sending.clone();
    // a sender with a fixed count holds the load phase open until it has sent it
    let _counted = pace.limit.map(|_| Counted::new(counters));
    tokio::select! {
        _ = run.started.cancelled() => {}
        _ = stop.cancelled() => return,
    }
    let phase = match pace.rate {
        Some(rate) if !run.burst && rate > 0.0 => Duration::from_secs_f64(sender::random_fraction() / rate),
        _ => Duration::ZERO,
    };
    let start = tokio::time::Instant::now() + phase;
    let permits = Arc::new(Semaphore::new(pace.window.max(1) as usize));
    let mut local = run.recorder.local();
    let mut n: u64 = 0;
    loop {
        if stop.is_cancelled() || pace.limit.is_some_and(|limit| n >= limit) {
            break;
        }
        if !sender::wait_turn(&pace, start, n, counters, &stop).await {
            break;
        }
        let permit = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
        n += 1;
        let sent_us = run.now_us();
        Counters::add(&counters.requests, 1);
        Counters::add(&counters.sent, 1);
        Counters::add(&counters.expected, 1);
        local.record(Sample::Sent {
            second: Run::second_of(sent_us),
        });
        let text = crate::peer::body(sent_us, n, run.content_size);
        let txn = format!("{}-{key}-{n}", run.id);
        let (client, user, room, run, acks) = (client.clone(), user.clone(), room.clone(), run.clone(), acks.clone());
        tokio::spawn(async move {
            let answer = client.send(&user, &room, &txn, &text).await;
            let now = run.now_us();
            let counters = &run.counters;
            let mut acks = acks.lock().unwrap_or_else(|p| p.into_inner());
            match answer {
                Ok(()) => {
                    Counters::add(&counters.acked, 1);
                    Counters::add(&counters.expected_acked, 1);
                    acks.acked.record(n);
                    acks.local.record(Sample::Acked {
                        second: Run::second_of(now),
                        us: now.saturating_sub(sent_us),
                    });
                }
                Err(err) => keep_error(&mut acks.errors, counters, format!("send: {err:#}")),
            }
            Counters::add(&counters.answered, 1);
            drop(permit);
        });
    }
}
