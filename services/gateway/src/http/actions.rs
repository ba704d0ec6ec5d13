//! The `/ws` actions of contract §5: parse, dispatch, reply. Every request gets exactly one
//! reply; a bad frame gets an error reply and the connection stays.

use crate::budget::{self, Budget};
use crate::commands::{self, SendRequest};
use crate::conversations::{self as convs, CreateSpec};
use crate::error::ApiError;
use crate::frames::Outbound;
use crate::history;
use crate::hub::{Conn, MAX_IN_FLIGHT};
use crate::pending::{Shape, Waiter};
use crate::pushes::push_to_sessions;
use crate::ratelimit::{FRIEND_REQUEST_RATE, TYPING_RATE, Throttled};
use crate::{Identity, Shared, frames, rooms};
use herald_protocol::bus::{Action, MembersCommand};
use herald_protocol::ws::{self as wire, Envelope, Format, Request};
use herald_protocol::{ConvId, ConvKind, ErrorCode, SessionId, timefmt};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Default and largest `limit` of `msg-listHistory`.
pub const HISTORY_DEFAULT: u64 = 30;
pub const HISTORY_MAX: u64 = 100;
/// Conversations one `sync` may name, and messages one reply carries at most (all conversations
/// together; the reply budget may cut it sooner).
pub const SYNC_MAX_CONVS: usize = 100;
pub const SYNC_MAX_MSGS: usize = herald_store::MAX_PAGE;

/// The `/ws` protocol's reference, for the OpenAPI description.
pub const PROTOCOL_REFERENCE: &str = r#"
## `/ws` protocol

Requests: `{"action", "reqId"?, "linkKey"?, "param": {...}, "data": {...}}` as JSON text frames, or
MessagePack binary frames (then replies and pushes are MessagePack). The acting session is the
token's; a `linkKey` that differs is refused (10004). Every request gets exactly one reply
`{"action", "reqId", "status": "ok", "data"}` or `{"action", "reqId", "status": "error", "code", "error"}`.
Pushes are `{"action", "code"?, "status": "ok", "data"}` without `reqId`.

| action | param | reply `data` |
|---|---|---|
| `msg-im` | `{convId, msgKey?, msgType, msgContent}`; `msgType` an integer or text, image, video, audio, duration, location, others | the stored `MsgData` (a retried `msgKey` answers the original) |
| `msg-read` | `{convId, seq?}` | `{convId, seq, unreadNum}`; the session's other devices get a `msg-read` push |
| `msg-listHistory` | `{convId, limit, offset}` or `{convId, limit, beforeSeq}` | `{convId, msgs, hasMore}`, newest first; deleted-for-me messages are tombstones (`Status` 1); `hasMore`: the reply budget (about 1 MiB) cut the page short, continue with `beforeSeq` = the oldest `Seq` received |
| `msg-delete` | `{convId, msgId, forEveryone?}` | `{convId, ...}`; `forEveryone` recalls (sender or owner) and pushes `msg-delete` to members (`Status` 2 tombstone) |
| `conv-create` | `{convType: single\|multi, convKey?, convName, convAvt, linkKeys}` | the conversation, with `linkKeys`; `single` between the same two sessions returns the existing one |
| `conv-list` | `{}`, or `{cursor?, limit?}` (default 100, at most 1000 per page) | without `cursor`/`limit`: the first page, `[{convId, conv, links (at most 100), linkCount, lastMsg, unreadNum}]`; with either (`cursor` null or empty: the first page): `{convs: [...], next}`, `next` the opaque cursor of the following page (null at the end); newest membership first; a page stops early at about 1 MiB |
| `conv-delete` | `{convId}` | hidden from the list until a new message |
| `conv-join` / `conv-leave` | `{convId}` | `{convId}`; members get `conv-membersAdded` / `conv-membersRemoved` |
| `conv-inviteLinks` / `conv-removeLinks` | `{convId, linkKeys}` | `{convId}`; remove is owner-only (10003) |
| `chat-conv-join` / `chat-conv-leave` | `{convId}` | ephemeral room: live members only, nothing stored |
| `chat-msg-im` | `{convId, msgKey}` + `data: {msgType, content}` | `{convId, msgKey}`; members get a `chat-msg-im` push |
| `sync` | `{convs: {convId: lastSeq}}` (at most 100) | `{convs: {convId: {msgs, lastSeq, hasMore}}}`: in conversation-id order, what follows each `lastSeq` in `Seq` order, at most 1000 messages and about 1 MiB in all; a conversation cut short (or not reached: `msgs` empty) has `hasMore: true`: ask again from the last `Seq` received |
| `typing` | `{convId}` | `{convId}`; the other members get a `typing` push (at most one a second per session, bursts of 3: more are answered but not pushed) |
| `ping` | — | `"pong"` |
| `friend-request` | `{linkKey, information?}` | `{linkKey}`; that session gets push code 1000. At most 10 at once, then one every 6 s per session (error 10008, "retry in N s") |
| `friend-respond` | `{linkKey, accept}` | `{linkKey, accept}`; the requester gets 1001 (accepted) or 1002 (rejected) |
| `friend-list` / `friend-delete` | `{after?}` / `{linkKey}` | `{friends, hasMore}` in session order, about 1 MiB at most (`hasMore`: continue with `after` = the last one) / `{linkKey}` |
| `presence-query` | `{linkKeys}` (at most 1000) | `{presence: {linkKey: online}}` |

