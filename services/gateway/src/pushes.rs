//! Ephemeral pushes to sessions wherever they are connected (typing, friends, presence): one
//! delivery batch per gateway, through the routing table.

use crate::hub::Hub;
use herald_bus::{Bus, RouteTable};
use herald_protocol::bus::{Delivery, GatewayMessage, Push};
use herald_protocol::{AppId, GatewayId, SessionId};
use std::sync::Arc;

/// What pushing to any session needs: this gateway's hub for its own connections, the routing
/// table and the bus for the others'.
#[derive(Clone)]
pub struct Pushes {
    gateway: GatewayId,
    hub: Arc<Hub>,
    routes: Arc<RouteTable>,
    bus: Arc<dyn Bus>,
}

impl Pushes {
    pub fn new(gateway: GatewayId, hub: Arc<Hub>, routes: Arc<RouteTable>, bus: Arc<dyn Bus>) -> Self {
        Self {
            gateway,
            hub,
            routes,
            bus,
        }
    }

    /// Whether the session has a connection on this gateway, however recently it connected.
    pub fn connected_here(&self, app: &AppId, session: &SessionId) -> bool {
        self.hub.holds(app, session)
    }

    /// Pushes the frame `json` to every connection of `sessions` (at most once, best effort).
    pub async fn to_sessions(&self, app: &AppId, sessions: &[SessionId], json: String) {
        let push = Push::Frame { json };
        // this gateway's own connections directly: its hub knows them before any routing replica does
        self.hub.deliver(&[Delivery {
            app: app.clone(),
            recipients: sessions.to_vec(),
            push: push.clone(),
            trace: None,
        }]);
        for (gateway, recipients) in self.routes.plan(app, sessions) {
            if gateway == self.gateway {
                continue;
            }
            let deliveries = vec![Delivery {
                app: app.clone(),
                recipients,
                push: push.clone(),
                trace: None,
            }];
            if let Err(err) =
                herald_bus::send_gateway_message(self.bus.as_ref(), &gateway, GatewayMessage::Deliver(deliveries)).await
            {
                tracing::debug!(%gateway, error = %err, "push not sent");
            }
        }
    }
}
