//! The life of a run that every scenario shares: open the connections, start the load, sample
//! the server, stop sending, drain, stop reading, and add up what every connection saw.

use crate::cli::Common;
use crate::connection::{self, Outcome, Role};
use crate::procfs;
use crate::progress::{self, Progress};
use crate::report::{self, Latency, Machine, Report, ServerFigures};
use crate::run::{Counters, Run};
use crate::sender::Work;
use crate::target::Target;
use crate::tracker::{self, AckedRange};
use crate::ws::{self, Sources};
use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Read buffer of a connection that only receives small frames now and then.
pub const SMALL_READ_BUFFER: usize = 4 * 1024;
/// Read buffer of a busy connection.
pub const LARGE_READ_BUFFER: usize = 64 * 1024;

/// A WebSocket to open: where, as whom, doing what.
pub struct WsSpec {
    /// Path and query, e.g. `/ws?token=…`.
    pub path: String,
    pub role: Role,
    pub work: Option<Work>,
    pub read_buffer: usize,
}

/// The connections of a run, open or being opened.
pub struct Load {
    pub run: Arc<Run>,
    pub handles: Vec<JoinHandle<Outcome>>,
    sources: Sources,
    opened: u64,
}

impl Load {
    pub fn new(run: Arc<Run>, common: &Common, connections: u64) -> Self {
        Self {
            run,
            handles: Vec::new(),
            sources: Sources::new(common.source_addrs, connections),
            opened: 0,
        }
    }

