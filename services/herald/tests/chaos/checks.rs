//! The promises checked after every fault and at the end, against the store (the record):
//! every acknowledged message stored exactly once as acknowledged, `Seq` gapless, no two keys
//! acknowledged with one message; every client's view after `sync` equal to history; and,
//! throughout, the stall detector.

use crate::load::{Ack, Ledger, SharedLedger};
use crate::receiver::ReceiverState;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Pushes silent this long after an acknowledgement, on a connection open since before it,
/// while the cluster went on acknowledging sends, are a stall.
pub const STALL: Duration = Duration::from_secs(10);
/// "Went on acknowledging": some send was acknowledged at least this long after the unpushed
/// one. Without it, an outage of both paths (every JetStream leader gone) would count as a
/// stall of pushes; that is measured as recovery time instead, bounded by the run.
pub const ACKS_AFTER: Duration = Duration::from_secs(5);

/// One broken promise, by kind (`lost`, `duplicate`, `gap`, `mismatch`, `view`, `stall`, …).
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            kind,
            detail: detail.into(),
        }
    }
}

/// One stored message: `Seq`, `MsgId`, client key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub seq: u64,
    pub msg_id: String,
    pub key: Option<String>,
}

pub type History = HashMap<String, Vec<Stored>>;

/// Every conversation's log, read from the store on disk.
pub async fn read_history(data_dir: &Path, convs: &[String]) -> History {
    let mut history = History::new();
    for conv in convs {
        let log = crate::support::stored_log(data_dir, conv).await;
        let log = log
            .into_iter()
            .map(|r| Stored {
                seq: r.seq,
                msg_id: r.msg_id.to_string(),
                key: r.client_msg_id.map(String::from),
            })
            .collect();
        history.insert(conv.clone(), log);
    }
    history
}

/// The store against the acknowledgements `acks` (taken before `history` was read). With
/// `complete` (the load stopped, every send acknowledged), nothing may be stored unacknowledged.
pub fn check_history(acks: &HashMap<String, Vec<Ack>>, history: &History, complete: bool) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (conv, log) in history {
        for (i, stored) in log.iter().enumerate() {
            if stored.seq != i as u64 + 1 {
                problems.push(Problem::new(
                    "gap",
                    format!(
                        "{conv}: position {} holds Seq {} (Seq not 1, 2, 3, …)",
                        i + 1,
                        stored.seq
                    ),
                ));
                break;
            }
        }
        let mut keys = HashSet::new();
        for stored in log {
            if let Some(key) = &stored.key
                && !keys.insert(key.as_str())
            {
                problems.push(Problem::new("duplicate", format!("{conv}: key {key} stored twice")));
            }
        }
        let by_key: HashMap<&str, &Stored> = log.iter().filter_map(|s| Some((s.key.as_deref()?, s))).collect();
        let conv_acks = acks.get(conv).map(Vec::as_slice).unwrap_or_default();
        let (mut seqs, mut ids) = (HashMap::new(), HashMap::new());
        for ack in conv_acks {
            match by_key.get(ack.key.as_str()) {
                None => problems.push(Problem::new(
                    "lost",
                    format!(
                        "{conv}: acknowledged {} (Seq {}, {}) is not stored",
                        ack.key, ack.seq, ack.msg_id
                    ),
                )),
                Some(stored) if stored.seq != ack.seq || stored.msg_id != ack.msg_id => problems.push(Problem::new(
                    "mismatch",
                    format!(
                        "{conv}: {} acknowledged as Seq {} {} but stored as Seq {} {}",
                        ack.key, ack.seq, ack.msg_id, stored.seq, stored.msg_id
                    ),
                )),
                Some(_) => {}
            }
            if let Some(other) = seqs.insert(ack.seq, &ack.key)
                && other != &ack.key
            {
                problems.push(Problem::new(
                    "duplicate",
                    format!("{conv}: Seq {} acknowledged for {other} and {}", ack.seq, ack.key),
                ));
            }
            if let Some(other) = ids.insert(ack.msg_id.as_str(), &ack.key)
                && other != &ack.key
            {
                problems.push(Problem::new(
                    "duplicate",
                    format!("{conv}: MsgID {} acknowledged for {other} and {}", ack.msg_id, ack.key),
                ));
            }
        }
        if complete {
            let acked: HashSet<&str> = conv_acks.iter().map(|a| a.key.as_str()).collect();
            for stored in log {
                if !stored.key.as_deref().is_some_and(|k| acked.contains(k)) {
                    problems.push(Problem::new(
                        "unacknowledged",
                        format!(
                            "{conv}: Seq {} ({:?}) stored but never acknowledged",
                            stored.seq, stored.key
                        ),
                    ));
                }
            }
        }
    }
    problems
}

