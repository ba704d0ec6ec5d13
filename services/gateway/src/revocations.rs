//! Token revocation on every gateway within seconds: each gateway polls the store's revocation
//! feed (by the store's cursor, never this gateway's clock), refuses revoked tokens from then on
//! and closes the connections that use them. Entries are forgotten once every token they could
//! match has expired.

use crate::Shared;
use crate::auth::now_secs;
use crate::frames::Outbound;
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
    let changed = {
        let mut revoked = shared.auth.revoked.write().unwrap_or_else(|p| p.into_inner());
        // every entry is added (no short circuit); a feed that repeats entries closes nothing twice
        revocations
            .iter()
            .fold(false, |changed, revocation| revoked.add(revocation) | changed)
    };
    if !changed {
        return;
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
    // 0: every revocation not yet expired, then only what the store wrote after
    let mut cursor = 0;
    let mut tick = tokio::time::interval(POLL_EVERY);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match shared.store.revocations_since(cursor, now_secs() as i64).await {
            Ok(feed) => {
                cursor = feed.cursor;
                apply(&shared, &feed.revocations);
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
