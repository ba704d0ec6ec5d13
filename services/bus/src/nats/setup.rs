//! Connecting to NATS and creating (or checking) Herald's streams and buckets.

use super::pack::{self, Positions};
use super::{CHECKPOINTS_BUCKET, COMMANDS_STREAM, EVENTS_STREAM, LEASES_BUCKET, NatsBus, ROUTES_BUCKET};
use crate::BusError;
use async_nats::jetstream::{self, kv, stream};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::OnceCell;

const PARTITIONS_KEY: &str = "herald.partitions";

/// Limits of one stream; at a limit, new publishes are refused (never silently dropped).
#[derive(Debug, Clone)]
pub struct StreamLimits {
    pub max_age: Duration,
    pub max_bytes: i64,
}

#[derive(Debug, Clone)]
pub struct NatsConfig {
    pub url: String,
    /// Process name shown by the NATS server.
    pub name: String,
    pub partitions: u32,
    /// Stream and bucket replicas (3 in production clusters, 1 on a single server).
    pub replicas: usize,
    pub commands: StreamLimits,
    pub events: StreamLimits,
    /// Publishes in flight per process before publishers wait.
    pub max_ack_inflight: usize,
    /// How this process proves who it is (see `nats/README.md`, "Users and permissions").
    pub auth: NatsAuth,
    /// TLS to the server: required, and the CA to trust beyond the system's roots.
    pub tls: NatsTls,
    /// Prefix of this process's reply subjects (`_INBOX` by default). Per-role users get
    /// `_INBOX_<role>`, so one role cannot read the replies and consumer deliveries of another.
    pub inbox_prefix: Option<String>,
}

