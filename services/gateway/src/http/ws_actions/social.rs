//! Between sessions: `typing`, the friend actions and `presence-query`.

use super::*;

impl ConnCtx {
    pub(super) async fn typing(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        convs::require_member(&self.shared, &self.me, &conv).await?;
        let (app, session) = (&self.me.app, &self.me.session);
        if self
            .shared
            .limiter
            .take_rate(Throttled::Typing, app, session, TYPING_RATE)
            .is_err()
        {
            // coalesced: the members already see this session typing
            return Ok(Answer::Now(json!({"convId": conv})));
        }
        let members = self.shared.store.members(&self.me.app, &conv).await?;
        let others: Vec<SessionId> = members.into_iter().filter(|m| *m != self.me.session).collect();
        let frame = wire::push("typing", None, json!({"convId": conv, "linkKey": self.me.session}));
        push_to_sessions(&self.shared, &self.me.app, &others, frame).await;
        Ok(Answer::Now(json!({"convId": conv})))
    }

    pub(super) async fn friend_request(&self, p: wire::FriendRequest) -> Result<Answer, ApiError> {
        let to = SessionId::parse(p.link_key)?;
        if to == self.me.session {
            return Err(ApiError::bad_input("a session cannot befriend itself"));
        }
        // an information that is not text counts as none
        let information = p.information.as_text().unwrap_or_default().to_owned();
        if information.len() > 1024 {
            return Err(ApiError::new(ErrorCode::TooLarge, "information is at most 1024 bytes"));
        }
        let (app, session) = (&self.me.app, &self.me.session);
        if let Err(retry_after) =
            self.shared
                .limiter
                .take_rate(Throttled::FriendRequests, app, session, FRIEND_REQUEST_RATE)
        {
            return Err(ApiError::rate_limited(
                format!("too many friend requests: retry in {retry_after} s"),
                retry_after,
            ));
        }
        if self
            .shared
            .store
            .are_friends(&self.me.app, &self.me.session, &to)
            .await?
        {
            return Err(ApiError::new(ErrorCode::Conflict, "already friends"));
        }
        let request = herald_store::FriendRequest {
            app: self.me.app.clone(),
            from: self.me.session.clone(),
            to: to.clone(),
            information: information.clone(),
            created_at: timefmt::now_nanos(),
        };
        self.shared.store.put_friend_request(&request).await?;
        let frame = wire::push(
            "friend-request",
            Some(wire::code::FRIEND_REQUEST),
            json!({"linkKey": self.me.session, "information": information}),
        );
        push_to_sessions(&self.shared, &self.me.app, std::slice::from_ref(&to), frame).await;
        Ok(Answer::Now(json!({"linkKey": to})))
    }

    pub(super) async fn friend_respond(&self, p: wire::FriendRespond) -> Result<Answer, ApiError> {
        let from = SessionId::parse(p.link_key)?;
        let accept = p
            .accept
            .as_bool()
            .ok_or_else(|| ApiError::bad_input("accept must be true or false"))?;
        let taken = self
            .shared
            .store
            .take_friend_request(&self.me.app, &from, &self.me.session)
            .await?;
        if taken.is_none() {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "no pending friend request from this session",
            ));
        }
        if accept {
            let now = timefmt::now_nanos();
            self.shared
                .store
                .set_friends(&self.me.app, &from, &self.me.session, true, now)
                .await?;
        }
        let (code, action) = if accept {
            (wire::code::FRIEND_ACCEPTED, "friend-accepted")
        } else {
            (wire::code::FRIEND_REJECTED, "friend-rejected")
        };
        let frame = wire::push(
            action,
            Some(code),
            json!({"linkKey": self.me.session, "accept": accept}),
        );
        push_to_sessions(&self.shared, &self.me.app, std::slice::from_ref(&from), frame).await;
        Ok(Answer::Now(json!({"linkKey": from, "accept": accept})))
    }

    /// In session order; a list past the reply budget comes in pages: `hasMore`, and `after` (the
    /// last session received) continues.
    pub(super) async fn friend_list(&self, p: wire::FriendList) -> Result<Answer, ApiError> {
        let mut friends = self.shared.store.friends_of(&self.me.app, &self.me.session).await?;
        friends.sort();
        if let Some(after) = p.after {
            friends.retain(|friend| friend.as_str() > after.as_str());
        }
        let mut budget = Budget::reply(friends.len());
        let has_more = budget::keep_first(&mut friends, &mut budget);
        Ok(Answer::Now(json!({"friends": friends, "hasMore": has_more})))
    }

    pub(super) async fn friend_delete(&self, p: wire::LinkRef) -> Result<Answer, ApiError> {
        let other = SessionId::parse(p.link_key)?;
        let now = timefmt::now_nanos();
        self.shared
            .store
            .set_friends(&self.me.app, &self.me.session, &other, false, now)
            .await?;
        Ok(Answer::Now(json!({"linkKey": other})))
    }

    pub(super) async fn presence_query(&self, query: wire::PresenceQuery) -> Result<Answer, ApiError> {
        if query.link_keys.len() > 1000 {
            return Err(ApiError::new(ErrorCode::TooLarge, "at most 1000 linkKeys per query"));
        }
        let sessions = sessions(query.link_keys)?;
        let online = self.shared.routes.plan(&self.me.app, &sessions);
        let online: HashSet<&SessionId> = online.values().flatten().collect();
        let presence: serde_json::Map<String, Value> = sessions
            .iter()
            .map(|s| (s.to_string(), Value::Bool(online.contains(s))))
            .collect();
        Ok(Answer::Now(json!({"presence": presence})))
    }
}
