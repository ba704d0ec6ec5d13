//! Command-line flags: one subcommand per scenario, and the flags every scenario shares.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "herald-loadtest",
    version,
    about = "Drives Herald like real clients do and measures throughput, latency and correctness.",
    after_help = "Every run is bounded in time and count and only ever targets 127.0.0.0/8."
)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// 1:1 conversations: every session sends to its peer, at a target or the maximum rate.
    Chat(ChatArgs),
    /// Fan-out in one large conversation (e.g. 2,000 members of whom 500 are online).
    Group(GroupArgs),
    /// As many idle connections as asked; measures the server's memory per connection.
    Idle(IdleArgs),
    /// History reads (`msg-listHistory`) under a write load.
    History(HistoryArgs),
    /// The machine's limits: the `chat` workload through a trivial relay, and raw JetStream
    /// publish/consume on the same NATS.
    Baseline(BaselineArgs),
    /// `chat` on Herald (embedded, NATS), the relay, ejabberd and Synapse one after another, at
    /// the maximum rate and at a common rate: one Markdown table (peers not installed skipped).
    Compare(CompareArgs),
    /// Serves the trivial relay (what `--spawn relay` starts); runs until killed.
    #[command(hide = true)]
    Relay(RelayArgs),
}

/// What to run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpawnKind {
    /// `herald up` on SQLite and the in-process bus.
    Embedded,
    /// `herald up` on a private nats-server with JetStream.
    Nats,
    /// The harness's own relay: forwards each message to its addressees, stores nothing.
    Relay,
    /// ejabberd (XMPP), configured by the harness (`chat` only; see RESULTS.md, "Peers").
    Ejabberd,
    /// Synapse (Matrix) on PostgreSQL (`chat` only).
    Synapse,
}

impl SpawnKind {
    /// The other chat server this names, if it is not Herald or the relay.
    pub fn peer(self) -> Option<PeerKind> {
        match self {
            SpawnKind::Ejabberd => Some(PeerKind::Ejabberd),
            SpawnKind::Synapse => Some(PeerKind::Synapse),
            SpawnKind::Embedded | SpawnKind::Nats | SpawnKind::Relay => None,
        }
    }
}

/// The backend of ejabberd's message archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EjabberdArchive {
    /// Mnesia, ejabberd's built-in database (the archive table is on disk, not fsynced per write).
    Mnesia,
    /// SQLite, one file (each archive write is its own transaction).
    Sqlite,
    /// No archive at all: not a fair fight (nothing is stored), it shows what the archive costs.
    None,
}

/// Another chat server, measured under the same workload (`peer::`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PeerKind {
    Ejabberd,
    Synapse,
}

#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Target a running server (http://127.0.0.1:PORT; loopback only) instead of starting one.
    #[arg(long, global = true)]
    pub url: Option<String>,

    /// Start the server under test: embedded Herald, Herald on NATS, the relay, or a peer
    /// (ejabberd, Synapse: `chat` only). Default: embedded (relay for `baseline`).
    #[arg(long, value_enum, global = true)]
    pub spawn: Option<SpawnKind>,

    /// With --url: the target is not Herald but this peer (its HTTP listener is the URL).
    #[arg(long, value_enum, global = true)]
    pub target_kind: Option<PeerKind>,

    /// With --url and --target-kind ejabberd: its XMPP client port (same address as --url).
    #[arg(long, global = true)]
    pub xmpp_port: Option<u16>,

    /// The XMPP domain of the users (a spawned ejabberd serves it).
    #[arg(long, default_value = "localhost", global = true)]
    pub xmpp_domain: String,

    /// Where a spawned ejabberd archives messages (`mod_mam`): Mnesia (its default) or SQLite
    /// (what ejabberd recommends for a small server; Debian `erlang-p1-sqlite3`).
    #[arg(long, value_enum, default_value_t = EjabberdArchive::Mnesia, global = true)]
    pub ejabberd_archive: EjabberdArchive,

    /// The Python virtualenv with `matrix-synapse[postgres]` for `--spawn synapse`.
    #[arg(long, env = "HERALD_SYNAPSE_VENV", default_value = ".venv-synapse", global = true)]
    pub synapse_venv: std::path::PathBuf,

    /// App secret of the target (with --url); a spawned Herald gets a generated one. With
    /// `--target-kind synapse`: the homeserver's `registration_shared_secret`.
    #[arg(long, env = "HERALD_APP_SECRET", hide_env_values = true, global = true)]
    pub app_secret: Option<String>,

    /// The `herald` binary to spawn. Default: next to this binary, else `herald` on PATH.
    #[arg(long, global = true)]
    pub herald_bin: Option<PathBuf>,

    /// An extra argument for the spawned `herald up` (repeatable), e.g. --herald-arg=--partitions=8.
    #[arg(long = "herald-arg", global = true, allow_hyphen_values = true)]
    pub herald_args: Vec<String>,

    /// Read buffer of each of the spawned relay's WebSockets, in bytes.
    #[arg(long, default_value_t = crate::relay::READ_BUFFER, global = true)]
    pub relay_read_buffer: usize,

    /// The `nats-server` to spawn. Default: $HERALD_NATS_SERVER, ./.venv/bin/nats-server, PATH.
    #[arg(long, global = true)]
    pub nats_server: Option<PathBuf>,

    /// Use this NATS (loopback) instead of spawning one (`--spawn nats`, and `baseline`'s JetStream part).
    #[arg(long, global = true)]
    pub nats_url: Option<String>,

    /// Keep the spawned server's log (stderr) in this file; its level is $HERALD_LOG (default warn).
    #[arg(long, global = true)]
    pub server_log: Option<PathBuf>,

    /// With --url: the server's process id, to read its memory and CPU time from /proc.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,

    /// Seconds of load (sending); at most 300.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300), global = true)]
    pub duration: u64,

    /// Seconds to wait, after sending stops, for the last acks and pushes.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=120), global = true)]
    pub drain_timeout: u64,

    /// Milliseconds to wait after every connection is open before the load starts (routes to
    /// new connections reach delivery workers asynchronously).
    #[arg(long, default_value_t = 1000, global = true)]
    pub settle_ms: u64,

    /// Bytes of message content (a timestamp, then padding).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(24..=32768), global = true)]
    pub size: u64,

    /// Source addresses 127.0.0.2, 127.0.0.3, ... to spread client connections over (0: one per
    /// 10,000 connections).
    #[arg(long, default_value_t = 0, global = true)]
    pub source_addrs: u8,

    /// Write every figure as JSON to this file.
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,

    /// Write a self-contained HTML report with charts to this file.
    #[arg(long, global = true)]
    pub html: Option<PathBuf>,

    /// Keep the app's anti-spam rule and send rate limit (by default the harness turns both off
    /// through `PUT /inner/settings`, as they would refuse its sends).
    #[arg(long, global = true)]
    pub keep_app_settings: bool,

    /// No progress bar.
    #[arg(long, global = true)]
    pub quiet: bool,

    /// With a target rate, start every sender at the same instant, so the load arrives in
    /// synchronized bursts (one message from every sender at once, every interval). Default:
    /// each sender starts at a random phase within its first interval, so arrivals are spread
    /// evenly and a rate means a rate.
    #[arg(long, global = true)]
    pub burst: bool,
}