/// Credentials for the NATS server; a URL's `user:password@` works too.
#[derive(Clone, Default)]
pub enum NatsAuth {
    #[default]
    None,
    /// A `.creds` file (user JWT and NKey seed), as `nsc` writes them.
    CredsFile(PathBuf),
    UserPassword {
        user: String,
        password: String,
    },
    Token(String),
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatsAuth::None => f.write_str("None"),
            NatsAuth::CredsFile(path) => f.debug_tuple("CredsFile").field(path).finish(),
            NatsAuth::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            NatsAuth::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NatsTls {
    /// Refuse to talk to a server without TLS (`tls://` URLs require it anyway).
    pub required: bool,
    /// PEM file of the CA that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
}

impl NatsConfig {
    pub fn new(url: impl Into<String>, partitions: u32) -> Self {
        Self {
            url: url.into(),
            name: "herald".into(),
            partitions,
            replicas: 1,
            commands: StreamLimits {
                max_age: Duration::from_secs(24 * 3600),
                max_bytes: 1 << 30,
            },
            events: StreamLimits {
                max_age: Duration::from_secs(3600),
                max_bytes: 1 << 30,
            },
            max_ack_inflight: 8192,
            auth: NatsAuth::None,
            tls: NatsTls::default(),
            inbox_prefix: None,
        }
    }
}

fn stream_config(name: &str, subjects: &str, limits: &StreamLimits, config: &NatsConfig) -> stream::Config {
    stream::Config {
        name: name.into(),
        subjects: vec![subjects.into()],
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::New,
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        max_age: limits.max_age,
        max_bytes: limits.max_bytes,
        duplicate_window: Duration::from_secs(120),
        // a stream created now numbers its entries for packs (`nats/pack.rs`)
        metadata: HashMap::from([
            (PARTITIONS_KEY.to_owned(), config.partitions.to_string()),
            (pack::FORMAT_KEY.to_owned(), pack::FORMAT_PACKED.to_owned()),
        ]),
        ..Default::default()
    }
}

/// Creates the stream, or checks the one there (its partitions) and updates its limits; says
/// how it numbers its entries.
async fn ensure_stream(
    js: &jetstream::Context,
    mut wanted: stream::Config,
    partitions: u32,
) -> Result<(jetstream::stream::Stream, Positions), BusError> {
    let name = wanted.name.clone();
    let mut stream = js
        .get_or_create_stream(wanted.clone())
        .await
        .map_err(BusError::unavailable)?;
    let info = stream.info().await.map_err(BusError::unavailable)?;
    match info.config.metadata.get(PARTITIONS_KEY) {
        Some(existing) if existing != &partitions.to_string() => {
            return Err(BusError::fatal(format!(
                "stream {name} was created with {existing} partitions, this process is configured with {partitions}: \
                 partitions cannot change on a live stream"
            )));
        }
        _ => {}
    }
    let positions = match info.config.metadata.get(pack::FORMAT_KEY).map(String::as_str) {
        Some(pack::FORMAT_PACKED) => Positions::Packed,
        Some(other) => {
            return Err(BusError::fatal(format!(
                "stream {name} numbers its entries as {other:?}, which this version does not know: \
                 it was created by a newer Herald"
            )));
        }
        None => {
            tracing::warn!(
                stream = %name,
                "stream created before packed publishing: one message per entry, as before; recreate it \
                 (drained, see nats/README.md) to publish packs"
            );
            Positions::PerMessage
        }
    };
    if info.config.max_age != wanted.max_age
        || info.config.max_bytes != wanted.max_bytes
        || info.config.num_replicas != wanted.num_replicas
    {
        // the metadata stays as the stream has it: its numbering is fixed for its life
        wanted.metadata = info.config.metadata.clone();
        js.update_stream(wanted).await.map_err(BusError::unavailable)?;
        tracing::info!(stream = %name, "updated stream limits");
    }
    let stream = js.get_stream(&name).await.map_err(BusError::unavailable)?;
    Ok((stream, positions))
}

/// How long the leases bucket keeps a key nobody writes. Every live key in it is rewritten
/// within seconds (leases and members every renewal period, gateway heartbeats every second), so
/// only the keys of processes gone for good age out: each start of a gateway writes a new
/// `gw.<name>-<nonce>` key, and without an age they piled up forever, every one listed and read
/// by the presence tracker's scan twice a second. A lease key recreated later gets a higher
/// revision than any before (revisions are stream sequences), so fencing epochs keep rising.
pub const LEASES_MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// Opens a bucket, creating it if it is missing; `max_age` (0: keep keys forever) is set on
/// an existing bucket too, so a deployment created before it gets it on the next start.
async fn ensure_bucket(
    js: &jetstream::Context,
    name: &str,
    replicas: usize,
    max_age: Duration,
) -> Result<kv::Store, BusError> {
    let store = match js.get_key_value(name).await {
        Ok(store) => store,
        Err(_) => {
            return js
                .create_key_value(kv::Config {
                    bucket: name.into(),
                    history: 1,
                    storage: stream::StorageType::File,
                    num_replicas: replicas,
                    max_age,
                    ..Default::default()
                })
                .await
                .map_err(BusError::unavailable);
        }
    };
    let mut config = store.stream.cached_info().config.clone();
    if config.max_age != max_age {
        config.max_age = max_age;
        // the dedupe window may not exceed the age (NATS's own KV default: 2 min at most)
        if !max_age.is_zero() {
            config.duplicate_window = config.duplicate_window.min(max_age);
        }
        // the bucket works without its age (it only keeps dead keys), so a user that may not
        // update it (a users file older than this) is warned about, not refused
        match js.update_stream(config).await {
            Ok(_) => {
                tracing::info!(bucket = name, max_age_s = max_age.as_secs(), "bucket's key age updated");
                return js.get_key_value(name).await.map_err(BusError::unavailable);
            }
            Err(err) => tracing::warn!(
                bucket = name,
                error = %err,
                "could not give the bucket its key age (may this user update it? see nats/users.conf)"
            ),
        }
    }
    Ok(store)
}

/// `nats://a:4222,nats://b:4222`: every server of a cluster, tried in turn. A URL's
/// `user:password@` (or `token@`) is taken out of the address, so that the client library never
/// prints it, and returned as the credentials to use.
fn server_addrs(url: &str) -> Result<(Vec<async_nats::ServerAddr>, NatsAuth), BusError> {
    let mut from_url = NatsAuth::None;
    let mut servers = Vec::new();
    for one in url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let invalid = |e: &dyn std::fmt::Display| BusError::fatal(format!("NATS URL {:?}: {e}", redact_url(one)));
        let addr = one.parse::<async_nats::ServerAddr>().map_err(|e| invalid(&e))?;
        if let Some(user) = addr.username() {
            from_url = match addr.password() {
                Some(password) => NatsAuth::UserPassword {
                    user: user.to_owned(),
                    password: password.to_owned(),
                },
                None => NatsAuth::Token(user.to_owned()),
            };
        }
        let mut bare = addr.into_inner();
        let _ = bare.set_username("");
        let _ = bare.set_password(None);
        servers.push(async_nats::ServerAddr::from_url(bare).map_err(|e| invalid(&e))?);
    }
    Ok((servers, from_url))
}

/// The URL (or comma-separated URLs) with any `user:password@` replaced by `***@`: what logs and
/// errors may show.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let (scheme, rest) = match one.find("://") {
                Some(at) => one.split_at(at + 3),
                None => ("", one),
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
                None => one.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

async fn connect_options(config: &NatsConfig, from_url: NatsAuth) -> Result<async_nats::ConnectOptions, BusError> {
    let auth = match &config.auth {
        NatsAuth::None => &from_url,
        set => set,
    };
    let mut options = match auth {
        NatsAuth::None => async_nats::ConnectOptions::new(),
        NatsAuth::Token(token) => async_nats::ConnectOptions::with_token(token.clone()),
        NatsAuth::CredsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| BusError::fatal(format!("NATS credentials file {}: {e}", path.display())))?,
        NatsAuth::UserPassword { user, password } => {
            async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
        }
    };
    if config.tls.required {
        options = options.require_tls(true);
    }
    if let Some(ca) = &config.tls.ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some(prefix) = &config.inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    Ok(options)
}

