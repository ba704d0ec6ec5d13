//! One chaos run: the cluster and its load set up, faults injected one after another with
//! recovery (measured) and checks between them, then a final check with the load stopped.

use crate::checks::{self, Problem};
use crate::cluster::Cluster;
use crate::faults::{self, Fault};
use crate::load::{self, SharedLedger};
use crate::receiver::{Receiver, ReceiverState};
use crate::report::{FaultRecord, Report};
use crate::support::{Api, SECRET};
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Longest a fault may take to recover (sends and pushes back, and healed).
const RECOVERY_BOUND: Duration = Duration::from_secs(60);
/// Longest the cluster may take to be whole again after healing (NATS caught up, leases shared).
const STEADY_BOUND: Duration = Duration::from_secs(60);
/// Sends and pushes must be back this soon after a NATS node stopped in lame-duck mode: no
/// longer than the stall bound. (The 5 s is met by most planned stops, not all: when the
/// stopped node hosted log readers' consumers, they are found gone only after two missed 1 s
/// heartbeats, and one stop took 6.0 s; see loadtest/CHAOS.md.)
const PLANNED_STOP_BOUND: Duration = Duration::from_secs(10);
const PAIRS: usize = 3;
const GROUP: usize = 4;

pub struct Run {
    cluster: Cluster,
    /// Process indices of the gateways, and their APIs, in one order.
    gateway_procs: Vec<usize>,
    convs: Vec<String>,
    sender_tasks: Vec<tokio::task::JoinHandle<()>>,
    senders: usize,
    receivers: Vec<Receiver>,
    ledger: SharedLedger,
    stalls: Arc<Mutex<Vec<Problem>>>,
    stop_load: CancellationToken,
    stop_all: CancellationToken,
    started: Instant,
}

