//! Token revocation on every gateway within seconds: each gateway polls the store for new
//! revocations, refuses revoked tokens from then on and closes the connections that use them.

use crate::Shared;
use crate::auth::now_secs;
use crate::hub::Outbound;
use axum::extract::ws::Utf8Bytes;
use herald_protocol::ws;
use herald_store::Revocation;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How often each gateway looks for new revocations.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// Records a revocation and applies it here at once (other gateways within `POLL_EVERY`).
pub async fn revoke(shared: &Shared, revocation: Revocation) -> Result<(), crate::ApiError> {
    shared.store.revoke(&revocation).await?;
    apply(shared, &[revocation]);
    Ok(())
}

fn apply(shared: &Shared, revocations: &[Revocation]) {
    if revocations.is_empty() {
        return;
    }
    {
        let mut revoked = shared.auth.revoked.write().unwrap_or_else(|p| p.into_inner());
        for revocation in revocations {
            revoked.add(revocation);
        }
    }
    let revoked = shared.auth.revoked.read().unwrap_or_else(|p| p.into_inner());
    let frame = Outbound::Text {
        json: Utf8Bytes::from(ws::push("kickout", None, json!({"reason": "token revoked"}))),
        id: None,
    };
    let closed = shared.hub.close_where(&frame, |app, session, conn| {
        revoked.is_revoked(app, session, &conn.jti, conn.iat)
    });
    if closed > 0 {
        tracing::info!(closed, "closed connections of revoked tokens");
    }
}

pub async fn run(shared: Arc<Shared>) {
    // tokens live at most the token lifetime: older revocations are moot
    let mut since = herald_protocol::timefmt::now_nanos() - shared.auth.token_ttl().as_nanos() as i64;
    let mut tick = tokio::time::interval(POLL_EVERY);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match shared.store.revocations_since(since, now_secs() as i64).await {
            Ok(new) => {
                if let Some(last) = new.last() {
                    since = last.created_at;
                }
                apply(&shared, &new);
                shared
                    .auth
                    .revoked
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .prune(now_secs());
            }
            Err(err) => tracing::warn!(error = %err, "could not read revocations"),
        }
    }
}
