//! The `herald` binary's library: settings, bootstrap, and starting each role (or all of them).

pub mod bootstrap;
pub mod catalogue;
mod inline_webhooks;
pub mod settings;
mod telemetry;

pub use settings::{Cli, LogFormat, OtlpProtocol, Role, Settings};
pub use telemetry::init_tracing;

use anyhow::{Context, bail};
use herald_bus::Bus;
use herald_bus::inproc::InprocBus;
use herald_bus::nats::{NatsAuth, NatsBus, NatsConfig, NatsTls, redact_url};
use herald_delivery::DeliveryConfig;
use herald_gateway::{Gateway, GatewayConfig};
use herald_sequencer::SequencerConfig;
use herald_store::Store;
use herald_store::scylla::{ScyllaConfig, ScyllaStore};
use herald_store::sqlite::SqliteStore;
use herald_webhooks::WebhooksConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A started process: where it listens, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` are served when HERALD_ADMIN_ADDR is set.
    pub admin_addr: Option<SocketAddr>,
    /// A secret generated at first start, to show once.
    pub generated_secret: Option<String>,
    shutdown: CancellationToken,
    gateway: Option<Arc<Gateway>>,
    tasks: Vec<JoinHandle<()>>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    grace: Duration,
}

impl Running {
    /// Client connections this process's gateway holds (none without a gateway).
    pub fn connection_count(&self) -> usize {
        self.gateway.as_ref().map_or(0, |gateway| gateway.connection_count())
    }

    /// Graceful drain: stop accepting, tell clients to reconnect, release partitions, finish.
    pub async fn stop(self) {
        if let Some(gateway) = &self.gateway {
            gateway.drain();
        }
        self.shutdown.cancel();
        let tasks = async {
            for task in self.tasks {
                let _ = task.await;
            }
            for server in self.servers {
                let _ = server.await;
            }
        };
        if tokio::time::timeout(self.grace, tasks).await.is_err() {
            tracing::warn!("drain grace period ran out");
        }
    }
}

fn instance_name(settings: &Settings, role: &str) -> String {
    settings
        .instance
        .clone()
        .unwrap_or_else(|| format!("{role}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]))
}

async fn connect_bus(settings: &Settings, role: Role, instance: &str) -> anyhow::Result<Arc<dyn Bus>> {
    match (&settings.nats_url, role) {
        (Some(url), _) => {
            let config = nats_config(settings, url, role, instance);
            let bus = NatsBus::connect(&config)
                .await
                .with_context(|| format!("NATS at {}", redact_url(url)))?;
            Ok(Arc::new(bus))
        }
        (None, Role::Up) => {
            // delivery is the one reader: webhooks are queued by the sequencer (`inline_webhooks`)
            Ok(Arc::new(
                InprocBus::new(settings.partitions).with_event_readers(&[herald_delivery::ROLE]),
            ))
        }
        (None, _) => bail!("`herald {role:?}` runs one role of a cluster: set HERALD_NATS_URL (or use `herald up`)"),
    }
}

/// The NATS connection of one role: credentials, TLS, and reply subjects of its own
/// (`_INBOX_<role>`, which the per-role users of `nats/` may read; `herald up` keeps `_INBOX`).
fn nats_config(settings: &Settings, url: &str, role: Role, instance: &str) -> NatsConfig {
    let mut config = NatsConfig::new(url, settings.partitions);
    config.replicas = settings.nats_replicas;
    config.name = format!("herald-{instance}");
    config.auth = match (&settings.nats_creds, &settings.nats_user, &settings.nats_password) {
        (Some(creds), _, _) => NatsAuth::CredsFile(creds.clone()),
        (None, Some(user), Some(password)) => NatsAuth::UserPassword {
            user: user.clone(),
            password: password.clone(),
        },
        _ => NatsAuth::None,
    };
    config.tls = NatsTls {
        required: settings.nats_tls_required,
        ca_file: settings.nats_tls_ca.clone(),
    };
    if role != Role::Up {
        config.inbox_prefix = Some(format!("_INBOX_{}", format!("{role:?}").to_lowercase()));
    }
    config
}

/// The ScyllaDB settings, when `HERALD_SCYLLA_NODES` names a cluster.
pub fn scylla_config(settings: &Settings) -> Option<ScyllaConfig> {
    let nodes = ScyllaConfig::parse_nodes(settings.scylla_nodes.as_deref()?);
    let mut config = ScyllaConfig::new(nodes, settings.scylla_keyspace.clone());
    config.replication_factor = settings.scylla_replication;
    config.tablets = settings.scylla_tablets;
    config.local_datacenter = settings.scylla_datacenter.clone();
    config.username = settings.scylla_username.clone();
    config.password = settings.scylla_password.clone();
    config.request_timeout = Duration::from_millis(settings.scylla_timeout_ms.max(1));
    config.concurrency = settings.scylla_concurrency as usize;
    Some(config)
}

/// `sole_writer`: no other process writes messages to the SQLite file (the embedded `herald up`,
/// whose in-process bus cannot span processes), so it may keep the newest messages in memory.
async fn open_store(settings: &Settings, sole_writer: bool) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(config) = scylla_config(settings) {
        let store = ScyllaStore::open(&config).await.with_context(|| {
            format!(
                "open ScyllaDB store (keyspace {}) at {}",
                config.keyspace,
                config.nodes.join(",")
            )
        })?;
        return Ok(Arc::new(store));
    }
    let store = if sole_writer {
        SqliteStore::open_sole_writer(&settings.data_dir).await
    } else {
        SqliteStore::open(&settings.data_dir).await
    };
    let store = store.with_context(|| format!("open store in {}", settings.data_dir.display()))?;
    Ok(Arc::new(store))
}

/// `herald migrate`: applies pending schema migrations and says what it did.
pub async fn migrate(settings: &Settings) -> anyhow::Result<String> {
    let Some(config) = scylla_config(settings) else {
        // SQLite migrates when it opens
        SqliteStore::open(&settings.data_dir)
            .await
            .with_context(|| format!("open store in {}", settings.data_dir.display()))?;
        return Ok(format!("SQLite store in {} is up to date", settings.data_dir.display()));
    };
    let applied = herald_store::scylla::migrate(&config).await.with_context(|| {
        format!(
            "migrate ScyllaDB keyspace {} at {}",
            config.keyspace,
            config.nodes.join(",")
        )
    })?;
    Ok(match applied.as_slice() {
        [] => format!("ScyllaDB keyspace {} is up to date", config.keyspace),
        versions => format!(
            "ScyllaDB keyspace {}: applied migrations {}",
            config.keyspace,
            versions
                .iter()
                .map(|v| format!("{v:03}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// A gateway's limits and timings from the settings.
fn gateway_config(settings: &Settings, instance: &str) -> anyhow::Result<GatewayConfig> {
    let mut config = GatewayConfig::new(herald_gateway::instance_id(instance)?);
    config.token_ttl = Duration::from_secs(settings.token_ttl_secs);
    config.ack_timeout = Duration::from_millis(settings.ack_timeout_ms);
    config.max_pending = settings.max_pending;
    config.outbound_queue = settings.outbound_queue;
    config.outbound_queue_bytes = usize::try_from(settings.outbound_queue_bytes).unwrap_or(usize::MAX);
    config.max_body_bytes = settings.max_body_bytes;
    config.max_content_bytes = settings.max_content_bytes;
    config.ping_interval = Duration::from_secs(settings.ping_interval_secs.max(1));
    config.webhook_allow_private = settings.webhook_allow_private;
    config.web_ui = match (&settings.web_dir, settings.web_ui) {
        (_, false) => herald_gateway::WebUi::Off,
        (Some(dir), true) => herald_gateway::WebUi::Dir(dir.clone()),
        (None, true) => herald_gateway::WebUi::Embedded,
    };
    Ok(config)
}

/// The webhook role's settings (it runs beside delivery: both consume the events log; embedded,
/// the sequencer queues the jobs in its appends instead).
fn webhooks_config(settings: &Settings, instance: &str, lease_ttl: Duration) -> WebhooksConfig {
    let mut config = WebhooksConfig::new(instance);
    config.queue_from_log = settings.nats_url.is_some();
    config.lease_ttl = lease_ttl;
    config.allow_private = settings.webhook_allow_private;
    config.retry = herald_webhooks::Retry {
        base: Duration::from_millis(settings.webhook_retry_base_ms.max(1)),
        max: Duration::from_secs(3600),
        give_up: Duration::from_secs(settings.webhook_give_up_secs),
    };
    config
}

/// Starts the sequencer, delivery and webhook loops this role runs.
async fn spawn_workers(
    store: &Arc<dyn Store>,
    bus: &Arc<dyn Bus>,
    webhooks: Option<WebhooksConfig>,
    instance: &str,
    lease_ttl: Duration,
    runs: impl Fn(Role) -> bool,
    shutdown: &CancellationToken,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    let wakers = Arc::new(herald_webhooks::Wakers::new(bus.partitions()));
    if runs(Role::Sequencer) {
        let mut config = SequencerConfig::new(instance);
        config.lease_ttl = lease_ttl;
        if webhooks.as_ref().is_some_and(|w| !w.queue_from_log) {
            let inline = inline_webhooks::InlineWebhooks::new(store, bus, wakers.clone()).await?;
            config.with_batch = Some(Arc::new(inline));
        }
        let run = herald_sequencer::run(store.clone(), bus.clone(), config, shutdown.clone());
        tasks.push(tokio::spawn(run));
    }
    if runs(Role::Delivery) {
        let mut config = DeliveryConfig::new(instance);
        config.lease_ttl = lease_ttl;
        let run = herald_delivery::run(store.clone(), bus.clone(), config, shutdown.clone());
        tasks.push(tokio::spawn(run));
        if let Some(webhooks) = webhooks {
            let stores = herald_webhooks::Stores {
                directory: store.clone(),
                webhooks: store.clone(),
            };
            let run = herald_webhooks::run(stores, bus.clone(), webhooks, wakers, shutdown.clone());
            tasks.push(tokio::spawn(run));
        }
    }
    Ok(tasks)
}

/// Starts `role` and returns once it listens.
pub async fn start(role: Role, settings: Settings) -> anyhow::Result<Running> {
    herald_webhooks::install_tls_provider();
    if role == Role::Migrate {
        bail!("`herald migrate` runs to completion: call `herald::migrate`");
    }
    let metrics = telemetry::metrics_handle();
    let shutdown = CancellationToken::new();
    let role_name = format!("{role:?}").to_lowercase();
    let instance = instance_name(&settings, &role_name);
    let bus = connect_bus(&settings, role, &instance).await?;
    let lease_ttl = Duration::from_millis(settings.lease_ttl_ms);
    let runs = |r: Role| role == Role::Up || role == r;

    let store = if runs(Role::Gateway) || runs(Role::Sequencer) || runs(Role::Delivery) {
        Some(open_store(&settings, role == Role::Up && settings.nats_url.is_none()).await?)
    } else {
        None
    };
    let mut tasks = Vec::new();
    if let Some(store) = &store {
        let webhooks = settings
            .webhooks
            .then(|| webhooks_config(&settings, &instance, lease_ttl));
        tasks = spawn_workers(store, &bus, webhooks, &instance, lease_ttl, runs, &shutdown).await?;
    }
    let mut generated_secret = None;
    let gateway = if runs(Role::Gateway) {
        let store = store.clone().expect("opened");
        generated_secret = bootstrap::default_app(store.as_ref(), settings.app_secret.as_deref()).await?;
        let config = gateway_config(&settings, &instance)?;
        Some(Arc::new(
            Gateway::start(store, bus.clone(), config, shutdown.clone()).await?,
        ))
    } else {
        None
    };

    let metrics: herald_gateway::MetricsRender = Arc::new(move || metrics.render());
    let mut router = match &gateway {
        Some(gateway) => gateway.router(),
        None => role_router(bus.clone()),
    };
    let mut servers = Vec::new();
    let admin_addr = match settings.admin_addr {
        None => {
            router = router.merge(herald_gateway::metrics_router(metrics));
            None
        }
        Some(admin) => {
            let probes = match &gateway {
                Some(gateway) => gateway.probes_router(),
                None => role_router(bus.clone()),
            };
            let admin_router = probes.merge(herald_gateway::metrics_router(metrics));
            let (addr, server) = serve(admin, admin_router, &shutdown)
                .await
                .with_context(|| format!("admin address {admin}"))?;
            servers.push(server);
            Some(addr)
        }
    };
    let (addr, server) = serve(settings.http_addr, router, &shutdown).await?;
    servers.push(server);
    tracing::info!(%addr, admin = ?admin_addr, role = %role_name, instance = %instance, bus = bus.scope(), "herald started");
    Ok(Running {
        addr,
        admin_addr,
        generated_secret,
        shutdown,
        gateway,
        tasks,
        servers,
        grace: Duration::from_secs(settings.drain_grace_secs),
    })
}

/// Binds `addr` and serves `router` until `shutdown`; returns the bound address.
async fn serve(
    addr: SocketAddr,
    router: axum::Router,
    shutdown: &CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let stop = shutdown.clone();
    // pushes are small and latency-bound: no Nagle delay on client sockets
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(async move {
        // the peer address is what login throttling counts per client (X-Forwarded-For is not trusted)
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    Ok((bound, server))
}

/// `/healthz` and `/readyz` for the roles without the HTTP API.
fn role_router(bus: Arc<dyn Bus>) -> axum::Router {
    use axum::http::StatusCode;
    axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/readyz",
            axum::routing::get(move || {
                let connected = bus.is_connected();
                async move {
                    if connected {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "bus not connected")
                    }
                }
            }),
        )
}