Pushes: `msg-im` (code 200, `MsgData`), `msg-read`, `msg-delete` (recall), `conv-membersAdded`,
`conv-membersRemoved`, `conv-archive`, `typing`, `chat-msg-im`, `friend-request` (1000),
`friend-accepted` (1001), `friend-rejected` (1002), `presence` (2001 online, 2000 offline: to friends,
when a session's first connection opens / last one closes, on any gateway), `kickout` (then close
4001 for the `kick` login policy, 4003 for a revoked token).
At most 64 requests of one connection may wait for the sequencer at once (`msg-im`, `msg-read`,
`msg-delete` for everyone, member changes); one more is answered with error 10008 and not done.
A client Close frame is answered with a Close frame echoing its code (RFC 6455).
Close codes: 1008 did not read (outbound queue full in frames or bytes, or a write not taken
within 5 s), 1009 frame over the hard limit, 1007 invalid UTF-8, 1012 server draining (reconnect
elsewhere), 4001 kicked by the `kick` login policy, 4002 token expired, 4003 token revoked.
"#;

pub struct ConnCtx {
    shared: Arc<Shared>,
    me: Identity,
    conn: Conn,
    rooms: std::sync::Mutex<HashSet<String>>,
}

/// Where the reply to a request that waits for the sequencer goes.
#[derive(Clone, Copy)]
struct Later<'a> {
    envelope: &'a Envelope,
    format: Format,
}

/// The membership changes a session asks for itself.
enum Membership {
    Join,
    Leave,
    Invite,
    Remove,
}

/// What an action answers: data now, or later (a command's reply comes from the sequencer).
enum Answer {
    Now(Value),
    Later,
}

fn conv_id(text: String) -> Result<ConvId, ApiError> {
    Ok(ConvId::parse(text)?)
}

fn sessions(list: Vec<String>) -> Result<Vec<SessionId>, ApiError> {
    convs::parse_members(list)
}

impl ConnCtx {
    pub fn new(shared: Arc<Shared>, me: Identity, conn: Conn) -> Self {
        Self {
            shared,
            me,
            conn,
            rooms: Default::default(),
        }
    }

    fn format(&self) -> Format {
        if self.conn.msgpack.load(Ordering::Relaxed) {
            Format::MsgPack
        } else {
            Format::Json
        }
    }

    fn reply_error(&self, format: Format, action: &str, req_id: &Value, code: ErrorCode, text: &str) {
        self.conn
            .offer(frames::reply(format.error_reply(action, req_id, code, text)));
    }

    /// A frame over `MAX_FRAME_BYTES`: an error; the connection stays.
    pub fn too_large(&self, len: usize, format: Format) {
        let text = format!(
            "frame of {len} bytes is larger than the limit of {} bytes",
            wire::MAX_FRAME_BYTES
        );
        self.reply_error(format, "", &Value::Null, ErrorCode::TooLarge, &text);
    }

