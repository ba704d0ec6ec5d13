//! The Synapse adapter speaks Matrix: a short bounded chat between a few pairs over a Synapse
//! (on PostgreSQL) the harness starts, with nothing lost, duplicated or misordered, and nothing
//! left running afterwards. Runs when `HERALD_TEST_SYNAPSE` names a virtualenv with
//! `matrix-synapse[postgres]`; passes saying it was skipped otherwise.

use herald_loadtest::peer::synapse::{Install, SynapseClient, SynapseServer, spawn_user};
use herald_loadtest::run::{Counters, Run};
use herald_loadtest::sender::Pace;
use herald_loadtest::tracker::{self, AckedRange};
use std::collections::HashMap;
use std::time::Duration;

const PAIRS: u32 = 3;
const PER_SENDER: u64 = 25;

/// The install `HERALD_TEST_SYNAPSE` names; `None` (after saying so) when it is not set.
fn install() -> Option<Install> {
    let Some(venv) = std::env::var_os("HERALD_TEST_SYNAPSE") else {
        println!(
            "skipped: Synapse not installed (python3 -m venv /work/wt/venv-synapse && \
             /work/wt/venv-synapse/bin/pip install 'matrix-synapse[postgres]'; apt-get install postgresql; \
             then HERALD_TEST_SYNAPSE=/work/wt/venv-synapse)"
        );
        return None;
    };
    // named but unusable is a failure, not a skip
    Some(Install::find(std::path::Path::new(&venv)).expect("HERALD_TEST_SYNAPSE names a usable install"))
}

fn running(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_over_synapse_loses_nothing_and_leaves_nothing_running() {
    let Some(install) = install() else { return };
    let server = SynapseServer::start(&install).await.expect("synapse starts");
    let pids = (server.synapse_pid, server.postgres_pid);
    let client = SynapseClient::new(&server.base_url, &server.shared_secret).unwrap();
    let run = Run::new(64, false);
    let pairs = client.pairs(&run.id, PAIRS).await.expect("users and rooms");
    // one send at a time per sender, as Matrix clients send (see `user.rs`): concurrent PUTs to
    // one room are persisted in whatever order the server gets to them
    let pace = Pace {
        rate: None,
        window: 1,
        max_backlog: None,
        limit: Some(PER_SENDER),
    };
    let mut handles = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        let (a, b) = (format!("{i}a"), format!("{i}b"));
        let a_side = spawn_user(
            &client,
            &pair.a,
            &pair.room,
            Some((a.clone(), pace)),
            b.clone(),
            run.clone(),
        );
        handles.push(a_side.await.unwrap());
        let b_side = spawn_user(&client, &pair.b, &pair.room, Some((b, pace)), a, run.clone());
        handles.push(b_side.await.unwrap());
    }
    run.go();
    assert!(run.counted_sent(Duration::from_secs(60)).await, "every sender sent");
    run.stop_sending.cancel();
    let drained = run.drain(Duration::from_secs(60)).await;
    run.stop_reading.cancel();
    let mut acked: HashMap<String, AckedRange> = HashMap::new();
    let mut outcomes = Vec::new();
    for handle in handles {
        let outcome = handle.await.unwrap();
        for (key, range) in &outcome.acked {
            acked.entry(key.clone()).or_default().merge(range);
        }
        outcomes.push(outcome);
    }
    let tally = tracker::tally(
        &acked,
        outcomes
            .iter()
            .flat_map(|o| o.trackers.iter().map(|(k, t)| (k.as_str(), t))),
    );
    let errors: Vec<&String> = outcomes.iter().flat_map(|o| &o.errors).collect();
    let c = &run.counters;
    println!(
        "acked {} delivered {} {tally:?} errors {errors:?}",
        Counters::get(&c.acked),
        Counters::get(&c.delivered)
    );
    assert!(errors.is_empty(), "errors: {errors:?}");
    assert!(drained, "acks or messages still missing at the end");
    let total = u64::from(PAIRS) * 2 * PER_SENDER;
    assert_eq!(Counters::get(&c.acked), total);
    assert_eq!(Counters::get(&c.delivered), total);
    assert!(tally.is_clean(), "{tally:?}");
    drop(server);
    assert!(!running(pids.0), "synapse still running");
    assert!(!running(pids.1), "postgres still running");
}