/// The sending side shared by `chat`, `group`, `history` and `baseline`.
#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Target rate of sends per second over all senders; 0 sends as fast as the window allows.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,

    /// Sends in flight (sent, not yet acknowledged) per sending connection (the server allows 64).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub window: u32,

    /// Pushes a recipient connection may be behind on average before senders pause (the server
    /// closes a connection 1,024 frames or 4 MiB behind).
    #[arg(long, default_value_t = 256)]
    pub max_backlog: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// 1:1 conversations; each has two sessions, and both send.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub pairs: u32,

    /// Native WebSocket connections per session (all receive; the first sends).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub ws_per_session: u32,

    /// Extra push-only connections per session over `/notify?protoc=ws`.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=8))]
    pub notify_ws_per_session: u32,

    /// Extra push-only connections per session over `/notify?protoc=sse`.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=8))]
    pub sse_per_session: u32,

    /// A long-poll loop per session over `/notify?protoc=poll` (0 or 1: the loops of one
    /// session and platform share one mailbox).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1))]
    pub poll_per_session: u32,

    #[command(flatten)]
    pub send: SendArgs,
}

#[derive(Debug, Clone, Args)]
pub struct GroupArgs {
    /// Members of the conversation (at most 10,000, one create request).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub members: u32,

    /// Members connected (one WebSocket each); every one receives every message.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub online: u32,

    /// Online members that send.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub senders: u32,

    #[command(flatten)]
    pub send: SendArgs,
}

#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// Idle connections (one session each). The open-file limit bounds it (see README).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub connections: u32,

    /// Connections being opened at once.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connect_concurrency: u32,

    /// Seconds to hold every connection open after the last one opened.
    #[arg(long, default_value_t = 5)]
    pub hold: u64,

    /// Sessions, spread over all, put in one conversation that is sent a few messages at the
    /// end: they must all arrive.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub probe_members: u32,

    /// Messages sent to the probe conversation.
    #[arg(long, default_value_t = 20)]
    pub probe_messages: u64,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// 1:1 conversations written to (both sessions send).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub pairs: u32,

    /// Reading connections (a second connection of one session of the first pairs).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub readers: u32,

    /// History requests in flight per reading connection.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub read_window: u32,

    /// Target rate of history reads per second over all readers, each reader at a random phase
    /// (0: closed loop, every reader keeps `--read-window` requests in flight: the read
    /// throughput, whose latency is the queue that window makes).
    #[arg(long, default_value_t = 0.0)]
    pub read_rate: f64,

    /// Messages per history page (`limit`, at most 100).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub limit: u64,

    /// Target rate of writes per second over all writers (0: as fast as the window allows).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,

    /// Sends in flight per writing connection.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub window: u32,

    /// Pushes a recipient may be behind on average before writers pause.
    #[arg(long, default_value_t = 256)]
    pub max_backlog: u64,
}

#[derive(Debug, Clone, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub chat: ChatArgs,

    /// Skip the raw JetStream part.
    #[arg(long)]
    pub skip_jetstream: bool,

    /// JetStream publishes in flight.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub js_window: u32,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The workload of every run (`--rate` is the first run's: 0, the maximum).
    #[command(flatten)]
    pub chat: ChatArgs,

    /// The rate of every target's second run, for latencies side by side.
    #[arg(long, default_value_t = 1000.0)]
    pub common_rate: f64,

    /// Write the table to this file too (Markdown).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Leave a target out (repeatable).
    #[arg(long, value_enum)]
    pub skip: Vec<SpawnKind>,
}

#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// Read buffer of each WebSocket, in bytes (axum's default is 128 KiB).
    #[arg(long, default_value_t = crate::relay::READ_BUFFER)]
    pub read_buffer: usize,
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Chat(_) => "chat",
            Scenario::Group(_) => "group",
            Scenario::Idle(_) => "idle",
            Scenario::History(_) => "history",
            Scenario::Baseline(_) => "baseline",
            Scenario::Compare(_) => "compare",
            Scenario::Relay(_) => "relay",
        }
    }
}
