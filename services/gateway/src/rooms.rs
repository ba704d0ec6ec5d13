//! Ephemeral chat rooms (`chat-conv-*`): live members only, nothing stored. Each gateway with a
//! member in a room subscribes to the room on the bus and forwards what it hears to its members.

use crate::frames::Outbound;
use crate::hub::Conn;
use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use herald_bus::{Bus, BusError};
use herald_protocol::{AppId, timefmt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// Rooms one connection may be in.
pub const MAX_ROOMS_PER_CONNECTION: usize = 100;

type RoomKey = (AppId, String);

/// A room message as every member hears it, whichever protocol sent it: the native `/ws` push
/// `chat-msg-im` (seed protocols render it in their own shape).
pub fn chat_push(room: &str, msg_key: Option<&str>, from: &str, msg_type: i32, content: &str) -> String {
    let message = serde_json::json!({
        "convId": room,
        "msgKey": msg_key,
        "fromSession": from,
        "msgType": msg_type,
        "content": content,
        "sendTime": timefmt::rfc3339_nanos(timefmt::now_nanos()),
    });
    herald_protocol::ws::push("chat-msg-im", None, &message)
}

struct Room {
    members: Arc<Mutex<Vec<Conn>>>,
    forwarder: JoinHandle<()>,
}

pub struct Rooms {
    bus: Arc<dyn Bus>,
    rooms: tokio::sync::Mutex<HashMap<RoomKey, Room>>,
}

impl Rooms {
    pub fn new(bus: Arc<dyn Bus>) -> Self {
        Self {
            bus,
            rooms: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub async fn join(&self, app: &AppId, room: &str, conn: Conn) -> Result<(), BusError> {
        let mut rooms = self.rooms.lock().await;
        let key = (app.clone(), room.to_owned());
        if let Some(existing) = rooms.get(&key) {
            let mut members = existing.members.lock().unwrap_or_else(|p| p.into_inner());
            if !members.iter().any(|c| c.id == conn.id) {
                members.push(conn);
            }
            return Ok(());
        }
        let mut subscription = self.bus.room_subscribe(app, room).await?;
        let members = Arc::new(Mutex::new(vec![conn]));
        let forward_to = members.clone();
        let forwarder = tokio::spawn(async move {
            while let Some(payload) = subscription.recv().await {
                let Ok(json) = String::from_utf8(payload.to_vec()) else {
                    continue;
                };
                let frame = Outbound::Text {
                    json: Utf8Bytes::from(json),
                    id: None,
                };
                for conn in forward_to.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                    conn.offer(frame.clone());
                }
            }
        });
        rooms.insert(key, Room { members, forwarder });
        metrics::gauge!("herald_chat_rooms").set(rooms.len() as f64);
        Ok(())
    }

    /// Removes a connection from a room; the last local member's leaving unsubscribes.
    pub async fn leave(&self, app: &AppId, room: &str, conn_id: u64) {
        let mut rooms = self.rooms.lock().await;
        let key = (app.clone(), room.to_owned());
        let empty = match rooms.get(&key) {
            Some(room) => {
                let mut members = room.members.lock().unwrap_or_else(|p| p.into_inner());
                members.retain(|c| c.id != conn_id);
                members.is_empty()
            }
            None => false,
        };
        if empty && let Some(room) = rooms.remove(&key) {
            room.forwarder.abort();
        }
        metrics::gauge!("herald_chat_rooms").set(rooms.len() as f64);
    }

    pub async fn publish(&self, app: &AppId, room: &str, frame_json: String) -> Result<(), BusError> {
        self.bus.room_publish(app, room, Bytes::from(frame_json)).await
    }
}
