//! The fault-injection suite (issue 11): a three-node JetStream cluster (R3), two gateways,
//! two sequencers and two delivery workers as separate processes, a chat load through both
//! gateways, and faults one after another with recovery between them. After every fault and
//! at the end: every acknowledged message stored exactly once as acknowledged, `Seq` gapless,
//! every client's view after `sync` equal to history, and no stall (pushes silent for 10 s
//! while sends are acknowledged). Loopback only; it stops by itself.
//!
//! By default (as `.ci/test` runs it) each fault once, in a fixed order. `HERALD_CHAOS_ROUNDS=N`
//! runs N rounds of faults drawn at random (`HERALD_CHAOS_SEED` replays a run; the seed is
//! printed); `HERALD_CHAOS_FAULTS=nats-stop,gw-kill` limits the faults to these (in this order
//! without rounds). `HERALD_CHAOS_REPORT=path` writes the figures as JSON; `HERALD_CHAOS_KEEP=1`
//! keeps the process and NATS logs of a run that passed (a failed run's are always kept). See
//! `loadtest/CHAOS.md`.

mod checks;
mod cluster;
mod faults;
mod load;
mod receiver;
mod report;
mod run;
#[allow(dead_code, unused_imports)]
#[path = "../e2e/support/mod.rs"]
mod support;

use faults::Fault;
use std::time::{SystemTime, UNIX_EPOCH};

/// splitmix64: a seeded, reproducible choice of faults and targets without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_loses_duplicates_and_stalls_nothing_under_faults() {
    let seed = env_u64("HERALD_CHAOS_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let rounds = env_u64("HERALD_CHAOS_ROUNDS");
    let mut rng = Rng(seed);
    let kinds: Vec<Fault> = match std::env::var("HERALD_CHAOS_FAULTS") {
        Ok(list) => list
            .split(',')
            .map(|id| Fault::from_id(id.trim()).unwrap_or_else(|| panic!("HERALD_CHAOS_FAULTS: unknown fault {id}")))
            .collect(),
        Err(_) => Fault::ALL.to_vec(),
    };
    let plan: Vec<Fault> = match rounds {
        None => kinds.clone(),
        Some(n) => (0..n).map(|_| kinds[rng.below(kinds.len())]).collect(),
    };
    let mode = match rounds {
        None => "short (each fault once)".to_owned(),
        Some(n) => format!("{n} random rounds"),
    };
    eprintln!("chaos: {mode}, seed {seed} (HERALD_CHAOS_SEED={seed} replays the choices)");

    let dir = tempfile::tempdir().unwrap();
    let mut run = run::Run::start(dir.path()).await;
    let mut records = Vec::new();
    for (round, fault) in plan.into_iter().enumerate() {
        let record = run.fault(round + 1, fault, rng.below(64)).await;
        let failed = !record.problems.is_empty();
        records.push(record);
        if failed {
            // later faults would pile onto a broken cluster: stop here and report
            break;
        }
    }
    let report = run.finish(mode, seed, records).await;

    let table = report.table();
    eprintln!("{table}");
    if let Ok(path) = std::env::var("HERALD_CHAOS_REPORT") {
        std::fs::write(&path, serde_json::to_string_pretty(&report.json()).unwrap()).expect("write the report");
        eprintln!("report written to {path}");
    }
    let problems = report.problems().count();
    if problems == 0 && std::env::var("HERALD_CHAOS_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("process logs kept in {}", dir.keep().display());
        return;
    }
    if problems > 0 {
        let kept = dir.keep();
        panic!(
            "{problems} broken promises under faults (seed {seed}); process logs kept in {}",
            kept.display()
        );
    }
}