async fn create_single(api: &Api, token: &str, other: &str) -> String {
    let (status, body) = api
        .post(
            "/create_conversation",
            token,
            json!({"conversation_type": 1, "kind": "single", "sessions": [other]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["ConversationId"]
        .as_str()
        .expect("conversation id")
        .to_owned()
}

/// The faults with a recovery bound of their own, beyond the run's `RECOVERY_BOUND`:
/// - a paused NATS node must not be needed: with a pause of at least
///   `MUST_RECOVER_WITHIN_PAUSE`, sends and pushes come back while it is still paused (the two
///   others elect leaders and drop its routes); coming back only at `SIGCONT` means a hung
///   server stops the cluster;
/// - a NATS node stopped as planned (lame duck) hands its leaderships over first: sends and
///   pushes are back within `PLANNED_STOP_BOUND`.
fn recovery_bound_missed(fault: Fault, record: &FaultRecord) -> Option<Problem> {
    let (bound, what) = match fault {
        Fault::PauseNatsNode if faults::nats_pause() >= faults::MUST_RECOVER_WITHIN_PAUSE => {
            (faults::nats_pause(), "while the NATS node was paused")
        }
        Fault::LameDuckNatsCommandLeader => (PLANNED_STOP_BOUND, "after a planned NATS node stop"),
        _ => return None,
    };
    let back = record
        .sends_recovered
        .zip(record.pushes_recovered)
        .map(|(s, p)| s.max(p));
    match back {
        Some(back) if back < bound => None,
        _ => Some(Problem::new(
            "recovery",
            format!(
                "sends {:?} / pushes {:?} not back within {bound:?} {what}",
                record.sends_recovered, record.pushes_recovered
            ),
        )),
    }
}

impl Run {
    /// Starts the cluster, creates the conversations (three 1:1 pairs, both sides sending, and a
    /// group of four, two sending), connects every session's receiver (alternating gateways)
    /// and starts the load once every receiver gets pushes.
    pub async fn start(dir: &Path) -> Self {
        let cluster = Cluster::start(dir).await;
        let gateway_procs = cluster.gateways();
        let apis: Vec<Api> = gateway_procs.iter().map(|i| Api::new(cluster.procs[*i].addr)).collect();
        let response = apis[0]
            .http
            .put(format!("{}/inner/settings", apis[0].base))
            .bearer_auth(SECRET)
            .json(&json!({"send_rate_per_sec": 0, "spam_unanswered_limit": 0}))
            .send()
            .await
            .expect("settings sent");
        let status = response.status().as_u16();
        assert_eq!(
            status,
            200,
            "send limits lifted: {}",
            response.text().await.unwrap_or_default()
        );

        // (session, conversation, sends?)
        let mut sessions: Vec<(String, String, bool)> = Vec::new();
        let mut convs = Vec::new();
        for pair in 0..PAIRS {
            let (a, b) = (format!("pair{pair}-a"), format!("pair{pair}-b"));
            let conv = create_single(&apis[0], &apis[0].token(&a, 1).await, &b).await;
            sessions.push((a, conv.clone(), true));
            sessions.push((b, conv.clone(), true));
            convs.push(conv);
        }
        let members: Vec<String> = (0..GROUP).map(|i| format!("group-{i}")).collect();
        let others: Vec<&str> = members[1..].iter().map(String::as_str).collect();
        let group = apis[0]
            .create_group(&apis[0].token(&members[0], 1).await, &others)
            .await;
        for (i, member) in members.iter().enumerate() {
            sessions.push((member.clone(), group.clone(), i < 2));
        }
        convs.push(group);

        let stop_load = CancellationToken::new();
        let stop_all = CancellationToken::new();
        let gateway_urls: Vec<String> = apis.iter().map(|a| a.base.replace("http://", "ws://")).collect();
        let mut receivers = Vec::new();
        let mut senders = Vec::new();
        for (i, (session, conv, sends)) in sessions.iter().enumerate() {
            let token = apis[0].token(session, 1).await;
            receivers.push(Receiver::spawn(
                session.clone(),
                token.clone(),
                vec![conv.clone()],
                gateway_urls.clone(),
                i % apis.len(),
                stop_all.clone(),
            ));
            if *sends {
                let id = senders.len();
                let mut gateways = apis.clone();
                gateways.rotate_left(id % apis.len());
                senders.push(load::Sender {
                    id,
                    session: session.clone(),
                    token,
                    conv: conv.clone(),
                    gateways,
                });
            }
        }
        let mut run = Run {
            cluster,
            gateway_procs,
            convs,
            sender_tasks: Vec::new(),
            senders: senders.len(),
            receivers,
            ledger: SharedLedger::default(),
            stalls: Arc::default(),
            stop_load,
            stop_all,
            started: Instant::now(),
        };
        herald_testkit::eventually(Duration::from_secs(30), "every receiver connected", || {
            let all = run
                .receivers
                .iter()
                .all(|r| r.state.lock().unwrap().connected_since.is_some());
            std::future::ready(all.then_some(()))
        })
        .await;
        run.cluster
            .wait_steady(STEADY_BOUND)
            .await
            .expect("the cluster is whole");

        checks::spawn_stall_detector(
            run.ledger.clone(),
            run.receiver_states(),
            run.stalls.clone(),
            run.stop_all.clone(),
        );
        for sender in senders {
            run.sender_tasks
                .push(load::spawn(sender, run.ledger.clone(), run.stop_load.clone()));
        }
        herald_testkit::eventually(Duration::from_secs(30), "every receiver gets pushes", || {
            let all = run
                .receivers
                .iter()
                .all(|r| r.state.lock().unwrap().views.values().all(|v| v.highest_live > 0));
            std::future::ready(all.then_some(()))
        })
        .await;
        run.started = Instant::now();
        run
    }

    fn receiver_states(&self) -> Vec<(String, Arc<Mutex<ReceiverState>>)> {
        self.receivers
            .iter()
            .map(|r| (r.session.clone(), r.state.clone()))
            .collect()
    }

    /// Injects `fault`, measures recovery, heals, waits until the cluster is whole, checks.
    pub async fn fault(&mut self, round: usize, fault: Fault, pick: usize) -> FaultRecord {
        let conv = self.convs[pick % self.convs.len()].clone();
        let acked_before = self.ledger.lock().unwrap().total();
        let reconnects_before = self.reconnects();
        let t0 = Instant::now();
        self.mark();
        let mut record = FaultRecord {
            round,
            fault: fault.name(),
            target: String::new(),
            at: t0.duration_since(self.started).as_secs_f64(),
            sends_recovered: None,
            pushes_recovered: None,
            missed_live: 0,
            window: (t0, t0),
            acked: 0,
            reconnects: 0,
            problems: Vec::new(),
        };
        let load = self.gateway_load();
        let heal = match faults::inject(&mut self.cluster, fault, &conv, &load, pick / self.convs.len()).await {
            Ok((target, heal)) => {
                record.target = target;
                heal
            }
            Err(err) => {
                record
                    .problems
                    .push(Problem::new("recovery", format!("could not inject: {err:#}")));
                return record;
            }
        };
        eprintln!(
            "[{:>6.1}s] round {round}: {} -> {}",
            record.at,
            fault.name(),
            record.target
        );
        let mut healed = false;
        loop {
            let elapsed = t0.elapsed();
            record.sends_recovered = record.sends_recovered.or_else(|| self.sends_recovered(t0));
            record.pushes_recovered = record.pushes_recovered.or_else(|| self.pushes_recovered(t0));
            let recovered = record.sends_recovered.is_some() && record.pushes_recovered.is_some();
            if !healed {
                healed = faults::heal_if_due(&mut self.cluster, &heal, elapsed, recovered).await;
            }
            if recovered && healed {
                break;
            }
            if elapsed > RECOVERY_BOUND {
                record.problems.push(Problem::new(
                    "recovery",
                    format!(
                        "not recovered within {RECOVERY_BOUND:?}: sends {:?}, pushes {:?}, healed {healed}",
                        record.sends_recovered, record.pushes_recovered
                    ),
                ));
                if !healed {
                    faults::heal_if_due(&mut self.cluster, &heal, Duration::MAX, true).await;
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(problem) = recovery_bound_missed(fault, &record) {
            record.problems.push(problem);
        }
        if let Err(err) = self.cluster.wait_steady(STEADY_BOUND).await {
            record.problems.push(Problem::new("recovery", format!("{err:#}")));
        }
        record.problems.extend(self.wait_serving().await);
        record.problems.extend(self.rejoin_preferred().await);
        record.problems.extend(self.check(false).await);
        record.window.1 = Instant::now();
        record.reconnects = self.reconnects() - reconnects_before;
        record.acked = self.ledger.lock().unwrap().total() - acked_before;
        eprintln!(
            "[{:>6.1}s] round {round}: sends back {:?}, pushes back {:?}, {} reconnects, {} problems",
            self.started.elapsed().as_secs_f64(),
            record.sends_recovered,
            record.pushes_recovered,
            record.reconnects,
            record.problems.len()
        );
        record
    }

    /// Waits until the healed cluster has served the load again: every sender acknowledged and
    /// every receiver pushed in each conversation after this point. The next fault then meets a
    /// cluster that works, not one still settling (a resumed NATS node can depose the leaders
    /// elected without it seconds after it answers as healthy).
    async fn wait_serving(&self) -> Option<Problem> {
        self.mark();
        let since = Instant::now();
        loop {
            if self.sends_recovered(since).is_some() && self.pushes_recovered(since).is_some() {
                return None;
            }
            if since.elapsed() > STEADY_BOUND {
                return Some(Problem::new(
                    "recovery",
                    format!("sends and pushes not all seen within {STEADY_BOUND:?} of the cluster being whole"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sets every view's recovery mark past the newest message acknowledged or received.
    fn mark(&self) {
        let highest = self.ledger.lock().unwrap().highest();
        for receiver in &self.receivers {
            let mut state = receiver.state.lock().unwrap();
            for (conv, view) in state.views.iter_mut() {
                let held = view.held.keys().next_back().copied().unwrap_or(0);
                view.mark_seq = held.max(highest.get(conv).copied().unwrap_or(0));
                view.mark_at = None;
            }
        }
    }

    /// Every sender has an acknowledgement of a send begun at or after `t0`: the latest first one.
    fn sends_recovered(&self, t0: Instant) -> Option<Duration> {
        let ledger = self.ledger.lock().unwrap();
        let mut firsts = vec![None; self.senders];
        for acks in ledger.acks.values() {
            for ack in acks.iter().rev().take_while(|a| a.at >= t0) {
                if ack.started >= t0 {
                    let first: &mut Option<Instant> = &mut firsts[ack.sender];
                    *first = Some(first.map_or(ack.at, |f| f.min(ack.at)));
                }
            }
        }
        let latest = firsts.into_iter().collect::<Option<Vec<_>>>()?.into_iter().max()?;
        Some(latest.duration_since(t0))
    }

    /// Every receiver got a live push past its mark in each of its conversations.
    fn pushes_recovered(&self, t0: Instant) -> Option<Duration> {
        let mut latest = t0;
        for receiver in &self.receivers {
            let state = receiver.state.lock().unwrap();
            for view in state.views.values() {
                latest = latest.max(view.mark_at?);
            }
        }
        Some(latest.duration_since(t0))
    }

    fn reconnects(&self) -> u64 {
        self.receivers.iter().map(|r| r.state.lock().unwrap().reconnects).sum()
    }

    /// Messages first got by `sync` in `window` whose push never came, over every receiver.
    fn missed_live(&self, window: (Instant, Instant)) -> u64 {
        let mut missed = 0;
        for receiver in &self.receivers {
            let state = receiver.state.lock().unwrap();
            missed += state
                .views
                .values()
                .map(|v| v.missed_live(window.0, window.1))
                .sum::<u64>();
        }
        missed
    }

    /// Connected receivers per gateway, as (process index, count).
    fn gateway_load(&self) -> Vec<(usize, usize)> {
        let mut load: Vec<(usize, usize)> = self.gateway_procs.iter().map(|i| (*i, 0)).collect();
        for receiver in &self.receivers {
            let state = receiver.state.lock().unwrap();
            if state.connected_since.is_some() {
                load[state.gateway].1 += 1;
            }
        }
        load
    }

    /// Receivers that moved off their preferred gateway (it died) go back to it and sync.
    async fn rejoin_preferred(&self) -> Option<Problem> {
        for receiver in &self.receivers {
            if receiver.state.lock().unwrap().gateway != receiver.preferred {
                receiver.rejoin();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let all = self.receivers.iter().all(|r| {
                let state = r.state.lock().unwrap();
                state.connected_since.is_some() && state.gateway == r.preferred
            });
            if all {
                return None;
            }
            if Instant::now() > deadline {
                return Some(Problem::new(
                    "recovery",
                    "receivers not back on their gateways within 20 s",
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The checks against the store and every receiver's synced view; stalls found meanwhile.
    async fn check(&self, complete: bool) -> Vec<Problem> {
        let acks = self.ledger.lock().unwrap().acks.clone();
        let mut problems: Vec<Problem> = std::mem::take(&mut self.ledger.lock().unwrap().failures)
            .into_iter()
            .map(|f| Problem::new("lost", format!("send failed: {f}")))
            .collect();
        let before = checks::read_history(&self.cluster.data_dir, &self.convs).await;
        problems.extend(checks::check_history(&acks, &before, complete));
        for receiver in &self.receivers {
            let mut synced = false;
            for _ in 0..4 {
                if receiver.sync(Duration::from_secs(10)).await {
                    synced = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            if !synced {
                problems.push(Problem::new(
                    "view",
                    format!("{}: sync never completed", receiver.session),
                ));
            }
        }
        let views = checks::snapshot_views(&self.receiver_states());
        let after = checks::read_history(&self.cluster.data_dir, &self.convs).await;
        problems.extend(checks::check_views(&views, &before, &after, complete));
        problems.extend(std::mem::take(&mut *self.stalls.lock().unwrap()));
        problems
    }

    /// Stops the load (every send in flight acknowledged first), lets pushes drain, and checks
    /// that history is exactly what was acknowledged and every view exactly history.
    pub async fn finish(mut self, mode: String, seed: u64, mut faults: Vec<FaultRecord>) -> Report {
        self.stop_load.cancel();
        for task in std::mem::take(&mut self.sender_tasks) {
            let _ = task.await;
        }
        let highest = self.ledger.lock().unwrap().highest();
        // pushes of the last messages reach every connection (else the stall detector says so)
        let drained = tokio::time::timeout(checks::STALL, async {
            loop {
                let all = self.receivers.iter().all(|r| {
                    r.state
                        .lock()
                        .unwrap()
                        .views
                        .iter()
                        .all(|(conv, v)| v.highest_live >= highest.get(conv).copied().unwrap_or(0))
                });
                if all {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let mut final_problems = Vec::new();
        if drained.await.is_err() {
            final_problems.push(Problem::new(
                "stall",
                format!(
                    "pushes of the last acknowledged messages did not reach every receiver within {:?}",
                    checks::STALL
                ),
            ));
        }
        final_problems.extend(self.check(true).await);
        for fault in &mut faults {
            fault.missed_live = self.missed_live(fault.window);
        }
        self.stop_all.cancel();
        let ledger = self.ledger.lock().unwrap();
        Report {
            mode,
            seed,
            faults,
            final_problems,
            acked: ledger.total(),
            attempts: ledger.attempts,
            duration: self.started.elapsed(),
        }
    }
}
