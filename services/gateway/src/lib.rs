//! The gateway: holds client connections (`/ws`, `/notify`), serves the HTTP API, publishes
//! commands to the sequencer and writes the deliveries it receives to its connections.

mod accounts;
mod api;
mod app_settings;
pub mod auth;
mod budget;
mod commands;
mod connections;
mod conversations;
mod error;
mod frames;
mod history;
mod hooks;
mod http;
pub mod hub;
mod inbox;
mod kick_policy;
mod mailbox;
mod outbound;
mod passwords;
mod pending;
mod polls;
mod presence;
mod publisher;
mod pushes;
mod ratelimit;
mod revocations;
mod rooms;
mod throttle;

pub use auth::{Auth, Identity, generate_secret, generate_signing_key, hash_secret};
pub use error::{ApiError, ApiResult};
pub use http::web::WebUi;
pub use http::{MetricsRender, metrics_router};

use herald_bus::{Bus, BusError};
use herald_protocol::GatewayId;
use herald_store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// This start's gateway id: the process's name (anything but letters, digits, `-` and `_`
/// replaced) and a nonce drawn at start. A restarted gateway (the same pod name) is a new
/// gateway: replies addressed to its previous life go to an inbox nobody reads, so a lagging
/// sequencer can never complete a new request with an old answer, and the routes the previous
/// life held are withdrawn as a dead gateway's instead of staying online for ever.
pub fn instance_id(name: &str) -> Result<GatewayId, herald_protocol::IdError> {
    let name = name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_', "_");
    GatewayId::parse(format!("{name}-{:08x}", rand::random::<u32>()))
}

/// Limits and timings of a gateway; every one is a documented setting of `herald`.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub id: GatewayId,
    pub token_ttl: Duration,
    /// How long a send waits for the sequencer before it is answered "retry".
    pub ack_timeout: Duration,
    /// Sends waiting for the sequencer at once, per gateway.
    pub max_pending: usize,
    /// Frames queued for one connection before it is closed as a slow reader.
    pub outbound_queue: usize,
    /// Bytes queued for one connection (or kept in one long-poll mailbox) before it is closed
    /// as a slow reader (the mailbox drops its oldest events instead).
    pub outbound_queue_bytes: usize,
    /// Largest HTTP body, in bytes.
    pub max_body_bytes: usize,
    /// Largest message `content`, in bytes.
    pub max_content_bytes: usize,
    /// Server ping interval; a connection silent for three intervals is closed.
    pub ping_interval: Duration,
    /// Connections one session may hold on one gateway.
    pub max_connections_per_session: usize,
    /// Webhook endpoints and hooks may point at loopback and private addresses (tests, development).
    pub webhook_allow_private: bool,
    /// Where the browser pages (`/app/`, `/console-ui/`) come from, or off.
    pub web_ui: http::web::WebUi,
}

impl GatewayConfig {
    pub fn new(id: GatewayId) -> Self {
        Self {
            id,
            token_ttl: Duration::from_secs(7 * 24 * 3600),
            ack_timeout: Duration::from_secs(10),
            max_pending: 65_536,
            outbound_queue: 1024,
            outbound_queue_bytes: 4 * 1024 * 1024,
            max_body_bytes: 64 * 1024,
            max_content_bytes: 32 * 1024,
            ping_interval: Duration::from_secs(30),
            max_connections_per_session: 16,
            webhook_allow_private: false,
            web_ui: http::web::WebUi::Embedded,
        }
    }
}

pub(crate) struct Shared {
    pub config: GatewayConfig,
    pub probes: http::Probes,
    /// The client operations (`api/`), which hold their own narrow handles.
    pub api: api::Api,
    pub auth: Arc<Auth>,
    pub pending: Arc<pending::Pending>,
    pub accounts: accounts::Accounts,
    /// Client connections: `/ws` and `/notify`.
    pub connections: connections::Connections,
}

