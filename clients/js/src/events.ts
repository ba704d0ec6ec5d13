/**
 * The events a `HeraldClient` emits, by name: the server's pushes, typed, and the client's own
 * (connection state, catch-up done, errors).
 */

import type { HeraldError } from "./errors.js";
import type {
  ConversationChange,
  FriendRequestPush,
  FriendResponsePush,
  KickoutPush,
  MsgData,
  PresencePush,
  ReadByPush,
  ReadState,
  RecallPush,
  RoomMessage,
  SignalPush,
  TypingPush,
  UnknownPush,
} from "./wire.js";

/**
 * - `idle`: not started (`connect()` not called yet);
 * - `connecting`: a connection attempt is under way;
 * - `open`: connected (the catch-up `sync` may still run: `synced` follows);
 * - `reconnecting`: the connection was lost or an attempt failed; the next one starts in `delayMs`;
 * - `closed`: stopped — by `close()`, a kickout (4001), a revoked token (4003) or a refused static token.
 */
export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export interface StateChange {
  state: ConnectionState;
  /** Attempts since the last healthy connection (1 for the first). */
  attempt: number;
  /** `reconnecting`: when the next attempt starts, in ms. */
  delayMs?: number;
  /** The close code of the connection that ended, when there was one (1006: dropped). */
  code?: number;
  reason?: string;
}

/** A connection's catch-up is done: every conversation is synced up to the moment it connected. */
export interface SyncedEvent {
  /** Conversations that had messages to catch up. */
  conversations: number;
  /** Messages the catch-up emitted. */
  messages: number;
}

export interface HeraldEvents {
  /** A stored message: each exactly once, in `Seq` order per conversation — the application's own
   *  sends included (from any of its devices), tombstones included (`Status` 1 or 2). */
  message: MsgData;
  /** A message was recalled for everyone (live only: see the README). */
  recall: RecallPush;
  /** This session's read cursor moved (on another device, or this one). */
  read: ReadState;
  /** Another member moved their read cursor (read receipts: conversations of at most 50 members). */
  readBy: ReadByPush;
  typing: TypingPush;
  /** Someone asked to be friends (live connections only: `pendingFriendRequests()` lists the
   *  requests that came while offline). */
  friendRequest: FriendRequestPush;
  friendAccepted: FriendResponsePush;
  friendRejected: FriendResponsePush;
  presence: PresencePush;
  /** The server is about to close this connection (then `state` is `closed`). */
  kickout: KickoutPush;
  /** A message in an ephemeral chat room this connection joined. */
  room: RoomMessage;
  signal: SignalPush;
  /** Members joined, left or were removed; a conversation was archived or unarchived. */
  conversation: ConversationChange;
  state: StateChange;
  synced: SyncedEvent;
  /** Something went wrong that no promise reports: an error frame without a request, a failed
   *  catch-up, a token callback that threw, an event handler that threw. */
  error: HeraldError;
  /** A push no other event covers. */
  push: UnknownPush;
}
