//! Between sessions: typing, friends and presence.

use super::Api;
use crate::Identity;
use crate::budget::{self, Budget};
use crate::error::ApiError;
use crate::ratelimit::{FRIEND_REQUEST_RATE, SIGNAL_RATE, TYPING_RATE, Throttled};
use herald_protocol::ws::{self as wire, Scalar};
use herald_protocol::{ConvId, ErrorCode, SessionId, timefmt};
use herald_webhooks::events::{FRIEND_ACCEPTED, FRIEND_REJECTED, FRIEND_REQUESTED, Lane, Outgoing};
use serde_json::{Map, Value, json};
use std::collections::HashSet;

/// Pending friend requests per `friend-pending` page.
pub const PENDING_PAGE: usize = 100;

/// Longest friend request `information`, in bytes.
pub const MAX_INFORMATION_BYTES: usize = 1024;
/// Sessions one call signal may address.
pub const MAX_SIGNAL_TARGETS: usize = 100;
/// Sessions one presence query may name.
pub const MAX_PRESENCE_QUERY: usize = 1000;

/// One call signal: its kind, the call it belongs to, and the opaque payload (SDP, ICE, ...).
pub struct Call<'a> {
    pub kind: &'a str,
    pub call_id: Option<&'a str>,
    pub data: Value,
}

impl Api {
    /// Shows the other members that `me` is typing (at most `TYPING_RATE`: more are accepted
    /// but not pushed, the members already see it); members only.
    pub async fn typing(&self, me: &Identity, conv: &ConvId) -> Result<(), ApiError> {
        self.require_member(me, conv).await?;
        if self
            .limiter
            .take_rate(Throttled::Typing, &me.app, &me.session, TYPING_RATE)
            .is_err()
        {
            return Ok(());
        }
        let members = self.directory.members(&me.app, conv).await?;
        let others: Vec<SessionId> = members.into_iter().filter(|m| *m != me.session).collect();
        let frame = wire::push("typing", None, json!({"convId": conv, "linkKey": me.session}));
        self.pushes.to_sessions(&me.app, &others, frame).await;
        Ok(())
    }