/// Longest wait for a JetStream API answer or publish ack.
const JETSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn connect(config: &NatsConfig) -> Result<NatsBus, BusError> {
    let (servers, from_url) = server_addrs(&config.url)?;
    let client = connect_options(config, from_url)
        .await?
        .name(&config.name)
        // a reconnect may first try the hung server it just left: its kernel still accepts the
        // TCP connection, and nothing answers; 2 s (not 5) until the next server is tried
        .connection_timeout(Duration::from_secs(2))
        // a hung server (paused, partitioned) is left after two unanswered pings: 4 to 6 s,
        // not the 2 to 3 minutes of the client's 60 s default, so the process moves to a live node
        .ping_interval(Duration::from_secs(2))
        .event_callback(|event| async move {
            let kind = match &event {
                async_nats::Event::Connected => "connected",
                async_nats::Event::Disconnected => "disconnected",
                async_nats::Event::SlowConsumer(_) => "slow_consumer",
                async_nats::Event::ServerError(_) => "server_error",
                async_nats::Event::ClientError(_) => "client_error",
                _ => "other",
            };
            metrics::counter!("herald_nats_events_total", "event" => kind).increment(1);
            tracing::info!(event = %event, "nats connection event");
        })
        .connect(servers)
        .await
        .map_err(|e| BusError::unavailable(format!("connect to {}: {e}", redact_url(&config.url))))?;
    // bounded waits for JetStream answers: a publish whose ack was lost with a crashed server
    // holds its in-flight permit until `ack_timeout` (30 s by default, stalling every publisher
    // behind it); 5 s answers it "retry" and frees the window soon after the server is back
    let js = jetstream::ContextBuilder::new()
        .timeout(JETSTREAM_TIMEOUT)
        .ack_timeout(JETSTREAM_TIMEOUT)
        .max_ack_inflight(config.max_ack_inflight)
        .backpressure_on_inflight(true)
        .build(client.clone());
    let (commands, commands_positions) = ensure_stream(
        &js,
        stream_config(COMMANDS_STREAM, "herald.cmd.*", &config.commands, config),
        config.partitions,
    )
    .await?;
    let (events, events_positions) = ensure_stream(
        &js,
        stream_config(EVENTS_STREAM, "herald.evt.*", &config.events, config),
        config.partitions,
    )
    .await?;
    let created = commands.cached_info().created.unix_timestamp_nanos();
    Ok(NatsBus {
        leases: ensure_bucket(&js, LEASES_BUCKET, config.replicas, LEASES_MAX_AGE).await?,
        // a checkpoint is written only when its partition moves, and a route while its session
        // is connected: neither may age out
        checkpoints: ensure_bucket(&js, CHECKPOINTS_BUCKET, config.replicas, Duration::ZERO).await?,
        routes: ensure_bucket(&js, ROUTES_BUCKET, config.replicas, Duration::ZERO).await?,
        client,
        js,
        partitions: config.partitions,
        scope: format!("nats-{created:x}"),
        commands,
        events,
        commands_positions,
        events_positions,
        route_table: OnceCell::new(),
        local_inboxes: Default::default(),
        kept: super::kept::Kept::new(super::kept::BUDGET),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_list_names_every_server() {
        assert_eq!(server_addrs("nats://a:4222, nats://b:4223").unwrap().0.len(), 2);
        assert_eq!(server_addrs("nats://127.0.0.1:4222").unwrap().0.len(), 1);
        assert!(server_addrs("nats://a:notaport").is_err());
    }

    #[test]
    fn redacted_urls_keep_no_userinfo() {
        assert_eq!(
            redact_url("nats://u:secretpw@127.0.0.1:4222"),
            "nats://***@127.0.0.1:4222"
        );
        assert_eq!(
            redact_url("nats://a:4222,tls://u:p@w@b:4222"),
            "nats://a:4222,tls://***@b:4222"
        );
        assert_eq!(redact_url("token@host:4222"), "***@host:4222");
        assert_eq!(redact_url("nats://host:4222/x@y"), "nats://host:4222/x@y");
    }

    #[test]
    fn credentials_in_a_url_leave_the_address() {
        let (servers, auth) = server_addrs("nats://gateway:secretpw@127.0.0.1:4222").unwrap();
        assert!(!format!("{:?}", servers[0]).contains("secretpw"));
        assert!(!servers[0].has_user_pass());
        assert!(
            matches!(auth, NatsAuth::UserPassword { user, password } if user == "gateway" && password == "secretpw")
        );
    }

    #[test]
    fn auth_debug_hides_the_password() {
        let auth = NatsAuth::UserPassword {
            user: "gateway".into(),
            password: "secretpw".into(),
        };
        assert!(!format!("{auth:?}").contains("secretpw"));
    }

    #[test]
    fn an_unparsable_url_is_reported_without_its_password() {
        let err = server_addrs("nats://u:secretpw@host:notaport").unwrap_err();
        assert!(!err.to_string().contains("secretpw"), "{err}");
    }
}
