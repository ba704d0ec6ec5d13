//! Ephemeral pushes to sessions wherever they are connected (typing, friends, presence): one
//! delivery batch per gateway, through the routing table.

use crate::Shared;
use herald_protocol::bus::{Delivery, GatewayMessage, Push};
use herald_protocol::{AppId, SessionId};

/// Pushes the frame `json` to every connection of `sessions` (at most once, best effort).
pub async fn push_to_sessions(shared: &Shared, app: &AppId, sessions: &[SessionId], json: String) {
    let push = Push::Frame { json };
    // this gateway's own connections directly: its hub knows them before any routing replica does
    shared.hub.deliver(&[Delivery {
        app: app.clone(),
        recipients: sessions.to_vec(),
        push: push.clone(),
        trace: None,
    }]);
    for (gateway, recipients) in shared.routes.plan(app, sessions) {
        if gateway == shared.config.id {
            continue;
        }
        let deliveries = vec![Delivery {
            app: app.clone(),
            recipients,
            push: push.clone(),
            trace: None,
        }];
        if let Err(err) =
            herald_bus::send_gateway_message(shared.bus.as_ref(), &gateway, GatewayMessage::Deliver(deliveries)).await
        {
            tracing::debug!(%gateway, error = %err, "push not sent");
        }
    }
}
