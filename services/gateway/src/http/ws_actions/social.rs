//! Between sessions: `typing`, the friend actions, `presence-query` and `signal`.

use super::*;

impl ConnCtx {
    pub(super) async fn typing(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        self.api.typing(&self.me, &conv).await?;
        Ok(Answer::Now(json!({"convId": conv})))
    }

    pub(super) async fn friend_request(&self, p: wire::FriendRequest) -> Result<Answer, ApiError> {
        let to = SessionId::parse(p.link_key)?;
        self.api.friend_request(&self.me, to.clone(), &p.information).await?;
        Ok(Answer::Now(json!({"linkKey": to})))
    }

    pub(super) async fn friend_respond(&self, p: wire::FriendRespond) -> Result<Answer, ApiError> {
        let from = SessionId::parse(p.link_key)?;
        let accept = p
            .accept
            .as_bool()
            .ok_or_else(|| ApiError::bad_input("accept must be true or false"))?;
        self.api.friend_respond(&self.me, &from, accept).await?;
        Ok(Answer::Now(json!({"linkKey": from, "accept": accept})))
    }

    pub(super) async fn friend_list(&self, p: wire::FriendList) -> Result<Answer, ApiError> {
        let (friends, has_more) = self.api.friends(&self.me, p.after).await?;
        Ok(Answer::Now(json!({"friends": friends, "hasMore": has_more})))
    }

    /// The requests waiting for this session's answer (made while it was offline too).
    pub(super) async fn friend_pending(&self, p: wire::FriendList) -> Result<Answer, ApiError> {
        let after = p.after.map(SessionId::parse).transpose()?;
        let (requests, has_more) = self.api.pending_friend_requests(&self.me, after.as_ref()).await?;
        let requests: Vec<Value> = requests
            .into_iter()
            // milliseconds: a JSON number a JavaScript client holds exactly (the store keeps nanoseconds)
            .map(|r| json!({"linkKey": r.from, "information": r.information, "createdAt": r.created_at / 1_000_000}))
            .collect();
        Ok(Answer::Now(json!({"requests": requests, "hasMore": has_more})))
    }

    pub(super) async fn friend_delete(&self, p: wire::LinkRef) -> Result<Answer, ApiError> {
        let other = SessionId::parse(p.link_key)?;
        self.api.unfriend(&self.me, &other).await?;
        Ok(Answer::Now(json!({"linkKey": other})))
    }

    pub(super) async fn presence_query(&self, query: wire::PresenceQuery) -> Result<Answer, ApiError> {
        let presence = self.api.presence(&self.me, query.link_keys)?;
        Ok(Answer::Now(json!({"presence": presence})))
    }

    /// Relays a call signal to the addressed sessions' live connections (protocol §10).
    pub(super) async fn signal(&self, p: wire::Signal) -> Result<Answer, ApiError> {
        if !SIGNAL_KINDS.contains(&p.kind.as_str()) {
            return Err(ApiError::bad_input(format!(
                "kind must be one of {}",
                SIGNAL_KINDS.join(", ")
            )));
        }
        if p.call_id.is_empty() || p.call_id.len() > MAX_CALL_ID_BYTES {
            return Err(ApiError::bad_input(format!(
                "callId must be 1 to {MAX_CALL_ID_BYTES} bytes"
            )));
        }
        let to = sessions(p.to)?;
        let call = crate::api::Call {
            kind: &p.kind,
            call_id: Some(&p.call_id),
            data: p.data.unwrap_or(Value::Null),
        };
        self.api.signal(&self.me, &to, call).await?;
        Ok(Answer::Now(json!({"callId": p.call_id, "to": to})))
    }
}
