/**
 * The shapes Herald's /ws protocol puts on the wire (protocol §3, §5, §10), typed exactly as the
 * server writes them: field names are the server's (seed 001's `MsgData` names included).
 */

/** A stored message (protocol §3), in a push, a send's reply, `sync` and history. */
export interface MsgData {
  /** A Snowflake id as a decimal string (64 bits: never a JavaScript number). */
  MsgId: string;
  ConversationID: string;
  FromSession: string;
  /** RFC 3339, UTC, nanoseconds. */
  SendTime: string;
  /** `MessageStatus`: 0 normal, 1 deleted for me (a tombstone), 2 recalled (a tombstone). */
  Status: number;
  /** The message type: 1 text, 2 image, 3 video, 4 audio, 5 duration, 6 location, 0 others, or the app's own. */
  Type: number;
  /** Empty for a tombstone. */
  Content: string;
  /** The message's position in its conversation: 1, 2, 3, … with no gaps. */
  Seq: number;
  /** The sender's idempotency key (`msgKey`), when the sender chose one. */
  ClientMsgId?: string;
}

export const MessageStatus = { Normal: 0, DeletedForMe: 1, Recalled: 2 } as const;

/** A message type: the integer `Type`, or one of seed 000's names. */
export type MsgType = number | "text" | "image" | "video" | "audio" | "duration" | "location" | "others";

/** A conversation as `conv-create` and `conv-list` show it. */
export interface Conversation {
  convId: string;
  convType: "single" | "group";
  /** The app's own integer tag. */
  conversationType: number;
  convName: string;
  convAvt: string;
  owner: string;
  /** Whether any session of the app may `conv-join` it. */
  open: boolean;
  isArchive: boolean;
}

/** `conv-create`'s reply: the conversation and every member. */
export interface CreatedConversation extends Conversation {
  linkKeys: string[];
}

/** One entry of `conv-list`. */
export interface ConversationEntry {
  convId: string;
  conv: Conversation;
  /** At most 100 members; `linkCount` says how many there are. */
  links: string[];
  linkCount: number;
  lastMsg: MsgData | null;
  unreadNum: number;
}

/** A page of `conv-list`: `next` is the cursor of the following page, null at the end. */
export interface ConversationPage {
  convs: ConversationEntry[];
  next: string | null;
}

/** `msg-read`'s reply and push. */
export interface ReadState {
  convId: string;
  seq: number;
  unreadNum: number;
}

/** One other member's read cursor: they have read every message with `Seq <= seq` (0: none). */
export interface ReadCursor {
  linkKey: string;
  seq: number;
}

/** `msg-readers`: the read cursor of each *other* member. `receipts` is false, and `readers`
 *  empty, in a conversation of more than 50 members: the server keeps no receipts there. */
export interface Readers {
  convId: string;
  receipts: boolean;
  readers: ReadCursor[];
}

/** `msg-listHistory`: newest first; `hasMore` when the reply budget cut the page short. */
export interface HistoryPage {
  convId: string;
  msgs: MsgData[];
  hasMore: boolean;
}

/** `msg-delete` without `forEveryone`: the message is a tombstone for this session only. */
export interface DeletedForMe {
  convId: string;
  msgId: string;
  seq: number;
  forEveryone: false;
}

/** A reply that names the conversation it is about (join, leave, invite, remove, recall, typing, conv-delete). */
export interface ConvRef {
  convId: string;
}

/** `sync`: per conversation, what follows the asked `Seq`, in order; `hasMore`: ask again from the last `Seq`. */
export interface SyncReply {
  convs: Record<string, { msgs: MsgData[]; lastSeq: number; hasMore: boolean }>;
}

export interface FriendList {
  /** Sessions, in order; `hasMore`: continue with `after` = the last one. */
  friends: string[];
  hasMore: boolean;
}

/** A friend request sent to this session that waits for an answer (`friend-respond`). */
export interface PendingFriendRequest {
  /** Who asked. */
  linkKey: string;
  /** Their note (empty when they left none). */
  information: string;
  /** When they asked: unix milliseconds (`new Date(createdAt)`). */
  createdAt: number;
}

/** `friend-pending`: a page of the requests waiting for this session's answer, by `linkKey`;
 *  `hasMore`: continue with `after` = the last one's `linkKey`. */
export interface PendingFriendRequests {
  requests: PendingFriendRequest[];
  hasMore: boolean;
}

export type SignalKind = "invite" | "ringing" | "accept" | "reject" | "hangup" | "ice";

/** A call signal to send (protocol §10): live only, never stored. */
export interface SignalRequest {
  /** At most 100 sessions. */
  to: string[];
  kind: SignalKind;
  /** 1 to 128 bytes. */
  callId: string;
  data?: unknown;
}

// ---- pushes ----

/** `msg-delete` push: a message was recalled for everyone; `msg` is its tombstone (`Status` 2). */
export interface RecallPush {
  convId: string;
  msgId: string;
  seq: number;
  forEveryone: true;
  msg: MsgData;
}

/** `msg-readBy` push (conversations of at most 50 members): another member, `linkKey`, moved
 *  their read cursor to `seq` — they have read every message with `Seq <= seq`. */
export interface ReadByPush {
  convId: string;
  linkKey: string;
  seq: number;
}

/** `typing` push: `linkKey` is typing in `convId`. */
export interface TypingPush {
  convId: string;
  linkKey: string;
}

/** `friend-request` push (code 1000): `linkKey` asks to be friends. */
export interface FriendRequestPush {
  linkKey: string;
  information: string;
}

/** `friend-accepted` (1001) / `friend-rejected` (1002) push: `linkKey` answered this session's request. */
export interface FriendResponsePush {
  linkKey: string;
  accept: boolean;
}

/** `presence` push (2001 online / 2000 offline), to friends, when a session's first connection
 *  opens or its last one closes. */
export interface PresencePush {
  linkKey: string;
  online: boolean;
}

/** `kickout` push, sent before the server closes the connection (4001 login policy, 4003 revoked token). */
export interface KickoutPush {
  reason: string;
  platform?: number;
}

/** `chat-msg-im` push: a message in an ephemeral chat room (live members only, nothing stored). */
export interface RoomMessage {
  convId: string;
  msgKey: string | null;
  fromSession: string;
  msgType: number;
  content: string;
  sendTime: string;
}

/** `signal` push (code 600). */
export interface SignalPush {
  from: string;
  kind: SignalKind;
  callId: string;
  data: unknown;
}

/** `conv-membersAdded` / `conv-membersRemoved` / `conv-archive` pushes, as one event. */
export type ConversationChange =
  | { type: "membersAdded"; convId: string; linkKeys: string[]; by: string | null }
  | { type: "membersRemoved"; convId: string; linkKeys: string[]; by: string | null }
  | { type: "archive"; convId: string; isArchive: boolean };

/** Any frame the server sends: a reply (with `reqId`) or a push (without). */
export interface ServerFrame {
  action: string;
  reqId?: unknown;
  status: "ok" | "error";
  /** A push's seed 002 code (200, 600, 1000, 1001, 1002, 2000, 2001), or an error reply's code. */
  code?: number;
  data?: unknown;
  error?: string;
}

/** A push no typed event covers (the `push` event). */
export interface UnknownPush {
  action: string;
  code?: number;
  data: unknown;
}
