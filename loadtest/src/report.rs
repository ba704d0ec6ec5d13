//! Every figure of a run, the one-line summary, and the JSON file.

use crate::jetstream::JetStreamFigures;
use crate::recorder::Recorded;
use crate::tracker::Tally;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::path::Path;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// One second of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub t: u32,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    pub reads: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub server_rss: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("unknown")
            .trim()
            .to_owned();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_gib: (mem_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

/// Memory and CPU time of the server (and its NATS) over the run, from /proc.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerFigures {
    /// Once the server was ready, before the run's connections opened.
    pub rss_ready: Option<u64>,
    /// When the load starts (every connection open).
    pub rss_start: Option<u64>,
    pub rss_peak: Option<u64>,
    pub rss_end: Option<u64>,
    /// CPU seconds used during the load phase and drain.
    pub cpu_seconds: Option<f64>,
    pub nats_cpu_seconds: Option<f64>,
    pub nats_rss_end: Option<u64>,
    /// CPU seconds the whole machine was busy meanwhile: what neither the server, its NATS nor
    /// the load generator used was taken by other processes.
    pub machine_busy_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryFigures {
    pub reads: u64,
    pub reads_per_second: f64,
    pub latency: Latency,
    /// Pages that were not a contiguous run of `Seq`, newest first, within the limit.
    pub bad_pages: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleFigures {
    pub connections: u64,
    pub connect_seconds: f64,
    pub server_rss_before: Option<u64>,
    pub server_rss_after: Option<u64>,
    /// (RSS after − RSS before) / connections.
    pub server_bytes_per_connection: Option<f64>,
    pub loadgen_rss_after: Option<u64>,
    pub held_seconds: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    pub command: String,
    pub machine: Machine,
    /// Seconds of load (sending).
    pub seconds: f64,
    /// Seconds over which CPU time was measured (load and drain).
    pub cpu_window_seconds: f64,
    pub connections: u64,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    /// Acknowledged sends per second of load.
    pub rate: f64,
    /// Pushes received per second of load, at every connection.
    pub deliveries_per_second: f64,
    /// Send → push at each addressee.
    pub latency: Latency,
    /// Send → acknowledgement (stored).
    pub ack_latency: Latency,
    pub tally: Tally,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub disconnects: u64,
    pub disconnect_samples: Vec<String>,
    /// Every ack and owed push arrived before the drain timeout.
    pub drained: bool,
    pub server: ServerFigures,
    pub loadgen_cpu_seconds: Option<f64>,
    pub history: Option<HistoryFigures>,
    pub idle: Option<IdleFigures>,
    pub jetstream: Option<JetStreamFigures>,
    /// Where the time went: the server's stage histograms over this run (empty on the relay).
    pub stages: Vec<crate::stages::Stage>,
    pub timeline: Vec<Point>,
    /// (percentile, ms) of the delivery latency.
    pub distribution: Vec<(f64, f64)>,
}

impl Report {
    /// `result: <rate> msg/s p50=<ms> p99=<ms> lost=<n> dup=<n> misordered=<n>`
    pub fn summary(&self) -> String {
        format!(
            "result: {:.0} msg/s p50={:.2} p99={:.2} lost={} dup={} misordered={}",
            self.rate,
            self.latency.p50,
            self.latency.p99,
            self.tally.lost,
            self.tally.duplicated,
            self.tally.misordered
        )
    }

    /// Lines printed before the summary: what else was measured.
    pub fn details(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{} on {}: {:.1}s, {} connections, {} sent, {} acked, {} pushes ({:.0}/s), ack p50={:.2} p99={:.2} ms, errors={} closed={}{}",
            self.scenario,
            self.target,
            self.seconds,
            self.connections,
            self.sent,
            self.acked,
            self.delivered,
            self.deliveries_per_second,
            self.ack_latency.p50,
            self.ack_latency.p99,
            self.errors,
            self.disconnects,
            if self.drained { "" } else { " (drain timed out)" },
        )];
        if let Some(cpu) = self.server.cpu_seconds {
            let nats = self.server.nats_cpu_seconds.unwrap_or(0.0);
            let loadgen = self.loadgen_cpu_seconds.unwrap_or(0.0);
            let others = self.server.machine_busy_seconds.map_or(String::new(), |busy| {
                format!(" others {:.1}s", (busy - cpu - nats - loadgen).max(0.0))
            });
            lines.push(format!(
                "cpu: server {cpu:.1}s{} loadgen {loadgen:.1}s{others} over {:.1}s of load and drain, {} cores",
                self.server
                    .nats_cpu_seconds
                    .map_or(String::new(), |n| format!(" nats {n:.1}s")),
                self.cpu_window_seconds,
                self.machine.cpus,
            ));
        }
        if let Some(h) = &self.history {
            lines.push(format!(
                "history: {} reads ({:.0}/s) p50={:.2} p99={:.2} ms bad_pages={}",
                h.reads, h.reads_per_second, h.latency.p50, h.latency.p99, h.bad_pages
            ));
        }
        if let Some(i) = &self.idle {
            lines.push(format!(
                "idle: {} connections opened in {:.1}s, held {}s; server RSS {} -> {} = {} per connection",
                i.connections,
                i.connect_seconds,
                i.held_seconds,
                mib(i.server_rss_before),
                mib(i.server_rss_after),
                i.server_bytes_per_connection
                    .map_or("n/a".to_owned(), |b| format!("{:.1} KiB", b / 1024.0)),
            ));
        }
        if let Some(j) = &self.jetstream {
            lines.push(format!(
                "jetstream: {:.0} publishes/s stored, consume p50={:.2} p99={:.2} ms, ack p50={:.2} p99={:.2} ms, lost={} dup={} misordered={}",
                j.publish_rate, j.p50_ms, j.p99_ms, j.ack_p50_ms, j.ack_p99_ms, j.tally.lost, j.tally.duplicated, j.tally.misordered
            ));
        }
        for sample in self.error_samples.iter().chain(&self.disconnect_samples).take(5) {
            lines.push(format!("  e.g. {sample}"));
        }
        lines.extend(crate::stages::lines(&self.stages));
        lines
    }

    /// Correct: nothing lost, duplicated or misordered (anywhere, JetStream included).
    pub fn is_correct(&self) -> bool {
        self.tally.is_clean()
            && self.history.as_ref().is_none_or(|h| h.bad_pages == 0)
            && self.jetstream.as_ref().is_none_or(|j| j.tally.is_clean())
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)?)?;
        Ok(())
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}