/// What one receiver holds of one conversation at a moment, and the breaches it saw since the
/// last snapshot.
pub struct ViewSnapshot {
    pub session: String,
    pub conv: String,
    pub held: BTreeMap<u64, String>,
    pub breaches: Vec<String>,
}

/// Every receiver's views, taken right after `sync` and before history is read again (pushes
/// keep coming while the load runs: a view read later could hold messages stored after that read).
pub fn snapshot_views(receivers: &[(String, Arc<Mutex<ReceiverState>>)]) -> Vec<ViewSnapshot> {
    let mut snapshots = Vec::new();
    for (session, state) in receivers {
        let mut state = state.lock().unwrap();
        for (conv, view) in state.views.iter_mut() {
            snapshots.push(ViewSnapshot {
                session: session.clone(),
                conv: conv.clone(),
                held: view.held.clone(),
                breaches: std::mem::take(&mut view.breaches),
            });
        }
    }
    snapshots
}

/// Each receiver's view after `sync` against history: everything in `before` (read before the
/// sync) held as stored, and nothing held that `after` (read after the snapshot) lacks; with
/// `exact` (the load stopped) the view is history. Contract breaches the receiver saw count too.
pub fn check_views(views: &[ViewSnapshot], before: &History, after: &History, exact: bool) -> Vec<Problem> {
    let mut problems = Vec::new();
    for ViewSnapshot {
        session,
        conv,
        held,
        breaches,
    } in views
    {
        for breach in breaches {
            problems.push(Problem::new("breach", breach.clone()));
        }
        let missing: Vec<u64> = before[conv]
            .iter()
            .filter(|s| held.get(&s.seq) != Some(&s.msg_id))
            .map(|s| s.seq)
            .collect();
        if !missing.is_empty() {
            problems.push(Problem::new(
                "view",
                format!(
                    "{session}/{conv}: after sync lacks {} stored messages (first Seq {:?})",
                    missing.len(),
                    missing.first()
                ),
            ));
        }
        let stored: HashMap<u64, &str> = after[conv].iter().map(|s| (s.seq, s.msg_id.as_str())).collect();
        for (seq, id) in held {
            if stored.get(seq) != Some(&id.as_str()) {
                problems.push(Problem::new(
                    "view",
                    format!("{session}/{conv}: holds Seq {seq} {id}, stored {:?}", stored.get(seq)),
                ));
                break;
            }
        }
        if exact && held.len() != after[conv].len() {
            problems.push(Problem::new(
                "view",
                format!(
                    "{session}/{conv}: holds {} messages, history has {}",
                    held.len(),
                    after[conv].len()
                ),
            ));
        }
    }
    problems
}

/// The stall detector: every 250 ms, for each receiver connected since before an
/// acknowledgement in one of its conversations, a push at or past that `Seq` must have come
/// within `STALL` of it if sends were still acknowledged `ACKS_AFTER` later; otherwise pushes
/// stopped while sends were acknowledged (the stall `loadtest/RESULTS.md` recorded).
pub fn spawn_stall_detector(
    ledger: SharedLedger,
    receivers: Vec<(String, Arc<Mutex<ReceiverState>>)>,
    found: Arc<Mutex<Vec<Problem>>>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        while !stop.is_cancelled() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let ledger = ledger.lock().unwrap();
            for (session, state) in &receivers {
                let stalls = stalls_of(&ledger, session, &mut state.lock().unwrap());
                found.lock().unwrap().extend(stalls);
            }
        }
    })
}

fn stalls_of(ledger: &Ledger, session: &str, state: &mut ReceiverState) -> Vec<Problem> {
    let Some(since) = state.connected_since else {
        return Vec::new();
    };
    let gateway = state.gateway;
    let now = Instant::now();
    let mut stalls = Vec::new();
    for (conv, view) in state.views.iter_mut() {
        let Some(acks) = ledger.acks.get(conv) else { continue };
        while let Some(ack) = acks.get(view.cursor)
            && (ack.seq <= view.highest_live || ack.at < since)
        {
            view.cursor += 1;
        }
        if let Some(ack) = acks.get(view.cursor)
            && now.duration_since(ack.at) > STALL
            && ledger.last_ack.is_some_and(|last| last >= ack.at + ACKS_AFTER)
        {
            stalls.push(Problem::new(
                "stall",
                format!(
                    "{session}/{conv} on gateway #{gateway}: no push at or past Seq {} ({}) {:?} after its acknowledgement; \
                     highest live push Seq {}, connected {:?} before the acknowledgement",
                    ack.seq,
                    ack.key,
                    now.duration_since(ack.at),
                    view.highest_live,
                    ack.at.duration_since(since)
                ),
            ));
            view.cursor += 1;
        }
    }
    stalls
}
