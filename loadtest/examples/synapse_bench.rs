//! A rough measure of the Synapse adapter before `--spawn synapse` exists: `pairs` pairs chat
//! for `seconds` at `rate` msg/s in all (0: as fast as `window` allows), on a Synapse this
//! program starts; prints msgs/s, delivery and ack latency, and CPU seconds of Synapse, its
//! PostgreSQL (postmaster and backends) and this generator.
//!
//! `HERALD_TEST_SYNAPSE=/work/wt/venv-synapse cargo run --release -p herald-loadtest --example
//! synapse_bench -- PAIRS WINDOW RATE SECONDS`

use herald_loadtest::peer::synapse::server::cpu_seconds_with_children;
use herald_loadtest::peer::synapse::{Install, SynapseClient, SynapseServer, spawn_user};
use herald_loadtest::procfs;
use herald_loadtest::run::{Counters, Run};
use herald_loadtest::sender::Pace;
use herald_loadtest::tracker::{self, AckedRange};
use std::collections::HashMap;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<f64> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let &[pairs, window, rate, seconds] = args.as_slice() else {
        anyhow::bail!("usage: synapse_bench PAIRS WINDOW RATE SECONDS");
    };
    let venv = std::env::var("HERALD_TEST_SYNAPSE")?;
    let install = Install::find(std::path::Path::new(&venv))?;
    let server = SynapseServer::start(&install).await?;
    let client = SynapseClient::new(&server.base_url, &server.shared_secret)?;
    let run = Run::new(64, false);
    let pairs = client.pairs(&run.id, pairs as u32).await?;
    let senders = 2.0 * pairs.len() as f64;
    let pace = Pace {
        rate: (rate > 0.0).then_some(rate / senders),
        window: window as u32,
        max_backlog: Some(1000 * pairs.len() as u64),
        limit: None,
    };
    let mut handles = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        let (a, b) = (format!("{i}a"), format!("{i}b"));
        handles.push(
            spawn_user(
                &client,
                &pair.a,
                &pair.room,
                Some((a.clone(), pace)),
                b.clone(),
                run.clone(),
            )
            .await?,
        );
        handles.push(spawn_user(&client, &pair.b, &pair.room, Some((b, pace)), a, run.clone()).await?);
    }
    let cpu = || {
        (
            procfs::cpu_seconds(server.synapse_pid).unwrap_or(0.0),
            cpu_seconds_with_children(server.postgres_pid).unwrap_or(0.0),
            procfs::cpu_seconds(std::process::id()).unwrap_or(0.0),
        )
    };
    let before = cpu();
    run.go();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    run.stop_sending.cancel();
    let load_seconds = run.elapsed().as_secs_f64();
    let acked = Counters::get(&run.counters.acked);
    let after = cpu();
    let rss = procfs::rss_bytes(server.synapse_pid).unwrap_or(0);
    let drained = run.drain(Duration::from_secs(60)).await;
    run.stop_reading.cancel();
    let mut ranges: HashMap<String, AckedRange> = HashMap::new();
    let mut outcomes = Vec::new();
    for handle in handles {
        let outcome = handle.await?;
        for (key, range) in &outcome.acked {
            ranges.entry(key.clone()).or_default().merge(range);
        }
        outcomes.push(outcome);
    }
    let tally = tracker::tally(
        &ranges,
        outcomes
            .iter()
            .flat_map(|o| o.trackers.iter().map(|(k, t)| (k.as_str(), t))),
    );
    let recorded = run.recorder.snapshot();
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "pairs {} window {window} rate {rate}: {:.0} msg/s acked over {load_seconds:.1} s ({acked}); \
         delivery p50 {:.1} ms p99 {:.1} ms; ack p50 {:.1} ms p99 {:.1} ms; drained {drained}; {tally:?}; errors {}",
        pairs.len(),
        acked as f64 / load_seconds,
        ms(&recorded.delivery, 0.5),
        ms(&recorded.delivery, 0.99),
        ms(&recorded.ack, 0.5),
        ms(&recorded.ack, 0.99),
        Counters::get(&run.counters.errors),
    );
    let per_k = |s: f64| s * 1000.0 / acked.max(1) as f64;
    println!(
        "cpu s per 1,000 msgs: synapse {:.2}, postgres {:.2}, generator {:.2}; synapse rss {} MiB",
        per_k(after.0 - before.0),
        per_k(after.1 - before.1),
        per_k(after.2 - before.2),
        rss >> 20
    );
    // Synapse's warnings, if it had any
    let log = std::fs::read_to_string(&server.synapse_log).unwrap_or_default();
    for line in log.lines().rev().take(5) {
        println!("synapse log: {line}");
    }
    Ok(())
}