    /// Opens every WebSocket, `concurrency` at a time, counting them on a bar.
    pub async fn open(
        &mut self,
        target: &Target,
        specs: Vec<WsSpec>,
        concurrency: usize,
        quiet: bool,
    ) -> anyhow::Result<()> {
        let bar = progress::steps("connect", specs.len() as u64, quiet);
        let first = self.opened;
        self.opened += specs.len() as u64;
        let sources = self.sources;
        let run = self.run.clone();
        let handles: Vec<JoinHandle<Outcome>> = futures::stream::iter(specs.into_iter().enumerate())
            .map(|(i, spec)| {
                let url = target.api.ws_url(&spec.path);
                let source = sources.for_connection(first + i as u64);
                let run = run.clone();
                let bar = bar.clone();
                async move {
                    let mut socket = ws::connect(&url, source, spec.read_buffer)
                        .await
                        .with_context(|| format!("connection {} from {source}", first + i as u64))?;
                    if spec.path.starts_with("/ws") {
                        ws::ready(&mut socket).await?;
                    }
                    bar.inc(1);
                    anyhow::Ok(connection::spawn(socket, spec.role, spec.work, run))
                }
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        bar.finish_and_clear();
        self.handles.extend(handles);
        Ok(())
    }
}

/// Memory and CPU samples of the server while the load runs.
struct Sampler {
    task: JoinHandle<()>,
    rss: Arc<std::sync::Mutex<Vec<(u32, u64)>>>,
}

impl Sampler {
    fn start(run: Arc<Run>, pid: Option<u32>) -> Self {
        let rss = Arc::new(std::sync::Mutex::new(Vec::new()));
        let samples = rss.clone();
        let task = tokio::spawn(async move {
            let Some(pid) = pid else { return };
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Some(bytes) = procfs::rss_bytes(pid) {
                    let second = run.elapsed().as_secs() as u32;
                    samples.lock().unwrap_or_else(|p| p.into_inner()).push((second, bytes));
                }
            }
        });
        Self { task, rss }
    }

    fn finish(self) -> Vec<(u32, u64)> {
        self.task.abort();
        self.rss.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What every connection saw, added up.
pub struct Finished {
    pub report: Report,
    pub outcomes: Vec<Outcome>,
    pub recorded: crate::recorder::Recorded,
}

/// CPU seconds used so far by the server, NATS, this load generator and the whole machine.
#[derive(Clone, Copy)]
struct CpuMark {
    server: Option<f64>,
    nats: Option<f64>,
    loadgen: Option<f64>,
    machine_busy: Option<f64>,
}

impl CpuMark {
    fn take(target: &Target) -> Self {
        Self {
            server: target.server_pid.and_then(procfs::cpu_seconds),
            // the companion with its children (PostgreSQL's backends; NATS has none)
            nats: target.nats_pid.and_then(procfs::cpu_seconds_with_children),
            loadgen: procfs::cpu_seconds(std::process::id()),
            machine_busy: procfs::machine_busy_seconds(),
        }
    }
}

fn minus(end: Option<f64>, start: Option<f64>) -> Option<f64> {
    end.zip(start).map(|(e, s)| e - s)
}

/// An error with the end of the server's log if it exited during the run.
fn server_alive(target: &mut Target) -> anyhow::Result<()> {
    let Some(status) = target.server_exit() else {
        return Ok(());
    };
    let log = target
        .log
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = &lines[lines.len().saturating_sub(30)..];
    anyhow::bail!(
        "the server exited during the run ({status}); the end of its log:\n{}",
        tail.join("\n")
    )
}

/// Every connection's acknowledged `Seq` ranges, merged per conversation.
fn merged_acks(outcomes: &[Outcome]) -> HashMap<String, AckedRange> {
    let mut acked: HashMap<String, AckedRange> = HashMap::new();
    for outcome in outcomes {
        for (conv, range) in &outcome.acked {
            acked.entry(conv.clone()).or_default().merge(range);
        }
    }
    acked
}

/// Starts the load, runs it for `seconds`, drains, stops, and reports.
pub async fn measure(
    load: Load,
    target: &mut Target,
    common: &Common,
    scenario: &str,
    seconds: u64,
) -> anyhow::Result<Finished> {
    let run = load.run.clone();
    let cpu_start = CpuMark::take(target);
    let rss_start = target.server_pid.and_then(procfs::rss_bytes);
    // routes reach delivery workers asynchronously (over NATS, a key-value watch)
    tokio::time::sleep(Duration::from_millis(common.settle_ms)).await;
    let stages_before = crate::stages::Scrape::take(&target.api).await;
    let progress = Progress::start(run.clone(), seconds, common.quiet);
    let sampler = Sampler::start(run.clone(), target.server_pid);
    run.go();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    if !run.counted_sent(Duration::from_secs(common.drain_timeout)).await {
        eprintln!("warning: senders with a fixed count had not sent it all when the load phase ended");
    }
    run.stop_sending.cancel();
    let load_seconds = run.elapsed().as_secs_f64();
    let acked_at_end = Counters::get(&run.counters.acked);
    let delivered_at_end = Counters::get(&run.counters.delivered);
    progress.phase("drain");
    let drained = run.drain(Duration::from_secs(common.drain_timeout)).await;
    run.stop_reading.cancel();
    let mut outcomes = Vec::with_capacity(load.handles.len());
    for handle in load.handles {
        outcomes.push(handle.await.context("a connection task failed")?);
    }
    progress.finish();
    let rss = sampler.finish();
    let cpu_window_seconds = run.elapsed().as_secs_f64();
    let cpu_end = CpuMark::take(target);
    server_alive(target)?;
    let stages = match stages_before {
        Some(before) => crate::stages::Scrape::take(&target.api)
            .await
            .map(|after| after.since(&before))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let tally = tracker::tally(
        &merged_acks(&outcomes),
        outcomes
            .iter()
            .flat_map(|o| o.trackers.iter().map(|(c, t)| (c.as_str(), t))),
    );
    let recorded = run.recorder.snapshot();
    let c = &run.counters;
    let report = Report {
        scenario: scenario.to_owned(),
        target: target.kind.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: Machine::read(),
        seconds: load_seconds,
        cpu_window_seconds,
        connections: Counters::get(&c.connections),
        sent: Counters::get(&c.sent),
        acked: Counters::get(&c.acked),
        delivered: Counters::get(&c.delivered),
        rate: acked_at_end as f64 / load_seconds,
        deliveries_per_second: delivered_at_end as f64 / load_seconds,
        latency: Latency::of(&recorded.delivery),
        ack_latency: Latency::of(&recorded.ack),
        tally,
        errors: Counters::get(&c.errors),
        error_samples: outcomes
            .iter()
            .flat_map(|o| o.errors.iter().cloned())
            .take(10)
            .collect(),
        disconnects: Counters::get(&c.disconnects),
        disconnect_samples: outcomes.iter().filter_map(|o| o.closed.clone()).take(10).collect(),
        drained,
        server: ServerFigures {
            rss_ready: target.rss_ready,
            rss_start,
            rss_peak: rss.iter().map(|(_, b)| *b).max(),
            rss_end: target.server_pid.and_then(procfs::rss_bytes),
            cpu_seconds: minus(cpu_end.server, cpu_start.server),
            nats_cpu_seconds: minus(cpu_end.nats, cpu_start.nats),
            nats_rss_end: target.nats_pid.and_then(procfs::rss_bytes),
            machine_busy_seconds: minus(cpu_end.machine_busy, cpu_start.machine_busy),
        },
        loadgen_cpu_seconds: minus(cpu_end.loadgen, cpu_start.loadgen),
        history: None,
        idle: None,
        jetstream: None,
        stages,
        timeline: report::timeline(&recorded, &rss),
        distribution: report::distribution(&recorded.delivery),
    };
    Ok(Finished {
        report,
        outcomes,
        recorded,
    })
}
