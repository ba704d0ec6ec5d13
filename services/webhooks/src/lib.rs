//! Webhooks (protocol §10): what happens in an app reaches the app's backend, signed, at least
//! once and in order per conversation, through a durable queue in the store.
//!
//! - `events`: the event types, their bodies, queuing them (`emit`, for the gateway's own events);
//! - `queue`: the jobs of message, recall, member and archive events; `dispatch` queues them off
//!   the events log (clusters), `inline` in the sequencer's own append (embedded);
//! - `sender`: the workers that post due jobs, retry them with backoff, and dead-letter them;
//! - `sign`: the `Herald-Signature` HMAC; `guard`: which destinations are allowed;
//! - `before_send`: the app's synchronous moderation hook.
//!
//! The role `webhooks` leases the events log's partitions like delivery does: the owner of a
//! partition queues its events and sends the jobs of its lanes, so each job has one sender.

pub mod before_send;
pub mod directory;
pub mod dispatch;
pub mod events;
pub mod guard;
pub mod inline;
pub mod queue;
pub mod sender;
pub mod sign;

use herald_bus::consumer::{self, ConsumerSpec};
use herald_bus::ownership::{self, Grant, OwnershipConfig};
use herald_bus::{Bus, Log};
use herald_store::{DirectoryStore, WebhookStore};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use sender::Retry;

/// The role's name: its leases, checkpoints and metrics.
pub const ROLE: &str = "webhooks";
/// Longest wait for an endpoint's answer (protocol §10: 10 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    pub instance: String,
    pub lease_ttl: Duration,
    pub max_batch: usize,
    /// Loopback and private destinations are allowed (tests, development).
    pub allow_private: bool,
    pub retry: Retry,
    /// Queue the events log's events (a cluster's durable log). Off when the sequencer queues
    /// them in its append (`inline`: embedded, whose log does not outlive the process).
    pub queue_from_log: bool,
}

impl WebhooksConfig {
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            lease_ttl: Duration::from_secs(5),
            max_batch: 512,
            allow_private: false,
            retry: Retry::default(),
            queue_from_log: true,
        }
    }
}

/// The HTTP client of webhook requests: no redirects (a redirect could lead inside), bounded
/// waits, and a resolver that keeps private addresses out unless allowed.
pub fn client(allow_private: bool, timeout: Duration) -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .dns_resolver(Arc::new(guard::GuardedResolver { allow_private }))
        .user_agent(concat!("herald-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the webhook client's settings are valid")
}

/// Makes ring the process's TLS crypto provider (as async-nats uses), once. reqwest's rustls
/// (https webhook endpoints) takes the process's provider, and with it every reqwest client of
/// the process (the OTLP exporter's too) must find one: call this before building any.
/// Installing twice is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The store parts the role uses.
#[derive(Clone)]
pub struct Stores {
    pub directory: Arc<dyn DirectoryStore>,
    pub webhooks: Arc<dyn WebhookStore>,
}

/// Wakes a partition's senders when jobs of its lanes are queued (shared with `inline`).
pub struct Wakers(Vec<Arc<tokio::sync::Notify>>);

impl Wakers {
    pub fn new(partitions: u32) -> Self {
        Self((0..partitions.max(1)).map(|_| Arc::default()).collect())
    }

    pub fn of(&self, partition: u32) -> Arc<tokio::sync::Notify> {
        self.0[partition as usize % self.0.len()].clone()
    }

    pub fn wake(&self, partition: u32) {
        self.of(partition).notify_waiters();
    }
}

/// Runs the role until `shutdown`: leases partitions, and for each one queues its events (unless
/// `inline` does) and sends its lanes' jobs.
pub async fn run(
    stores: Stores,
    bus: Arc<dyn Bus>,
    config: WebhooksConfig,
    wakers: Arc<Wakers>,
    shutdown: CancellationToken,
) {
    let ownership_config = OwnershipConfig {
        role: ROLE,
        instance: config.instance.clone(),
        lease_ttl: config.lease_ttl,
        partitions: bus.partitions(),
    };
    let spec = ConsumerSpec {
        role: ROLE,
        log: Log::Events,
        max_batch: config.max_batch,
    };
    let sending = sender::Sending {
        store: stores.webhooks.clone(),
        client: client(config.allow_private, REQUEST_TIMEOUT),
        retry: config.retry,
    };
    let start_bus = bus.clone();
    let views = Arc::new(directory::Directory::new(stores.webhooks.clone()));
    let queue_from_log = config.queue_from_log;
    ownership::run(bus, ownership_config, shutdown, move |grant| {
        let wake = wakers.of(grant.partition);
        let spec = queue_from_log.then_some(spec);
        serve(
            stores.clone(),
            start_bus.clone(),
            sending.clone(),
            views.clone(),
            wake,
            grant,
            spec,
        )
    })
    .await;
}

async fn serve(
    stores: Stores,
    bus: Arc<dyn Bus>,
    sending: sender::Sending,
    views: Arc<directory::Directory>,
    wake: Arc<tokio::sync::Notify>,
    grant: Grant,
    spec: Option<ConsumerSpec>,
) {
    let sender = tokio::spawn(sender::run_partition(
        sending,
        grant.partition,
        wake.clone(),
        grant.cancel.child_token(),
    ));
    let Some(spec) = spec else {
        // the sequencer queues this partition's events (`inline`): only sending is left
        grant.cancel.cancelled().await;
        let _ = sender.await;
        return;
    };
    let mut dispatch = dispatch::Dispatch {
        directory: stores.directory.as_ref(),
        webhooks: stores.webhooks.as_ref(),
        views: views.as_ref(),
        wake: wake.as_ref(),
        bus: bus.as_ref(),
        partition: grant.partition,
        routes: None,
    };
    consumer::consume(bus.as_ref(), spec, &grant, &mut dispatch).await;
    grant.cancel.cancel();
    let _ = sender.await;
}

#[cfg(test)]
mod tests {
    /// The client builds with TLS (https endpoints), in a process that set nothing up first.
    #[test]
    fn the_client_speaks_https() {
        let client = super::client(false, super::REQUEST_TIMEOUT);
        let request = client.post("https://hooks.example.com/herald").build();
        assert!(request.is_ok(), "{request:?}");
    }
}
