//! Token revocation on every gateway within seconds: each gateway polls the store's revocation
//! feed (by the store's cursor, never this gateway's clock), refuses revoked tokens from then on
//! and closes the connections that use them. Entries are forgotten once every token they could
//! match has expired.

use crate::auth::Auth;
use crate::auth::now_secs;
use crate::frames::Outbound;
use crate::hub::Hub;
use axum::extract::ws::Utf8Bytes;
use herald_protocol::ws;
use herald_store::{AccountStore, Revocation};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often each gateway looks for new revocations.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// What revoking needs: the store's revocation feed, the token checker and the connections.
#[derive(Clone)]
pub struct Revocations {
    pub accounts: Arc<dyn AccountStore>,
    pub auth: Arc<Auth>,
    pub hub: Arc<Hub>,
}

impl Revocations {
    /// Records a revocation and applies it here at once (other gateways within `POLL_EVERY`).
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), crate::ApiError> {
        self.accounts.revoke(&revocation).await?;
        self.apply(&[revocation]);
        Ok(())
    }

    fn apply(&self, revocations: &[Revocation]) {
        let changed = {
            let mut revoked = self.auth.revoked.write().unwrap_or_else(|p| p.into_inner());
            // every entry is added (no short circuit); a feed that repeats entries closes nothing twice
            revocations
                .iter()
                .fold(false, |changed, revocation| revoked.add(revocation) | changed)
        };
        if !changed {
            return;
        }
        let revoked = self.auth.revoked.read().unwrap_or_else(|p| p.into_inner());
        let frame = Outbound::Text {
            json: Utf8Bytes::from(ws::push("kickout", None, json!({"reason": "token revoked"}))),
            id: None,
        };
        let closed = self.hub.close_where(&frame, |app, session, conn| {
            revoked.is_revoked(app, session, &conn.jti, conn.iat)
        });
        if closed > 0 {
            tracing::info!(closed, "closed connections of revoked tokens");
        }
    }

    /// Polls the store's feed until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        // 0: every revocation not yet expired, then only what the store wrote after
        let mut cursor = 0;
        let mut tick = tokio::time::interval(POLL_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.accounts.revocations_since(cursor, now_secs() as i64).await {
                Ok(feed) => {
                    cursor = feed.cursor;
                    self.apply(&feed.revocations);
                    self.auth
                        .revoked
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .prune(now_secs());
                }
                Err(err) => tracing::warn!(error = %err, "could not read revocations"),
            }
        }
    }
}
