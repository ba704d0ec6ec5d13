//! The limits of `/ws` requests and the protocol reference written into the OpenAPI description.

/// Default and largest `limit` of `msg-listHistory`.
pub const HISTORY_DEFAULT: u64 = 30;
pub const HISTORY_MAX: u64 = 100;
pub use crate::api::{SYNC_MAX_CONVS, SYNC_MAX_MSGS};
/// The kinds of a call signal.
pub const SIGNAL_KINDS: &[&str] = &["invite", "ringing", "accept", "reject", "hangup", "ice"];
/// Longest `callId` of a call signal, in bytes.
pub const MAX_CALL_ID_BYTES: usize = 128;

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
| `msg-read` | `{convId, seq?}` | `{convId, seq, unreadNum}`; the session's other devices get a `msg-read` push; in a conversation of at most 50 members the other members get a `msg-readBy` push `{convId, linkKey, seq}` (a read receipt: that member has read every message up to `seq`) |
| `msg-readers` | `{convId}` | `{convId, receipts, readers: [{linkKey, seq}]}`: every other member's read cursor (0: nothing read), for a conversation of at most 50 members; larger ones keep no receipts (`receipts: false`, `readers` empty) |
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
| `friend-pending` | `{after?}` | `{requests: [{linkKey, information, createdAt (unix ms)}], hasMore}`: the requests sent to this session that wait for its answer (also those made while it was offline), by `linkKey`, at most 100 a page (`hasMore`: continue with `after` = the last one); answering one removes it |
| `presence-query` | `{linkKeys}` (at most 1000) | `{presence: {linkKey: online}}` |
| `signal` | `{to: [linkKey…] (at most 100), kind: invite\|ringing\|accept\|reject\|hangup\|ice, callId (1–128 bytes), data?}` | `{callId, to}`; each addressed session's live connections get a `signal` push (code 600) `{from, kind, callId, data}`; never stored; 20 a second per session, bursts of 50 (error 10008) |

Pushes: `msg-im` (code 200, `MsgData`), `msg-read`, `msg-readBy` (read receipt), `msg-delete` (recall), `conv-membersAdded`,
`conv-membersRemoved`, `conv-archive`, `typing`, `chat-msg-im`, `friend-request` (1000),
`friend-accepted` (1001), `friend-rejected` (1002), `presence` (2001 online, 2000 offline: to friends,
when a session's first connection opens / last one closes, on any gateway), `signal` (600, call
signalling, live only), `kickout` (then close
4001 for the `kick` login policy, 4003 for a revoked token).
At most 64 requests of one connection may wait for the sequencer at once (`msg-im`, `msg-read`,
`msg-delete` for everyone, member changes); one more is answered with error 10008 and not done.
A client Close frame is answered with a Close frame echoing its code (RFC 6455).
Close codes: 1008 did not read (outbound queue full in frames or bytes, or a write not taken
within 5 s), 1009 frame over the hard limit, 1007 invalid UTF-8, 1012 server draining (reconnect
elsewhere), 4001 kicked by the `kick` login policy, 4002 token expired, 4003 token revoked.
"#;
