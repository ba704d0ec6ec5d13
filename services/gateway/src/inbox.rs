//! This gateway's inbox: acks for waiting requests and delivery batches for its connections.

use crate::Shared;
use bytes::Bytes;
use herald_protocol::bus::GatewayMessage;
use herald_protocol::codec;
use std::sync::Arc;
use tokio::sync::mpsc;

pub async fn run(shared: Arc<Shared>, mut inbox: mpsc::Receiver<Bytes>) {
    while let Some(payload) = inbox.recv().await {
        match codec::decode::<GatewayMessage>(&payload) {
            Ok(GatewayMessage::Acks(acks)) => {
                for ack in acks {
                    shared.pending.complete(ack.request, ack.outcome);
                }
            }
            Ok(GatewayMessage::Deliver(deliveries)) => shared.hub.deliver(&deliveries),
            Ok(GatewayMessage::Kick {
                app,
                session,
                platform,
                except_gateway,
                except_conn,
            }) => crate::login::kick_local(&shared, &app, &session, platform, &except_gateway, except_conn),
            Err(err) => tracing::error!(error = %err, "undecodable gateway message"),
        }
    }
    tracing::warn!("gateway inbox closed");
}
