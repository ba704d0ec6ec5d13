//! Every setting of `herald`, from flags or `HERALD_*` environment variables, read once.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Herald: a chat backend. `herald up` runs everything in one process."
)]
pub struct Cli {
    #[command(subcommand)]
    pub role: Role,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Role {
    /// Every role in one process: gateway, sequencer and delivery (SQLite + in-process bus,
    /// or NATS JetStream when HERALD_NATS_URL is set).
    Up,
    /// Only the gateway: client connections and the HTTP API (needs HERALD_NATS_URL).
    Gateway,
    /// Only the sequencer: orders and stores commands (needs HERALD_NATS_URL).
    Sequencer,
    /// Only delivery: fans events out to gateways (needs HERALD_NATS_URL).
    Delivery,
    /// Applies pending schema migrations, then exits: ScyllaDB when HERALD_SCYLLA_NODES is set
    /// (creating the keyspace if missing), else the SQLite store in HERALD_DATA_DIR. Safe to run
    /// twice and from several replicas at once.
    Migrate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OtlpProtocol {
    /// http/protobuf
    Protobuf,
    /// http/json
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on (HTTP API, WebSockets, /healthz, /readyz, and /metrics unless HERALD_ADMIN_ADDR is set).
    /// Port 0 picks a free port.
    #[arg(long, env = "HERALD_HTTP_ADDR", default_value = "127.0.0.1:8088", global = true)]
    pub http_addr: SocketAddr,

    /// Separate address for /metrics, /healthz and /readyz; when set, /metrics is served only there
    /// (keep it off the public network). Unset: everything on HERALD_HTTP_ADDR.
    #[arg(long, env = "HERALD_ADMIN_ADDR", global = true)]
    pub admin_addr: Option<SocketAddr>,

    /// Directory of the embedded SQLite store.
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "./herald-data", global = true)]
    pub data_dir: PathBuf,

    /// ScyllaDB contact points, comma-separated `host[:port]` (port 9042 by default). When set, the
    /// store is ScyllaDB instead of SQLite; run `herald migrate` first.
    #[arg(long, env = "HERALD_SCYLLA_NODES", global = true)]
    pub scylla_nodes: Option<String>,

    /// ScyllaDB keyspace holding Herald's tables.
    #[arg(long, env = "HERALD_SCYLLA_KEYSPACE", default_value = "herald", global = true)]
    pub scylla_keyspace: String,

    /// Replicas per datacenter when `herald migrate` creates the keyspace (NetworkTopologyStrategy;
    /// 3 in production, 1 on a single node). An existing keyspace is left as it is.
    #[arg(long, env = "HERALD_SCYLLA_REPLICATION", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9), global = true)]
    pub scylla_replication: u32,

    /// Tablets for the keyspace `herald migrate` creates (true or false; unset: decided from the
    /// cluster). Where the cluster has no lightweight transactions on tablets (feature
    /// LWT_WITH_TABLETS), migrate turns them off itself and refuses true.
    #[arg(long, env = "HERALD_SCYLLA_TABLETS", global = true)]
    pub scylla_tablets: Option<bool>,

    /// This process's ScyllaDB datacenter: queries go to its replicas (LOCAL_QUORUM).
    #[arg(long, env = "HERALD_SCYLLA_DATACENTER", global = true)]
    pub scylla_datacenter: Option<String>,

    /// ScyllaDB user name (with HERALD_SCYLLA_PASSWORD), when the cluster requires authentication.
    #[arg(long, env = "HERALD_SCYLLA_USERNAME", global = true)]
    pub scylla_username: Option<String>,

    /// ScyllaDB password.
    #[arg(long, env = "HERALD_SCYLLA_PASSWORD", hide_env_values = true, global = true)]
    pub scylla_password: Option<String>,

    /// Timeout of one ScyllaDB statement, in milliseconds (lightweight transactions get twice as long).
    #[arg(long, env = "HERALD_SCYLLA_TIMEOUT_MS", default_value_t = 5000, global = true)]
    pub scylla_timeout_ms: u64,

    /// Most ScyllaDB statements one store call has in flight at once (fan-out writes and reads).
    #[arg(long, env = "HERALD_SCYLLA_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024), global = true)]
    pub scylla_concurrency: u32,

    /// NATS server URL (or comma-separated URLs). When set, commands and events travel on JetStream and roles may
    /// run as separate processes. A `user:password@` in it is used as credentials and never printed.
    #[arg(long, env = "HERALD_NATS_URL", hide_env_values = true, global = true)]
    pub nats_url: Option<String>,

    /// NATS credentials file (`.creds`: user JWT and NKey seed, as `nsc` writes them).
    #[arg(long, env = "HERALD_NATS_CREDS", conflicts_with = "nats_user", global = true)]
    pub nats_creds: Option<PathBuf>,

    /// NATS user name (with HERALD_NATS_PASSWORD): one user per role, see nats/README.md.
    #[arg(long, env = "HERALD_NATS_USER", requires = "nats_password", global = true)]
    pub nats_user: Option<String>,

