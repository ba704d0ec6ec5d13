//! What the gateway's operations need of webhooks (protocol §10): queue the events the gateway
//! makes itself (a conversation created, friend requests and answers), and ask an app's
//! before-send hook about a message.

use crate::error::ApiError;
use herald_protocol::{AppId, ErrorCode};
use herald_store::{AppSettings, WebhookStore};
use herald_webhooks::before_send::{self, Asked, Verdict};
use herald_webhooks::events::Outgoing;
use std::sync::Arc;

#[derive(Clone)]
pub struct Hooks {
    pub store: Arc<dyn WebhookStore>,
    client: reqwest::Client,
    partitions: u32,
    /// Endpoints and hooks may point at loopback and private addresses.
    pub allow_private: bool,
}

impl Hooks {
    pub fn new(store: Arc<dyn WebhookStore>, partitions: u32, allow_private: bool) -> Self {
        Self {
            store,
            // each hook call sets its own, shorter, timeout
            client: herald_webhooks::client(allow_private, herald_webhooks::REQUEST_TIMEOUT),
            partitions,
            allow_private,
        }
    }

    /// Queues events for the endpoints that want them. Best effort: the operation they
    /// describe is done already, so a failure to queue is logged (at warn) and counted.
    pub async fn emit(&self, events: Vec<Outgoing>) {
        if let Err(err) = herald_webhooks::events::emit(self.store.as_ref(), self.partitions, &events).await {
            metrics::counter!("herald_webhook_emit_failures_total").increment(1);
            tracing::warn!(error = %err, events = events.len(), "webhook events not queued");
        }
    }

    /// Asks the app's before-send hook about a message, if it has one: the content to send
    /// (the same, or the hook's replacement), or why it is refused (403 / 10011 by the app;
    /// 503 / 10010 without an answer unless the app chose `fail_open`).
    pub async fn before_send(&self, settings: &AppSettings, asked: &Asked<'_>) -> Result<Option<String>, ApiError> {
        let Some(hook) = &settings.before_send else {
            return Ok(None);
        };
        let secret = self.signing_secret(asked.app).await;
        match before_send::ask(&self.client, hook, secret.as_deref(), asked).await {
            Verdict::Allow => Ok(None),
            Verdict::Replace(content) => Ok(Some(content)),
            Verdict::Reject(reason) => Err(ApiError::new(
                ErrorCode::RefusedByApp,
                if reason.is_empty() {
                    "refused by the app".to_owned()
                } else {
                    format!("refused by the app: {reason}")
                },
            )),
            Verdict::NoAnswer(_) if hook.fail_open => Ok(None),
            Verdict::NoAnswer(why) => {
                tracing::warn!(app = %asked.app, %why, "before-send hook gave no answer; the message is refused");
                Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "the app's before-send hook did not answer; try again",
                ))
            }
        }
    }

    /// The secret a before-send request is signed with: the app's first webhook endpoint's (an
    /// app verifies its hook's requests by registering an endpoint); none without one.
    async fn signing_secret(&self, app: &AppId) -> Option<String> {
        match self.store.endpoints(app).await {
            Ok(endpoints) => endpoints.into_iter().next().map(|e| e.secret),
            Err(err) => {
                tracing::warn!(error = %err, "webhook endpoints not read; the hook call is unsigned");
                None
            }
        }
    }
}