    /// A frame the WebSocket layer could not read (past the hard size limit): an error, then a close.
    pub fn protocol_error(&self, error: &str) {
        let text = format!("bad frame: {error}");
        self.reply_error(self.format(), "", &Value::Null, ErrorCode::InvalidParameter, &text);
        let code = if error.contains("too long") || error.contains("too big") {
            1009
        } else {
            1007
        };
        self.conn.offer(Outbound::Close {
            code,
            reason: "bad frame",
        });
    }

    /// A frame: JSON text or MessagePack bytes; replies and pushes follow the client's last
    /// frame's format.
    pub async fn on_frame(&self, frame: &[u8], format: Format) {
        self.conn.msgpack.store(format == Format::MsgPack, Ordering::Relaxed);
        let envelope = match Envelope::parse(frame, format) {
            Ok(envelope) => envelope,
            Err(bad) => {
                let code = ErrorCode::InvalidParameter;
                return self.reply_error(format, &bad.action, &bad.req_id, code, &bad.reason);
            }
        };
        let (action, req_id) = (envelope.action.as_str(), &envelope.req_id);
        if let Some(link_key) = &envelope.link_key
            && link_key != self.me.session.as_str()
        {
            let text = "linkKey is not this token's session";
            return self.reply_error(format, action, req_id, ErrorCode::NotMember, text);
        }
        metrics::counter!("herald_ws_requests_total").increment(1);
        if self.conn.in_flight.available_permits() == 0 {
            // one connection may not take the gateway's pending slots (and other tenants' sends)
            let text = format!(
                "at most {MAX_IN_FLIGHT} requests in flight per connection: wait for replies before sending more"
            );
            metrics::counter!("herald_request_errors_total", "code" => ErrorCode::RateLimited.code().to_string())
                .increment(1);
            return self.reply_error(format, action, req_id, ErrorCode::RateLimited, &text);
        }
        let answer = match Request::parse(action, frame, format) {
            Ok(request) => self.dispatch(request, &envelope, format).await,
            Err(err) => Err(ApiError::bad_input(err.to_string())),
        };
        match answer {
            Ok(Answer::Now(data)) => self.conn.offer(frames::reply(format.ok_reply(action, req_id, data))),
            Ok(Answer::Later) => true,
            Err(err) => {
                metrics::counter!("herald_request_errors_total", "code" => err.code.code().to_string()).increment(1);
                self.conn.offer(frames::reply(format.error_reply(
                    action,
                    req_id,
                    err.code,
                    &err.message,
                )))
            }
        };
    }

    async fn dispatch(&self, request: Request, envelope: &Envelope, format: Format) -> Result<Answer, ApiError> {
        let reply = Later { envelope, format };
        match request {
            Request::Ping => Ok(Answer::Now(Value::from("pong"))),
            Request::MsgIm(p) => self.msg_im(p, reply).await,
            Request::MsgRead(p) => self.msg_read(p, reply).await,
            Request::ListHistory(p) => self.list_history(p).await,
            Request::MsgDelete(p) => self.msg_delete(p, reply).await,
            Request::ConvCreate(p) => self.conv_create(p).await,
            Request::ConvList(p) => self.conv_list(p).await,
            Request::ConvDelete(p) => self.conv_delete(p).await,
            Request::ConvJoin(p) => self.conv_members(Membership::Join, p, reply).await,
            Request::ConvLeave(p) => self.conv_members(Membership::Leave, p, reply).await,
            Request::ConvInviteLinks(p) => self.conv_members(Membership::Invite, p, reply).await,
            Request::ConvRemoveLinks(p) => self.conv_members(Membership::Remove, p, reply).await,
            Request::ChatJoin(p) => self.chat_join(p).await,
            Request::ChatLeave(p) => self.chat_leave(p).await,
            Request::ChatMsg(p, data) => self.chat_msg(p, data).await,
            Request::Sync(p) => self.sync(p).await,
            Request::Typing(p) => self.typing(p).await,
            Request::FriendRequest(p) => self.friend_request(p).await,
            Request::FriendRespond(p) => self.friend_respond(p).await,
            Request::FriendList(p) => self.friend_list(p).await,
            Request::FriendDelete(p) => self.friend_delete(p).await,
            Request::PresenceQuery(p) => self.presence_query(p).await,
        }
    }

