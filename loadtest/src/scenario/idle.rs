//! `idle`: as many idle connections as asked, spread over several source addresses; the
//! server's memory before and after gives its cost per connection. A probe conversation over
//! sessions spread across all connections is sent a few messages: every one must arrive.

use super::json_string;
use crate::cli::{Common, IdleArgs};
use crate::connection::Role;
use crate::load::{self, Load, SMALL_READ_BUFFER, WsSpec};
use crate::procfs;
use crate::report::{IdleFigures, Report};
use crate::run::Run;
use crate::sender::{Pace, Work};
use crate::target::Target;
use std::time::{Duration, Instant};

/// File descriptors kept free for everything but the connections.
const SPARE_FDS: u64 = 100;
/// Time for the server's memory to settle before it is read.
const SETTLE: Duration = Duration::from_secs(2);

pub async fn run(common: &Common, args: &IdleArgs, target: &mut Target) -> anyhow::Result<Report> {
    let wanted = u64::from(args.connections);
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    anyhow::ensure!(
        wanted + SPARE_FDS <= soft,
        "{wanted} connections need {} open files, and this process may open {soft} (the hard limit of `ulimit -n`; \
         the server needs as many): ask for at most {}",
        wanted + SPARE_FDS,
        soft.saturating_sub(SPARE_FDS)
    );
    let probe_members = args.probe_members.min(args.connections) as usize;
    anyhow::ensure!(probe_members >= 2, "the probe needs two connections at least");
    let run = Run::new(common.size as usize, common.burst);
    let sessions: Vec<String> = (0..args.connections).map(|i| format!("{}-i{i}", run.id)).collect();
    let tokens = super::tokens(&target.api, &sessions, common.quiet).await?;
    let step = sessions.len() / probe_members;
    let probes: Vec<usize> = (0..probe_members).map(|i| i * step).collect();
    let probe_sessions: Vec<String> = probes.iter().map(|&i| sessions[i].clone()).collect();
    let conv = target.api.create_group(&probe_sessions).await?;

    tokio::time::sleep(SETTLE).await;
    let rss_before = target.server_pid.and_then(procfs::rss_bytes);
    let hold = args.hold.max(1);
    let probe_pace = Pace {
        rate: Some(args.probe_messages as f64 / hold as f64),
        window: 4,
        max_backlog: None,
        limit: Some(args.probe_messages),
    };
    let specs = sessions
        .iter()
        .zip(&tokens)
        .enumerate()
        .map(|(i, (session, token))| {
            let is_probe = i % step == 0 && i / step < probe_members;
            WsSpec {
                path: format!("/ws?token={token}"),
                role: Role {
                    session: session.clone(),
                    convs: if is_probe { vec![conv.clone()] } else { Vec::new() },
                    history_limit: 0,
                },
                work: (i == 0).then(|| Work::Messages {
                    conv_json: json_string(&conv),
                    key_prefix: format!("{}-probe", run.id),
                    fanout: probe_members as u64,
                    pace: probe_pace,
                }),
                read_buffer: SMALL_READ_BUFFER,
            }
        })
        .collect();
    let mut load = Load::new(run.clone(), common, wanted);
    let started = Instant::now();
    load.open(target, specs, args.connect_concurrency as usize, common.quiet)
        .await?;
    let connect_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let rss_after = target.server_pid.and_then(procfs::rss_bytes);
    let loadgen_rss_after = procfs::rss_bytes(std::process::id());
    let finished = load::measure(load, target, common, "idle", hold).await?;
    let mut report = finished.report;
    report.idle = Some(IdleFigures {
        connections: wanted,
        connect_seconds,
        server_rss_before: rss_before,
        server_rss_after: rss_after,
        server_bytes_per_connection: rss_before
            .zip(rss_after)
            .map(|(before, after)| (after as f64 - before as f64) / wanted as f64),
        loadgen_rss_after,
        held_seconds: hold,
    });
    Ok(report)
}