    /// Relays a call-signalling frame from `me` to `to`'s live connections, wherever they are;
    /// never stored (protocol §10 `signal`, seed 002's call request; push code 600). The frame
    /// is `{"action":"signal","code":600,"data":{"from", "kind", "callId"?, "data"}}`.
    pub async fn signal(&self, me: &Identity, to: &[SessionId], call: Call<'_>) -> Result<(), ApiError> {
        if to.len() > MAX_SIGNAL_TARGETS {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("a signal is for at most {MAX_SIGNAL_TARGETS} sessions"),
            ));
        }
        if self
            .limiter
            .take_rate(Throttled::Signals, &me.app, &me.session, SIGNAL_RATE)
            .is_err()
        {
            return Err(ApiError::rate_limited("too many call signals: retry in 1 s", 1));
        }
        let mut data = json!({"from": me.session, "kind": call.kind, "data": call.data});
        if let Some(call_id) = call.call_id {
            data["callId"] = Value::from(call_id);
        }
        if call.kind == "invite" {
            self.invite_offline(me, to, &data).await;
        }
        let frame = wire::push("signal", Some(wire::code::CALL_SIGNAL), data);
        self.pushes.to_sessions(&me.app, to, frame).await;
        Ok(())
    }

    /// An invite to sessions with no live connection goes to the app's endpoints as
    /// `offline_push` with `data.signal` (protocol §10), so its backend can ring the phone.
    async fn invite_offline(&self, me: &Identity, to: &[SessionId], signal: &Value) {
        let online: HashSet<SessionId> = self.routes.plan(&me.app, to).into_values().flatten().collect();
        let offline: Vec<&SessionId> = to.iter().filter(|s| !online.contains(*s)).collect();
        if offline.is_empty() {
            return;
        }
        let now = timefmt::now_nanos();
        self.hooks
            .emit(vec![Outgoing {
                app: me.app.clone(),
                id: format!("invite:{}:{now}", me.session),
                kind: herald_webhooks::events::OFFLINE_PUSH,
                lane: Lane::Session(me.session.clone()),
                order: now,
                data: json!({"signal": signal, "recipients": offline}),
                created_at: now,
                trace: herald_bus::trace::current_traceparent(),
            }])
            .await;
    }

    /// Asks `to` to be friends; `to` gets a `friend-request` push. An `information` that is not
    /// text counts as none.
    pub async fn friend_request(&self, me: &Identity, to: SessionId, information: &Scalar) -> Result<(), ApiError> {
        if to == me.session {
            return Err(ApiError::bad_input("a session cannot befriend itself"));
        }
        let information = information.as_text().unwrap_or_default().to_owned();
        if information.len() > MAX_INFORMATION_BYTES {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("information is at most {MAX_INFORMATION_BYTES} bytes"),
            ));
        }
        let rate = self
            .limiter
            .take_rate(Throttled::FriendRequests, &me.app, &me.session, FRIEND_REQUEST_RATE);
        if let Err(retry_after) = rate {
            return Err(ApiError::rate_limited(
                format!("too many friend requests: retry in {retry_after} s"),
                retry_after,
            ));
        }
        if self.social.are_friends(&me.app, &me.session, &to).await? {
            return Err(ApiError::new(ErrorCode::Conflict, "already friends"));
        }
        let request = herald_store::FriendRequest {
            app: me.app.clone(),
            from: me.session.clone(),
            to: to.clone(),
            information: information.clone(),
            created_at: timefmt::now_nanos(),
        };
        self.social.put_friend_request(&request).await?;
        let data = json!({"from": me.session, "to": to, "information": information});
        self.emit_friend(me, FRIEND_REQUESTED, data).await;
        let frame = wire::push(
            "friend-request",
            Some(wire::code::FRIEND_REQUEST),
            json!({"linkKey": me.session, "information": information}),
        );
        self.pushes.to_sessions(&me.app, std::slice::from_ref(&to), frame).await;
        Ok(())
    }

    /// Answers `from`'s pending request; `from` gets `friend-accepted` or `friend-rejected`.
    pub async fn friend_respond(&self, me: &Identity, from: &SessionId, accept: bool) -> Result<(), ApiError> {
        let taken = self.social.take_friend_request(&me.app, from, &me.session).await?;
        if taken.is_none() {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "no pending friend request from this session",
            ));
        }
        if accept {
            let now = timefmt::now_nanos();
            self.social.set_friends(&me.app, from, &me.session, true, now).await?;
        }
        let (code, action) = if accept {
            (wire::code::FRIEND_ACCEPTED, "friend-accepted")
        } else {
            (wire::code::FRIEND_REJECTED, "friend-rejected")
        };
        let kind = if accept { FRIEND_ACCEPTED } else { FRIEND_REJECTED };
        self.emit_friend(me, kind, json!({"from": from, "to": me.session}))
            .await;
        let frame = wire::push(action, Some(code), json!({"linkKey": me.session, "accept": accept}));
        self.pushes
            .to_sessions(&me.app, std::slice::from_ref(from), frame)
            .await;
        Ok(())
    }

    /// A friend event for the app's endpoints, in the lane of the session that acted.
    async fn emit_friend(&self, me: &Identity, kind: &'static str, data: Value) {
        let now = timefmt::now_nanos();
        self.hooks
            .emit(vec![Outgoing {
                app: me.app.clone(),
                id: format!("{kind}:{}:{now}", me.session),
                kind,
                lane: Lane::Session(me.session.clone()),
                order: now,
                data,
                created_at: now,
                trace: herald_bus::trace::current_traceparent(),
            }])
            .await;
    }

    /// `me`'s friends in session order after `after`; a list past the reply budget comes in
    /// pages: `hasMore`, and `after` (the last session received) continues.
    pub async fn friends(&self, me: &Identity, after: Option<String>) -> Result<(Vec<SessionId>, bool), ApiError> {
        let mut friends = self.social.friends_of(&me.app, &me.session).await?;
        friends.sort();
        if let Some(after) = after {
            friends.retain(|friend| friend.as_str() > after.as_str());
        }
        let mut budget = Budget::reply(friends.len());
        let has_more = budget::keep_first(&mut friends, &mut budget);
        Ok((friends, has_more))
    }

    /// The requests sent to `me` that wait for its answer, by sender, after `after`: at most
    /// `PENDING_PAGE` and whether more follow.
    pub async fn pending_friend_requests(
        &self,
        me: &Identity,
        after: Option<&SessionId>,
    ) -> Result<(Vec<herald_store::FriendRequest>, bool), ApiError> {
        let mut requests = self
            .social
            .friend_requests_to(&me.app, &me.session, after, PENDING_PAGE + 1)
            .await?;
        let has_more = requests.len() > PENDING_PAGE;
        requests.truncate(PENDING_PAGE);
        Ok((requests, has_more))
    }

    /// Ends the friendship between `me` and `other` (nothing happens if there is none).
    pub async fn unfriend(&self, me: &Identity, other: &SessionId) -> Result<(), ApiError> {
        let now = timefmt::now_nanos();
        self.social.set_friends(&me.app, &me.session, other, false, now).await?;
        Ok(())
    }

    /// Whether each session is online on any gateway.
    pub fn presence(&self, me: &Identity, sessions: Vec<String>) -> Result<Map<String, Value>, ApiError> {
        if sessions.len() > MAX_PRESENCE_QUERY {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("at most {MAX_PRESENCE_QUERY} linkKeys per query"),
            ));
        }
        let sessions = crate::conversations::parse_members(sessions)?;
        let online = self.routes.plan(&me.app, &sessions);
        let online: HashSet<&SessionId> = online.values().flatten().collect();
        Ok(sessions
            .iter()
            // a connection of this gateway counts at once: the routing table's replica follows
            // the change feed and may not have seen a route added a moment ago
            .map(|s| {
                let here = self.pushes.connected_here(&me.app, s);
                (s.to_string(), Value::Bool(here || online.contains(s)))
            })
            .collect())
    }
}
