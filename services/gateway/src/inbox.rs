//! This gateway's inbox: acks for waiting requests and delivery batches for its connections.

use crate::hub::Hub;
use crate::kick_policy::Kicker;
use crate::pending::Pending;
use herald_bus::Payload;
use herald_protocol::bus::GatewayMessage;
use std::sync::Arc;
use tokio::sync::mpsc;

pub async fn run(pending: Arc<Pending>, hub: Arc<Hub>, kicker: Kicker, mut inbox: mpsc::Receiver<Payload>) {
    while let Some(payload) = inbox.recv().await {
        match payload.decode::<GatewayMessage>() {
            Ok(GatewayMessage::Acks(acks)) => {
                for ack in acks {
                    pending.complete(ack.request, ack.outcome);
                }
            }
            Ok(GatewayMessage::Deliver(deliveries)) => {
                if deliveries.iter().all(|d| d.trace.is_none()) {
                    hub.deliver(&deliveries);
                } else {
                    for delivery in &deliveries {
                        let span = tracing::info_span!("gateway.write", recipients = delivery.recipients.len());
                        herald_bus::trace::continue_trace(&span, delivery.trace.as_deref());
                        span.in_scope(|| hub.deliver(std::slice::from_ref(delivery)));
                    }
                }
            }
            Ok(GatewayMessage::Kick {
                app,
                session,
                platform,
                except_gateway,
                except_conn,
            }) => kicker.kick_local(&app, &session, platform, &except_gateway, except_conn),
            Err(err) => tracing::error!(error = %err, "undecodable gateway message"),
        }
    }
    tracing::warn!("gateway inbox closed");
}