/// The per-second timeline, with the server's memory where it was sampled.
pub fn timeline(recorded: &Recorded, rss: &[(u32, u64)]) -> Vec<Point> {
    recorded
        .seconds
        .iter()
        .enumerate()
        .map(|(t, s)| Point {
            t: t as u32,
            sent: s.sent,
            acked: s.acked,
            delivered: s.delivered,
            reads: s.reads,
            p50_ms: if s.latency.is_empty() {
                0.0
            } else {
                s.latency.value_at_quantile(0.5) as f64 / 1000.0
            },
            p99_ms: if s.latency.is_empty() {
                0.0
            } else {
                s.latency.value_at_quantile(0.99) as f64 / 1000.0
            },
            server_rss: rss.iter().find(|(at, _)| *at as usize == t).map(|(_, b)| *b),
        })
        .collect()
}

/// Percentiles 0 … 99.999 (denser towards the tail) and their latency in ms.
pub fn distribution(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut points = Vec::new();
    let mut p: f64 = 0.0;
    while p < 99.999 {
        points.push((p, h.value_at_percentile(p) as f64 / 1000.0));
        // each step covers 15% of the remaining tail: dense where the tail is
        p += (100.0 - p) * 0.15;
    }
    points.push((99.999, h.value_at_percentile(99.999) as f64 / 1000.0));
    points.push((100.0, h.max() as f64 / 1000.0));
    points
}