    /// NATS password of HERALD_NATS_USER.
    #[arg(
        long,
        env = "HERALD_NATS_PASSWORD",
        hide_env_values = true,
        requires = "nats_user",
        global = true
    )]
    pub nats_password: Option<String>,

    /// Refuse a NATS server that does not offer TLS (`tls://` URLs require it too).
    #[arg(long, env = "HERALD_NATS_TLS_REQUIRED", default_value_t = false, global = true)]
    pub nats_tls_required: bool,

    /// PEM file of the CA that signed the NATS servers' certificates (else the system's roots).
    #[arg(long, env = "HERALD_NATS_TLS_CA", global = true)]
    pub nats_tls_ca: Option<PathBuf>,

    /// Partitions of the command and event logs. Fixed for the life of a NATS deployment; at most 1024.
    #[arg(long, env = "HERALD_PARTITIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024), global = true)]
    pub partitions: u32,

    /// Replicas of the JetStream streams and buckets (3 in production, 1 on a single server).
    #[arg(long, env = "HERALD_NATS_REPLICAS", default_value_t = 1, global = true)]
    pub nats_replicas: usize,

    /// Secret of the default app. If unset on first start, one is generated, stored hashed and printed once.
    #[arg(long, env = "HERALD_APP_SECRET", hide_env_values = true, global = true)]
    pub app_secret: Option<String>,

    /// This process's name among its role's processes (letters, digits, '-', '_'). Default: generated.
    #[arg(long, env = "HERALD_INSTANCE", global = true)]
    pub instance: Option<String>,

    /// Partition lease time-to-live in milliseconds: a dead sequencer's or delivery worker's partitions move after at most this.
    #[arg(long, env = "HERALD_LEASE_TTL_MS", default_value_t = 5000, global = true)]
    pub lease_ttl_ms: u64,

    /// Lifetime of client tokens minted by /inner/get_token, in seconds.
    #[arg(long, env = "HERALD_TOKEN_TTL_SECS", default_value_t = 7 * 24 * 3600, global = true)]
    pub token_ttl_secs: u64,

    /// How long a send waits for the sequencer before the client is told to retry, in milliseconds.
    #[arg(long, env = "HERALD_ACK_TIMEOUT_MS", default_value_t = 10_000, global = true)]
    pub ack_timeout_ms: u64,

    /// Largest HTTP request body, in bytes (larger: 413).
    #[arg(long, env = "HERALD_MAX_BODY_BYTES", default_value_t = 64 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Largest message content, in bytes (larger: 413 / code 10007).
    #[arg(long, env = "HERALD_MAX_CONTENT_BYTES", default_value_t = 32 * 1024, global = true)]
    pub max_content_bytes: usize,

    /// Frames queued per connection; a connection that falls this far behind is closed (code 1008).
    #[arg(long, env = "HERALD_OUTBOUND_QUEUE", default_value_t = 1024, global = true)]
    pub outbound_queue: usize,

    /// Bytes queued per connection (and kept per long-poll mailbox); a connection that falls this far
    /// behind is closed (code 1008), a mailbox drops its oldest events. Larger than the largest reply (a 1 MiB sync page).
    #[arg(long, env = "HERALD_OUTBOUND_QUEUE_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..), global = true)]
    pub outbound_queue_bytes: u64,

    /// Sends waiting for the sequencer at once per gateway; past it, sends are answered 503 / 10010.
    #[arg(long, env = "HERALD_MAX_PENDING", default_value_t = 65_536, global = true)]
    pub max_pending: usize,

    /// Run the webhook dispatcher (protocol §10) beside delivery. On NATS it reads the events log a
    /// second time (embedded, the sequencer queues the jobs with each batch); a deployment whose
    /// apps register no webhook endpoints may turn it off (`false`) and save that work. Events
    /// made while it is off never reach endpoints.
    #[arg(long, env = "HERALD_WEBHOOKS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub webhooks: bool,

    /// Serve the browser pages: the chat web app at `/app/` and the console at `/console-ui/`
    /// (built into the binary). `false` leaves them out, for deployments that only want the API.
    #[arg(long, env = "HERALD_WEB_UI", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub web_ui: bool,

    /// Serve the browser pages from this directory (laid out like `clients/web/dist`) instead of
    /// the copy built into the binary, read on every request: for working on the pages.
    #[arg(long, env = "HERALD_WEB_DIR", global = true)]
    pub web_dir: Option<std::path::PathBuf>,

    /// Webhook endpoints and the before-send hook may point at loopback and private addresses.
    /// Off in production (an app could otherwise reach the operator's own network); tests and
    /// development turn it on.
    #[arg(long, env = "HERALD_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, global = true)]
    pub webhook_allow_private: bool,

    /// Delay before a failed webhook request's first retry, in milliseconds; each next one
    /// doubles (with jitter), up to an hour.
    #[arg(long, env = "HERALD_WEBHOOK_RETRY_BASE_MS", default_value_t = 1000, global = true)]
    pub webhook_retry_base_ms: u64,

    /// A webhook event without a 2xx answer for this long is dead-lettered (default 24 h).
    #[arg(long, env = "HERALD_WEBHOOK_GIVE_UP_SECS", default_value_t = 86_400, global = true)]
    pub webhook_give_up_secs: u64,

    /// Seconds between server pings; a connection silent for three intervals is closed.
    #[arg(long, env = "HERALD_PING_INTERVAL_SECS", default_value_t = 30, global = true)]
    pub ping_interval_secs: u64,

    /// Seconds to finish in-flight work after SIGTERM before exiting.
    #[arg(long, env = "HERALD_DRAIN_GRACE_SECS", default_value_t = 10, global = true)]
    pub drain_grace_secs: u64,

    /// OpenTelemetry: send trace spans to this OTLP/HTTP collector (e.g. http://otel-collector:4318). Off when unset.
    #[arg(long, env = "HERALD_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// OTLP/HTTP encoding of the spans.
    #[arg(long, env = "HERALD_OTLP_PROTOCOL", value_enum, default_value_t = OtlpProtocol::Protobuf, global = true)]
    pub otlp_protocol: OtlpProtocol,

    /// Log format.
    #[arg(long, env = "HERALD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}