    async fn submit(
        &self,
        command: herald_protocol::bus::Command,
        reply: Later<'_>,
        shape: Shape,
    ) -> Result<Answer, ApiError> {
        let waiter = Waiter::Ws {
            conn: self.conn.clone(),
            // `on_frame` refused the request when no slot was left
            in_flight: self.conn.in_flight.clone().try_acquire_owned().ok(),
            action: reply.envelope.action.clone(),
            req_id: reply.envelope.req_id.clone(),
            format: reply.format,
            shape,
        };
        commands::submit(&self.shared, command, waiter).await?;
        Ok(Answer::Later)
    }

    async fn msg_im(&self, p: wire::MsgIm, reply: Later<'_>) -> Result<Answer, ApiError> {
        let request = SendRequest {
            conv: conv_id(p.conv_id)?,
            msg_type: msg_type(&p.msg_type)?,
            status: 0,
            content: p.msg_content,
            client_msg_id: p.msg_key,
        };
        let command = commands::send(&self.shared, &self.me, request).await?;
        self.submit(command, reply, Shape::Message).await
    }

    async fn msg_read(&self, p: wire::MsgRead, reply: Later<'_>) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        convs::require_member(&self.shared, &self.me, &conv).await?;
        let action = Action::Read {
            session: self.me.session.clone(),
            seq: p.seq,
        };
        let command = commands::command(&self.me, conv.clone(), action);
        self.submit(command, reply, Shape::Read(conv)).await
    }

