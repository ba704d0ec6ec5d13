//! The command publisher handle: commands from HTTP routes and `/ws` actions alike are given a
//! waiter, queued for the sequencer, and answered by its ack, a failure here, or the ack timeout.

use crate::Identity;
use crate::error::ApiError;
use crate::pending::{Outcome, Pending, Waiter};
use crate::publisher::Publisher;
use herald_protocol::bus::{Action, Command, ReplyTo};
use herald_protocol::{ConvId, ErrorCode, GatewayId};
use std::sync::Arc;

/// Longest accepted client idempotency key, in bytes.
pub const MAX_CLIENT_KEY_BYTES: usize = 128;

pub fn command(identity: &Identity, conv: ConvId, action: Action) -> Command {
    Command {
        app: identity.app.clone(),
        conv,
        reply_to: None,
        action,
    }
}

/// Queues commands for the sequencer and registers who waits for each answer.
#[derive(Clone)]
pub struct Commands {
    gateway: GatewayId,
    pending: Arc<Pending>,
    publisher: Publisher,
}

impl Commands {
    pub fn new(gateway: GatewayId, pending: Arc<Pending>, publisher: Publisher) -> Self {
        Self {
            gateway,
            pending,
            publisher,
        }
    }

    /// Registers `waiter` and queues the command; the waiter is answered by the sequencer's ack,
    /// a failure here, or the ack timeout.
    #[tracing::instrument(name = "gateway.command", skip_all, fields(kind = command.kind(), conv = %command.conv))]
    pub async fn submit(&self, mut command: Command, waiter: Waiter) -> Result<(), ApiError> {
        let request = self.pending.insert(waiter)?;
        command.reply_to = Some(ReplyTo {
            gateway: self.gateway.clone(),
            request,
        });
        commands_in(command.kind()).increment(1);
        let trace = herald_bus::trace::current_traceparent();
        if let Err(err) = self.publisher.publish(command, request, trace).await {
            self.pending.complete(request, Err(err));
        }
        Ok(())
    }

    /// Submits and waits for the outcome (HTTP routes).
    pub async fn submit_and_wait(&self, command: Command) -> Result<Outcome, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(command, Waiter::Http(tx)).await?;
        rx.await
            .map_err(|_| ApiError::new(ErrorCode::Unavailable, "gateway shutting down, retry"))
    }
}

/// `herald_commands_in_total` of each kind of command, resolved once (registering the labelled
/// counter on every command was a registry lookup per message).
fn commands_in(kind: &'static str) -> &'static metrics::Counter {
    static COUNTERS: std::sync::LazyLock<Vec<(&'static str, metrics::Counter)>> = std::sync::LazyLock::new(|| {
        Command::KINDS
            .iter()
            .map(|&kind| (kind, metrics::counter!("herald_commands_in_total", "kind" => kind)))
            .collect()
    });
    static NONE: metrics::Counter = metrics::Counter::noop();
    COUNTERS
        .iter()
        .find(|(known, _)| *known == kind)
        .map_or(&NONE, |(_, counter)| counter)
}
