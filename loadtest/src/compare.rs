//! `compare`: the `chat` workload on Herald (embedded, on NATS), the relay and the peers, one
//! after another, at the maximum rate and at a common rate, in one Markdown table.

use crate::cli::{ChatArgs, Cli, CompareArgs, Scenario, SpawnKind};
use crate::report::Report;
use std::fmt::Write as _;

/// Everything compared, in the table's order.
const TARGETS: [SpawnKind; 5] = [
    SpawnKind::Embedded,
    SpawnKind::Nats,
    SpawnKind::Relay,
    SpawnKind::Ejabberd,
    SpawnKind::Synapse,
];

/// One target's two runs, or why it has none.
pub struct Row {
    pub target: String,
    pub max: Result<Report, String>,
    pub common: Result<Report, String>,
}

/// Why `kind` cannot run on this machine, if it cannot (a peer not installed or not built).
fn unavailable(kind: SpawnKind, common: &crate::cli::Common) -> Option<String> {
    match kind {
        SpawnKind::Ejabberd => crate::peer::ejabberd::server::installation().is_none().then(|| {
            format!(
                "skipped: not installed ({})",
                crate::peer::ejabberd::server::INSTALL_HINT
            )
        }),
        SpawnKind::Synapse => crate::peer::synapse::Install::find(&common.synapse_venv)
            .err()
            .map(|err| format!("skipped: not installed ({err:#})")),
        SpawnKind::Embedded | SpawnKind::Nats | SpawnKind::Relay => None,
    }
}

async fn chat(cli: &Cli, args: &CompareArgs, kind: SpawnKind, rate: f64) -> Result<Report, String> {
    let mut common = cli.common.clone();
    common.spawn = Some(kind);
    common.url = None;
    let mut chat: ChatArgs = args.chat.clone();
    chat.send.rate = rate;
    let cli = Cli {
        scenario: Scenario::Chat(chat),
        common,
    };
    if !cli.common.quiet {
        eprintln!("compare: {kind:?} at {}", rate_label(rate));
    }
    crate::run(&cli).await.map_err(|err| format!("failed: {err:#}"))
}

fn rate_label(rate: f64) -> String {
    if rate > 0.0 {
        format!("{rate} msg/s")
    } else {
        "the maximum rate".to_owned()
    }
}

/// Runs every target twice (at `--rate`, default the maximum, and at `--common-rate`).
pub async fn run(cli: &Cli, args: &CompareArgs) -> Vec<Row> {
    let mut rows = Vec::new();
    for kind in TARGETS {
        let target = format!("{kind:?}").to_lowercase();
        if args.skip.contains(&kind) {
            continue;
        }
        if let Some(why) = unavailable(kind, &cli.common) {
            rows.push(Row {
                target,
                max: Err(why.clone()),
                common: Err(why),
            });
            continue;
        }
        let max = chat(cli, args, kind, args.chat.send.rate).await;
        let common = chat(cli, args, kind, args.common_rate).await;
        rows.push(Row { target, max, common });
    }
    rows
}

/// Every run of the comparison lost, duplicated and misordered nothing.
pub fn is_correct(rows: &[Row]) -> bool {
    rows.iter()
        .flat_map(|r| [&r.max, &r.common])
        .all(|run| run.as_ref().map_or(true, Report::is_correct))
}

fn per_thousand(seconds: Option<f64>, messages: u64) -> String {
    match seconds {
        Some(s) if messages > 0 => format!("{:.2}", s * 1000.0 / messages as f64),
        _ => "–".to_owned(),
    }
}

/// The table: one line per target.
pub fn markdown(rows: &[Row], args: &CompareArgs) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| target | msg/s (max) | p50 / p99 ms (max) | p50 / p99 ms at {} msg/s | server CPU s / 1k msgs (max run; + companion) | generator CPU s / 1k msgs (max run) | server KiB / connection | other processes' CPU s (max run) | lost / dup / misordered |",
        args.common_rate
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let (max, common) = match (&row.max, &row.common) {
            (Ok(max), Ok(common)) => (max, common),
            (Err(why), _) | (_, Err(why)) => {
                let _ = writeln!(out, "| {} | {why} | | | | | | | |", row.target);
                continue;
            }
        };
        let companion = match max.server.nats_cpu_seconds {
            Some(s) if max.acked > 0 => format!(" (+ {:.2})", s * 1000.0 / max.acked as f64),
            _ => String::new(),
        };
        let memory = match (max.server.rss_ready, max.server.rss_start) {
            (Some(ready), Some(start)) if max.connections > 0 => {
                format!(
                    "{:.1}",
                    start.saturating_sub(ready) as f64 / max.connections as f64 / 1024.0
                )
            }
            _ => "–".to_owned(),
        };
        // a run that shared the cores with something else says so
        let others = match (max.server.machine_busy_seconds, max.loadgen_cpu_seconds) {
            (Some(busy), Some(loadgen)) => {
                let servers = max.server.cpu_seconds.unwrap_or(0.0) + max.server.nats_cpu_seconds.unwrap_or(0.0);
                format!(
                    "{:.1} of {:.1}",
                    (busy - servers - loadgen).max(0.0),
                    max.machine.cpus as f64 * max.cpu_window_seconds
                )
            }
            _ => "–".to_owned(),
        };
        let tally = |r: &Report| (r.tally.lost, r.tally.duplicated, r.tally.misordered);
        let (a, b) = (tally(max), tally(common));
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} / {:.1} | {:.2} / {:.2} | {}{companion} | {} | {memory} | {others} | {} / {} / {} |",
            row.target,
            max.rate,
            max.latency.p50,
            max.latency.p99,
            common.latency.p50,
            common.latency.p99,
            per_thousand(max.server.cpu_seconds, max.acked),
            per_thousand(max.loadgen_cpu_seconds, max.acked),
            a.0 + b.0,
            a.1 + b.1,
            a.2 + b.2,
        );
    }
    out
}