    async fn list_history(&self, p: wire::ListHistory) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        convs::require_member(&self.shared, &self.me, &conv).await?;
        let limit = p.limit.unwrap_or(HISTORY_DEFAULT).clamp(1, HISTORY_MAX);
        let last = self.shared.store.last_seq(&self.me.app, &conv).await?;
        let newest = match p.before_seq {
            Some(before) => before.saturating_sub(1).min(last),
            None => last.saturating_sub(p.offset.unwrap_or(0)),
        };
        let mut budget = Budget::reply(limit as usize);
        let page = history::page_from_newest(
            &self.shared,
            &self.me,
            &conv,
            newest.saturating_sub(limit - 1).max(1),
            newest,
            &mut budget,
        )
        .await?;
        let mut msgs = page.msgs;
        msgs.reverse();
        Ok(Answer::Now(json!({"convId": conv, "msgs": msgs, "hasMore": page.cut})))
    }

    async fn msg_delete(&self, p: wire::MsgDelete, reply: Later<'_>) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        let msg_id = p
            .msg_id
            .msg_id()
            .map_err(|_| ApiError::bad_input("msgId must be a message id string"))?;
        convs::require_member(&self.shared, &self.me, &conv).await?;
        if p.for_everyone {
            let action = Action::Recall {
                session: self.me.session.clone(),
                msg_id,
            };
            let command = commands::command(&self.me, conv.clone(), action);
            return self.submit(command, reply, Shape::Conv(conv)).await;
        }
        let message = self
            .shared
            .store
            .message_by_id(&self.me.app, &conv, msg_id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "message not found in this conversation"))?;
        self.shared
            .store
            .hide_message(&self.me.app, &self.me.session, &conv, message.seq)
            .await?;
        Ok(Answer::Now(
            json!({"convId": conv, "msgId": msg_id, "seq": message.seq, "forEveryone": false}),
        ))
    }

    async fn conv_create(&self, p: wire::ConvCreate) -> Result<Answer, ApiError> {
        let kind = convs::parse_kind(p.conv_type.as_deref())?;
        let members = convs::parse_members_after(vec![self.me.session.clone()], p.link_keys)?;
        let spec = CreateSpec {
            kind,
            conv_type: convs::parse_conv_type(&p.conversation_type)?,
            // a single conversation's id is its pair's; a key names a group
            id: match (kind, p.conv_key) {
                (ConvKind::Group, Some(key)) if !key.is_empty() => Some(conv_id(key)?),
                _ => None,
            },
            name: p.conv_name.unwrap_or_default(),
            avatar: p.conv_avt.unwrap_or_default(),
            open: p.open.unwrap_or(true),
            owner: self.me.session.clone(),
            members,
        };
        let id = convs::create(&self.shared, &self.me.app, spec).await?;
        let conv = self
            .shared
            .store
            .conversation(&self.me.app, &id)
            .await?
            .ok_or_else(|| ApiError::internal("created conversation missing"))?;
        let links = self.shared.store.members(&self.me.app, &id).await?;
        let mut data = convs::conv_json(&conv);
        data["linkKeys"] = json!(links);
        Ok(Answer::Now(data))
    }

    /// Without `cursor` or `limit` the first page as a bare array (the original shape); with
    /// either (a null or empty `cursor` is the first page), `{convs, next}`.
    async fn conv_list(&self, p: wire::ConvList) -> Result<Answer, ApiError> {
        let paged = p.paged();
        let after = p
            .cursor
            .flatten()
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(convs::parse_cursor)
            .transpose()?;
        let limit = p.limit.flatten().unwrap_or(convs::LIST_PAGE_DEFAULT);
        let (list, mut next) = convs::list(&self.shared, &self.me, after.as_ref(), limit).await?;
        let mut budget = Budget::reply(list.len());
        let mut out = Vec::with_capacity(list.len());
        let mut last_listed = None;
        for summary in list {
            let mut links = self.shared.store.members(&self.me.app, &summary.conv.id).await?;
            links.truncate(convs::MAX_LISTED_LINKS);
            let entry = json!({
                "convId": summary.conv.id,
                "conv": convs::conv_json(&summary.conv),
                "links": links,
                "linkCount": summary.member_count,
                "lastMsg": summary.last.as_ref().map(|m| m.to_wire()),
                "unreadNum": summary.unread(),
            });
            if !budget.admit(&entry) {
                // cut short by bytes: the next page starts after the last entry listed
                next = last_listed;
                break;
            }
            last_listed = Some(summary.cursor());
            out.push(entry);
        }
        if !paged {
            return Ok(Answer::Now(Value::Array(out)));
        }
        let next = next.as_ref().map(convs::cursor_text);
        Ok(Answer::Now(json!({"convs": out, "next": next})))
    }

    async fn conv_delete(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        convs::require_member(&self.shared, &self.me, &conv).await?;
        let last = self.shared.store.last_seq(&self.me.app, &conv).await?;
        self.shared
            .store
            .hide_conversation(&self.me.app, &self.me.session, &conv, last)
            .await?;
        Ok(Answer::Now(json!({"convId": conv})))
    }

    async fn conv_members(&self, change: Membership, p: wire::ConvLinks, reply: Later<'_>) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        if self.shared.store.conversation(&self.me.app, &conv).await?.is_none() {
            return Err(ApiError::new(ErrorCode::NotFound, "conversation not found"));
        }
        let me = self.me.session.clone();
        let links = || -> Result<Vec<SessionId>, ApiError> {
            let links = sessions(p.link_keys)?;
            if links.is_empty() {
                return Err(ApiError::bad_input("linkKeys may not be empty"));
            }
            Ok(links)
        };
        let change = match change {
            Membership::Join => MembersCommand::Join { session: me },
            Membership::Leave => MembersCommand::Leave { session: me },
            Membership::Invite => MembersCommand::Invite {
                by: me,
                sessions: links()?,
            },
            Membership::Remove => MembersCommand::Remove {
                by: me,
                sessions: links()?,
            },
        };
        let command = commands::command(&self.me, conv.clone(), Action::Members(change));
        self.submit(command, reply, Shape::Conv(conv)).await
    }

    fn room_param(p: wire::ConvRef) -> Result<String, ApiError> {
        let room = p.conv_id;
        if room.is_empty() || room.len() > herald_protocol::ids::MAX_ID_LEN {
            return Err(ApiError::bad_input("convId must be 1 to 128 bytes"));
        }
        Ok(room)
    }

    async fn chat_join(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
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
        self.shared
            .rooms
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

    async fn chat_leave(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
        let room = Self::room_param(p)?;
        self.rooms.lock().unwrap_or_else(|e| e.into_inner()).remove(&room);
        self.shared.rooms.leave(&self.me.app, &room, self.conn.id).await;
        Ok(Answer::Now(json!({"convId": room})))
    }

    async fn chat_msg(&self, p: wire::ChatMsg, data: wire::ChatData) -> Result<Answer, ApiError> {
        if data.content.len() > self.shared.config.max_content_bytes {
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
        let message = json!({
            "convId": p.conv_id,
            "msgKey": p.msg_key,
            "fromSession": self.me.session,
            "msgType": msg_type(&data.msg_type)?,
            "content": data.content,
            "sendTime": timefmt::rfc3339_nanos(timefmt::now_nanos()),
        });
        let frame = wire::push("chat-msg-im", None, &message);
        self.shared
            .rooms
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
            self.shared.rooms.leave(&self.me.app, &room, self.conn.id).await;
        }
    }

    /// What follows each `lastSeq`, in pages (contract §5): conversations in id order, each
    /// contiguous from its `lastSeq`, until `SYNC_MAX_MSGS` messages or the reply budget; a
    /// conversation cut short (or not reached) says `hasMore` and continues from its last `Seq`.
    async fn sync(&self, p: wire::Sync) -> Result<Answer, ApiError> {
        if p.convs.len() > SYNC_MAX_CONVS {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("at most {SYNC_MAX_CONVS} conversations per sync"),
            ));
        }
        let mut asked = Vec::with_capacity(p.convs.len());
        for (conv, after) in p.convs {
            let conv = conv_id(conv)?;
            convs::require_member(&self.shared, &self.me, &conv).await?;
            asked.push((conv, after));
        }
        let mut budget = Budget::reply(SYNC_MAX_MSGS);
        let mut out = serde_json::Map::new();
        for (conv, after) in asked {
            let last = self.shared.store.last_seq(&self.me.app, &conv).await?;
            let page = history::page_from_oldest(
                &self.shared,
                &self.me,
                &conv,
                after.saturating_add(1),
                last,
                &mut budget,
            )
            .await?;
            let reached = page.msgs.last().map_or(after, |m| m.seq);
            out.insert(
                conv.to_string(),
                json!({"msgs": page.msgs, "lastSeq": last, "hasMore": reached < last}),
            );
        }
        Ok(Answer::Now(json!({"convs": out})))
    }

    async fn typing(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
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

    async fn friend_request(&self, p: wire::FriendRequest) -> Result<Answer, ApiError> {
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

    async fn friend_respond(&self, p: wire::FriendRespond) -> Result<Answer, ApiError> {
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
    async fn friend_list(&self, p: wire::FriendList) -> Result<Answer, ApiError> {
        let mut friends = self.shared.store.friends_of(&self.me.app, &self.me.session).await?;
        friends.sort();
        if let Some(after) = p.after {
            friends.retain(|friend| friend.as_str() > after.as_str());
        }
        let mut budget = Budget::reply(friends.len());
        let has_more = budget::keep_first(&mut friends, &mut budget);
        Ok(Answer::Now(json!({"friends": friends, "hasMore": has_more})))
    }

    async fn friend_delete(&self, p: wire::LinkRef) -> Result<Answer, ApiError> {
        let other = SessionId::parse(p.link_key)?;
        let now = timefmt::now_nanos();
        self.shared
            .store
            .set_friends(&self.me.app, &self.me.session, &other, false, now)
            .await?;
        Ok(Answer::Now(json!({"linkKey": other})))
    }

    async fn presence_query(&self, query: wire::PresenceQuery) -> Result<Answer, ApiError> {
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

/// seed 000's type names, or the integer `Type`.
pub fn msg_type(value: &wire::Scalar) -> Result<i32, ApiError> {
    value.msg_type().map_err(|_| {
        ApiError::bad_input(
            "msgType must be an integer or one of text, image, video, audio, duration, location, others",
        )
    })
}
