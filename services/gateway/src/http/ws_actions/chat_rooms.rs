//! Ephemeral chat rooms: `chat-conv-join`, `chat-conv-leave`, `chat-msg-im`.

use super::*;

impl ConnCtx {
    fn room_param(p: wire::ConvRef) -> Result<String, ApiError> {
        let room = p.conv_id;
        if room.is_empty() || room.len() > herald_protocol::ids::MAX_ID_LEN {
            return Err(ApiError::bad_input("convId must be 1 to 128 bytes"));
        }
        Ok(room)
    }

    pub(super) async fn chat_join(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
        let room = Self::room_param(p)?;
        {
            let joined = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
            if !joined.contains(&room) && joined.len() >= rooms::MAX_ROOMS_PER_CONNECTION {
                return Err(ApiError::new(
                    ErrorCode::TooLarge,
                    format!(
                        "a connection may be in at most {} chat rooms",
                        rooms::MAX_ROOMS_PER_CONNECTION
                    ),
                ));
            }
        }
        self.rooms_hub
            .join(&self.me.app, &room, self.conn.clone())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "room subscribe failed");
                ApiError::new(ErrorCode::Unavailable, "try again")
            })?;
        self.rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(room.clone());
        Ok(Answer::Now(json!({"convId": room})))
    }

    pub(super) async fn chat_leave(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
        let room = Self::room_param(p)?;
        self.rooms.lock().unwrap_or_else(|e| e.into_inner()).remove(&room);
        self.rooms_hub.leave(&self.me.app, &room, self.conn.id).await;
        Ok(Answer::Now(json!({"convId": room})))
    }

    pub(super) async fn chat_msg(&self, p: wire::ChatMsg, data: wire::ChatData) -> Result<Answer, ApiError> {
        if data.content.len() > self.max_content_bytes {
            return Err(ApiError::new(ErrorCode::TooLarge, "content too large"));
        }
        if !self
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&p.conv_id)
        {
            return Err(ApiError::new(ErrorCode::NotMember, "join the chat room first"));
        }
        let frame = rooms::chat_push(
            &p.conv_id,
            p.msg_key.as_deref(),
            self.me.session.as_str(),
            msg_type(&data.msg_type)?,
            &data.content,
        );
        self.rooms_hub
            .publish(&self.me.app, &p.conv_id, frame)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "room publish failed");
                ApiError::new(ErrorCode::Unavailable, "try again")
            })?;
        Ok(Answer::Now(json!({"convId": p.conv_id, "msgKey": p.msg_key})))
    }

    pub async fn leave_rooms(&self) {
        let joined: Vec<String> = self.rooms.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        for room in joined {
            self.rooms_hub.leave(&self.me.app, &room, self.conn.id).await;
        }
    }
}
