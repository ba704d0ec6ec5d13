//! The run's figures: one row per fault (recovery of sends and pushes, pushes missed live and
//! recovered by `sync`), printed as a table and written as JSON.

use crate::checks::Problem;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct FaultRecord {
    pub round: usize,
    pub fault: &'static str,
    pub target: String,
    /// Seconds since the start of the load.
    pub at: f64,
    /// Injection to: every sender acknowledged a send begun after it; every receiver got a push
    /// of a message newer than the fault, in each of its conversations.
    pub sends_recovered: Option<Duration>,
    pub pushes_recovered: Option<Duration>,
    /// Messages receivers first got from `sync` between the injection and the end of the
    /// check and never live (counted at the end of the run, once pushes in flight arrived).
    pub missed_live: u64,
    pub window: (std::time::Instant, std::time::Instant),
    pub acked: usize,
    pub reconnects: u64,
    pub problems: Vec<Problem>,
}

pub struct Report {
    pub mode: String,
    pub seed: u64,
    pub faults: Vec<FaultRecord>,
    pub final_problems: Vec<Problem>,
    pub acked: usize,
    pub attempts: u64,
    pub duration: Duration,
}

fn secs(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2}", d.as_secs_f64()))
        .unwrap_or_else(|| "-".into())
}

impl Report {
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.faults
            .iter()
            .flat_map(|f| f.problems.iter())
            .chain(self.final_problems.iter())
    }

    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for kind in [
            "lost",
            "duplicate",
            "gap",
            "mismatch",
            "view",
            "stall",
            "breach",
            "recovery",
        ] {
            counts.insert(kind, 0);
        }
        for problem in self.problems() {
            *counts.entry(problem.kind).or_default() += 1;
        }
        counts
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "chaos run: {} (seed {}), {} faults, {} messages acknowledged ({} attempts) in {:.0} s\n",
            self.mode,
            self.seed,
            self.faults.len(),
            self.acked,
            self.attempts,
            self.duration.as_secs_f64()
        ));
        out.push_str(
            "| # | fault | target | sends back (s) | pushes back (s) | reconnects | missed live, got by sync | acked | result |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|---|\n");
        for f in &self.faults {
            let result = if f.problems.is_empty() {
                "ok".to_owned()
            } else {
                format!("{} problems", f.problems.len())
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                f.round,
                f.fault,
                f.target,
                secs(f.sends_recovered),
                secs(f.pushes_recovered),
                f.reconnects,
                f.missed_live,
                f.acked,
                result
            ));
        }
        let counts = self.counts();
        out.push_str(&format!("totals: {counts:?}\n"));
        for problem in self.problems().take(30) {
            out.push_str(&format!("  {}: {}\n", problem.kind, problem.detail));
        }
        out
    }

    pub fn json(&self) -> Value {
        let problem = |p: &Problem| json!({"kind": p.kind, "detail": p.detail});
        json!({
            "mode": self.mode,
            "seed": self.seed,
            "duration_s": self.duration.as_secs_f64(),
            "acked": self.acked,
            "attempts": self.attempts,
            "counts": self.counts(),
            "faults": self.faults.iter().map(|f| json!({
                "round": f.round,
                "fault": f.fault,
                "target": f.target,
                "at_s": f.at,
                "sends_recovered_s": f.sends_recovered.map(|d| d.as_secs_f64()),
                "pushes_recovered_s": f.pushes_recovered.map(|d| d.as_secs_f64()),
                "missed_live_recovered_by_sync": f.missed_live,
                "acked": f.acked,
                "reconnects": f.reconnects,
                "problems": f.problems.iter().map(problem).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "final_problems": self.final_problems.iter().map(problem).collect::<Vec<_>>(),
        })
    }
}
