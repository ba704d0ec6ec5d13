//! The connections handle: what `/ws` and `/notify` (sockets, SSE streams, long polls) need to
//! register a connection, serve it and close it, and nothing else of the gateway.

use crate::api::Api;
use crate::auth::Auth;
use crate::hub::Hub;
use crate::kick_policy::Kicker;
use crate::polls::PollBoxes;
use crate::rooms::Rooms;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One connection's limits and timings (settings of `herald`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// Frames queued for one connection before it is closed as a slow reader.
    pub outbound_queue: usize,
    /// Bytes queued for one connection (or kept in one long-poll mailbox).
    pub outbound_queue_bytes: usize,
    /// Server ping interval; a connection silent for three intervals is closed.
    pub ping_interval: Duration,
    /// Largest message `content`, in bytes (for `/ws` sends).
    pub max_content_bytes: usize,
}

impl ConnLimits {
    pub fn of(config: &crate::GatewayConfig) -> Self {
        Self {
            outbound_queue: config.outbound_queue,
            outbound_queue_bytes: config.outbound_queue_bytes,
            ping_interval: config.ping_interval,
            max_content_bytes: config.max_content_bytes,
        }
    }
}

/// Cheap to clone: one pointer, which every connection task keeps.
#[derive(Clone)]
pub(crate) struct Connections(Arc<ConnectionsState>);

impl Connections {
    pub fn new(state: ConnectionsState) -> Self {
        Self(Arc::new(state))
    }
}

impl std::ops::Deref for Connections {
    type Target = ConnectionsState;

    fn deref(&self) -> &ConnectionsState {
        &self.0
    }
}

/// What a [`Connections`] handle shares.
pub(crate) struct ConnectionsState {
    pub hub: Arc<Hub>,
    /// Applies the app's `kick` login policy when a connection registers.
    pub kicker: Kicker,
    /// The app's settings (its login policy) at registration.
    pub auth: Arc<Auth>,
    /// What `/ws` requests call.
    pub api: Api,
    pub rooms: Arc<Rooms>,
    pub mailboxes: Arc<PollBoxes>,
    pub limits: ConnLimits,
    /// Cancelled when the process stops: every connection's close token is a child of it.
    pub shutdown: CancellationToken,
    /// Set while draining: new connections are refused, closing ones told to reconnect elsewhere.
    pub draining: Arc<AtomicBool>,
}

impl ConnectionsState {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Why the server closes a connection it did not choose to: a restart, or a slow reader.
    pub fn stopping(&self) -> bool {
        self.is_draining() || self.shutdown.is_cancelled()
    }
}
