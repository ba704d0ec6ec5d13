//! The per-app login policy: with `kick`, a new connection of a (session, platform) closes the
//! older ones, on every gateway, each after a kickout push.

use crate::Shared;
use crate::hub::{Conn, Outbound};
use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use herald_protocol::bus::GatewayMessage;
use herald_protocol::{AppId, GatewayId, Platform, SessionId, codec, ws};
use serde_json::json;

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

/// Kicks the older connections of (app, session, platform) here and on every other gateway
/// that holds the session.
pub async fn kick_others(shared: &Shared, app: &AppId, session: &SessionId, platform: Platform, new_conn: u64) {
    kick_local(shared, app, session, platform, &shared.config.id, new_conn);
    let message = GatewayMessage::Kick {
        app: app.clone(),
        session: session.clone(),
        platform,
        except_gateway: shared.config.id.clone(),
        except_conn: new_conn,
    };
    let payload = Bytes::from(codec::encode(&message).expect("kick encodes"));
    let plan = shared.routes.plan(app, std::iter::once(session));
    for gateway in plan.keys().filter(|g| **g != shared.config.id) {
        if let Err(err) = shared.bus.send_to_gateway(gateway, payload.clone()).await {
            tracing::warn!(%gateway, error = %err, "could not forward kickout");
        }
    }
}

pub fn kick_local(
    shared: &Shared,
    app: &AppId,
    session: &SessionId,
    platform: Platform,
    except_gateway: &GatewayId,
    except_conn: u64,
) {
    let spare = |conn: &Conn| *except_gateway == shared.config.id && conn.id == except_conn;
    let frame = kickout_frame(platform);
    let close = Outbound::Close {
        code: CLOSE_KICKED,
        reason: "kicked: logged in elsewhere",
    };
    shared
        .hub
        .send_to_session(app, session, &frame, |c| c.platform == platform && !spare(c));
    shared
        .hub
        .send_to_session(app, session, &close, |c| c.platform == platform && !spare(c));
    metrics::counter!("herald_kickouts_total").increment(1);
}
