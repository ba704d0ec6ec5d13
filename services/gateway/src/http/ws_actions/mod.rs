//! The `/ws` actions of protocol §5: a frame is read once into a typed request, dispatched,
//! and answered exactly once (a bad frame gets an error reply and the connection stays).
//! The actions themselves live beside this file, by subject.

mod chat_rooms;
mod conversations;
mod messages;
mod reference;
mod social;

pub use reference::*;

use crate::api::{Api, CreateRequest, Creator, SendRequest};
use crate::error::ApiError;
use crate::frames::Outbound;
use crate::hub::{Conn, MAX_IN_FLIGHT};
use crate::pending::{Shape, Waiter};
use crate::rooms::{self, Rooms};
use crate::{Identity, frames};
use herald_protocol::bus::{Command, MembersCommand};
use herald_protocol::ws::{self as wire, Envelope, Format, Request};
use herald_protocol::{ConvId, ErrorCode, SessionId};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// `herald_ws_requests_total`, resolved on first use (the process installs its recorder before
/// it serves): a registry lookup per frame otherwise.
static WS_REQUESTS: std::sync::LazyLock<metrics::Counter> =
    std::sync::LazyLock::new(|| metrics::counter!("herald_ws_requests_total"));

/// One `/ws` connection's requests: the operations service, the chat rooms (a `/ws`-only
/// feature) and the connection's own state.
pub struct ConnCtx {
    api: Api,
    rooms_hub: Arc<Rooms>,
    /// Largest chat-room message `content`, in bytes.
    max_content_bytes: usize,
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
    crate::conversations::parse_members(list)
}

impl ConnCtx {
    pub fn new(api: Api, rooms_hub: Arc<Rooms>, max_content_bytes: usize, me: Identity, conn: Conn) -> Self {
        Self {
            api,
            rooms_hub,
            max_content_bytes,
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
        WS_REQUESTS.increment(1);
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
            Request::MsgReaders(p) => self.msg_readers(p).await,
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
            Request::FriendPending(p) => self.friend_pending(p).await,
            Request::FriendDelete(p) => self.friend_delete(p).await,
            Request::PresenceQuery(p) => self.presence_query(p).await,
            Request::Signal(p) => self.signal(p).await,
        }
    }

    /// Submits a command whose reply the sequencer's ack writes to this connection later.
    async fn submit(&self, command: Command, reply: Later<'_>, shape: Shape) -> Result<Answer, ApiError> {
        let waiter = Waiter::Ws {
            conn: self.conn.clone(),
            // `on_frame` refused the request when no slot was left
            in_flight: self.conn.in_flight.clone().try_acquire_owned().ok(),
            action: reply.envelope.action.clone(),
            req_id: reply.envelope.req_id.clone(),
            format: reply.format,
            shape,
        };
        self.api.commands().submit(command, waiter).await?;
        Ok(Answer::Later)
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
