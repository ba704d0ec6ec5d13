//! The per-app login policy: with `kick`, a new connection of a (session, platform) closes the
//! older ones, on every gateway, each after a kickout push.

use crate::frames::Outbound;
use crate::hub::Conn;
use crate::hub::Hub;
use axum::extract::ws::Utf8Bytes;
use herald_bus::{Bus, Payload, RouteTable};
use herald_protocol::bus::GatewayMessage;
use herald_protocol::{AppId, GatewayId, Platform, SessionId, ws};
use herald_store::AccountStore;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Close code of a kicked connection.
pub const CLOSE_KICKED: u16 = 4001;

fn kickout_frame(platform: Platform) -> Outbound {
    let json = ws::push(
        "kickout",
        None,
        json!({"reason": "logged in on another device", "platform": platform}),
    );
    Outbound::Text {
        json: Utf8Bytes::from(json),
        id: None,
    }
}

/// What the kick policy needs: the connections here, the routes and the bus to reach the
/// other gateways, and the store to revoke the kicked tokens in.
#[derive(Clone)]
pub struct Kicker {
    pub gateway: GatewayId,
    pub hub: Arc<Hub>,
    pub routes: Arc<RouteTable>,
    pub bus: Arc<dyn Bus>,
    pub accounts: Arc<dyn AccountStore>,
    pub token_ttl: Duration,
}

impl Kicker {
    /// Kicks the older connections of (app, session, platform) here and on every other gateway
    /// that holds the session.
    pub async fn kick_others(&self, app: &AppId, session: &SessionId, platform: Platform, new_conn: u64) {
        self.kick_local(app, session, platform, &self.gateway, new_conn);
        let message = GatewayMessage::Kick {
            app: app.clone(),
            session: session.clone(),
            platform,
            except_gateway: self.gateway.clone(),
            except_conn: new_conn,
        };
        let payload = Payload::value(message);
        let plan = self.routes.plan(app, std::iter::once(session));
        for gateway in plan.keys().filter(|g| **g != self.gateway) {
            if let Err(err) = self.bus.send_to_gateway(gateway, payload.clone()).await {
                tracing::warn!(%gateway, error = %err, "could not forward kickout");
            }
        }
    }

    pub fn kick_local(
        &self,
        app: &AppId,
        session: &SessionId,
        platform: Platform,
        except_gateway: &GatewayId,
        except_conn: u64,
    ) {
        let spare = |conn: &Conn| *except_gateway == self.gateway && conn.id == except_conn;
        // the kicked tokens are revoked, so the old device cannot simply reconnect with them
        let mut kicked = Vec::new();
        self.hub.for_each_conn(app, session, |conn| {
            if conn.platform == platform && !spare(conn) {
                kicked.push((conn.jti.clone(), conn.iat));
            }
        });
        let frame = kickout_frame(platform);
        let close = Outbound::Close {
            code: CLOSE_KICKED,
            reason: "kicked: logged in elsewhere",
        };
        self.hub
            .send_to_session(app, session, &frame, |c| c.platform == platform && !spare(c));
        self.hub
            .send_to_session(app, session, &close, |c| c.platform == platform && !spare(c));
        metrics::counter!("herald_kickouts_total").increment(1);
        if kicked.is_empty() {
            return;
        }
        let (store, app, ttl) = (self.accounts.clone(), app.clone(), self.token_ttl);
        let new_jti = self.hub.jti_of(except_conn);
        tokio::spawn(async move {
            for (jti, _) in kicked.into_iter().filter(|(jti, _)| Some(jti) != new_jti.as_ref()) {
                let revocation = herald_store::Revocation {
                    app: app.clone(),
                    kind: herald_store::RevocationKind::Token,
                    key: jti,
                    not_before: 0,
                    expires_at: crate::auth::now_secs() as i64 + ttl.as_secs() as i64 + 1,
                    created_at: herald_protocol::timefmt::now_nanos(),
                };
                if let Err(err) = store.revoke(&revocation).await {
                    tracing::warn!(error = %err, "could not revoke a kicked token");
                }
            }
        });
    }
}