impl Shared {
    /// Builds every handle once, each from the parts it needs; the presence tracker is returned
    /// beside them (it runs on its own).
    fn assemble(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        config: GatewayConfig,
        routes: Arc<herald_bus::RouteTable>,
        console_key: Vec<u8>,
        shutdown: CancellationToken,
    ) -> (Self, presence::Tracker) {
        let pending = Arc::new(pending::Pending::new(config.max_pending));
        let publisher = publisher::Publisher::start(bus.clone(), store.clone(), pending.clone());
        let auth = Arc::new(Auth::new(store.clone(), config.token_ttl, console_key));
        let hub = Arc::new(hub::Hub::new(
            config.id.clone(),
            bus.clone(),
            config.max_connections_per_session,
        ));
        let pushes = pushes::Pushes::new(config.id.clone(), hub.clone(), routes.clone(), bus.clone());
        let hooks = hooks::Hooks::new(store.clone(), bus.partitions(), config.webhook_allow_private);
        let api = api::Api::new(api::ApiParts {
            store: store.clone(),
            auth: auth.clone(),
            commands: commands::Commands::new(config.id.clone(), pending.clone(), publisher),
            pushes: pushes.clone(),
            limiter: Arc::new(ratelimit::SendLimiter::default()),
            routes: routes.clone(),
            max_content_bytes: config.max_content_bytes,
            hooks: hooks.clone(),
        });
        let tracker = presence::Tracker {
            gateway: config.id.clone(),
            bus: bus.clone(),
            hub: hub.clone(),
            routes: routes.clone(),
            social: store.clone(),
            pushes,
            hooks,
            shutdown: shutdown.clone(),
        };
        let kicker = kick_policy::Kicker {
            gateway: config.id.clone(),
            hub: hub.clone(),
            routes: routes.clone(),
            bus: bus.clone(),
            accounts: store.clone(),
            token_ttl: config.token_ttl,
        };
        let draining = Arc::new(AtomicBool::new(false));
        let accounts = accounts::Accounts::new(store.clone(), auth.clone(), hub.clone(), config.webhook_allow_private);
        let connections = connections::Connections::new(connections::ConnectionsState {
            hub,
            kicker,
            auth: auth.clone(),
            api: api.clone(),
            rooms: Arc::new(rooms::Rooms::new(bus.clone())),
            mailboxes: Arc::new(polls::PollBoxes::default()),
            limits: connections::ConnLimits::of(&config),
            shutdown,
            draining: draining.clone(),
        });
        let shared = Shared {
            api,
            auth,
            accounts,
            config,
            probes: http::Probes {
                bus,
                directory: store,
                draining,
            },
            pending,
            connections,
        };
        (shared, tracker)
    }
}

impl axum::extract::FromRef<Arc<Shared>> for accounts::Accounts {
    fn from_ref(shared: &Arc<Shared>) -> Self {
        shared.accounts.clone()
    }
}

impl axum::extract::FromRef<Arc<Shared>> for connections::Connections {
    fn from_ref(shared: &Arc<Shared>) -> Self {
        shared.connections.clone()
    }
}

impl axum::extract::FromRef<Arc<Shared>> for api::Api {
    fn from_ref(shared: &Arc<Shared>) -> Self {
        shared.api.clone()
    }
}

/// A started gateway: its router, and a handle to drain it.
pub struct Gateway {
    shared: Arc<Shared>,
}

impl Gateway {
    /// Subscribes to this gateway's inbox and starts its background tasks.
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        config: GatewayConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, BusError> {
        let inbox = bus.gateway_inbox(&config.id).await?;
        let routes = bus.route_table().await?;
        let console_key = store
            .server_key("console-token", &generate_signing_key())
            .await
            .map_err(|e| BusError::Fatal(format!("store: {e}")))?;
        let (shared, tracker) = Shared::assemble(store, bus, config, routes, console_key, shutdown);
        let shared = Arc::new(shared);
        // heartbeat before the first connection, so the presence tracker never takes our routes for a dead gateway's
        let expires = presence::GATEWAY_TTL.as_millis() as u64
            + std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
        presence::beat(&tracker, expires).await?;
        let conns = &shared.connections;
        tokio::spawn(inbox::run(
            shared.pending.clone(),
            conns.hub.clone(),
            conns.kicker.clone(),
            inbox,
        ));
        tokio::spawn(sweep(shared.clone()));
        tokio::spawn(presence::heartbeat(tracker.clone()));
        tokio::spawn(presence::track(tracker));
        tokio::spawn(shared.accounts.revocations.clone().run(conns.shutdown.clone()));
        tokio::task::spawn_blocking(passwords::dummy_hash);
        Ok(Self { shared })
    }

    pub fn router(&self) -> axum::Router {
        http::router(self.shared.clone())
    }

    /// `/healthz` and `/readyz` only: what an admin address serves beside `/metrics`.
    pub fn probes_router(&self) -> axum::Router {
        http::probes_router(self.shared.clone())
    }

    /// Stops accepting, and closes every connection with "reconnect elsewhere" (1012).
    pub fn drain(&self) {
        self.shared.connections.draining.store(true, Ordering::SeqCst);
        self.shared.connections.hub.close_all();
    }

    pub fn connection_count(&self) -> usize {
        self.shared.connections.hub.connection_count()
    }

    pub fn auth(&self) -> &Auth {
        &self.shared.auth
    }
}

async fn sweep(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = shared.connections.shutdown.cancelled() => return,
            _ = tick.tick() => {
                shared.pending.expire(shared.config.ack_timeout);
                shared.connections.mailboxes.expire(&shared.connections.hub).await;
            }
        }
    }
}
