/**
 * `HeraldClient`: Herald's native WebSocket protocol (protocol §5, and §10's `signal`) as typed
 * methods and typed events, with the guarantees of §7 made easy — see `Engine` for how, and the
 * README for what an application can count on.
 */

import type { BackoffOptions } from "./backoff.js";
import { Engine } from "./engine.js";
import type { ConnectionState, HeraldEvents } from "./events.js";
import type { WebSocketConstructor } from "./socket.js";
import { newKey } from "./uuid.js";
import type {
  ConvRef,
  ConversationEntry,
  ConversationPage,
  CreatedConversation,
  DeletedForMe,
  FriendList,
  HistoryPage,
  MsgData,
  MsgType,
  PendingFriendRequests,
  ReadState,
  Readers,
  SignalRequest,
  SyncReply,
} from "./wire.js";

export interface ReconnectOptions extends BackoffOptions {
  /** A connection open this long resets the backoff to `initialDelayMs` (default 10000). */
  healthyAfterMs?: number;
}

export interface HeraldClientOptions {
  /** The server's base URL, `http(s)://host:port` (or `ws(s)://`); `/ws` is appended. */
  url: string;
  /** A client token, or a function returning one: called before every connection attempt, so a
   *  reconnect uses a fresh token (mint it on your backend: `HeraldInner.getToken`, or `/user/login`). */
  token: string | (() => string | Promise<string>);
  /** MessagePack binary frames both ways instead of JSON text (default false). */
  msgpack?: boolean;
  /** The WebSocket constructor; default: `globalThis.WebSocket`, else the `ws` package (Node 20). */
  WebSocket?: WebSocketConstructor;
  reconnect?: ReconnectOptions;
  /** How long a request waits for its reply, or for a connection when there is none (default 15000). */
  requestTimeoutMs?: number;
  /** Sends that may wait unacknowledged at once; one more is refused with `outbox_full` (default 1000). */
  outboxLimit?: number;
  /** The last `Seq` the application holds per conversation (saved from `cursors()`): the client
   *  resumes from there, and every conversation not named starts at 0. Without it, the first
   *  connection's conversations start at their latest message (earlier ones are history). */
  cursors?: Record<string, number>;
  /** Ask the server for a sign of life (`ping`) after this long without a frame (default 25000). */
  pingIntervalMs?: number;
  /** Give a connection up when nothing arrives this long after a ping (default 10000). */
  pongTimeoutMs?: number;
}

export interface SendOptions {
  /** The message type (default `"text"`, 1). */
  type?: MsgType;
  /** The idempotency key; generated (a UUID) when absent. Sending again with the same key never
   *  stores a second message: the server answers with the original. */
  msgKey?: string;
}

export interface CreateGroupOptions {
  name?: string;
  avatar?: string;
  /** The conversation's id (seed 000's `convKey`); generated when absent. */
  convKey?: string;
  /** The app's own integer tag. */
  conversationType?: number;
  /** Whether other sessions may join it themselves (default true for conversations clients create). */
  open?: boolean;
}

export interface HistoryOptions {
  /** 1 to 100 (default 30). */
  limit?: number;
  /** The page before this `Seq` (exclusive). */
  beforeSeq?: number;
  /** Or: skip this many of the newest. */
  offset?: number;
}

export class HeraldClient {
  private readonly engine: Engine;

  constructor(options: HeraldClientOptions) {
    this.engine = new Engine({
      url: options.url,
      token: options.token,
      msgpack: options.msgpack ?? false,
      WebSocket: options.WebSocket,
      backoff: options.reconnect ?? {},
      healthyAfterMs: options.reconnect?.healthyAfterMs ?? 10_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      outboxLimit: options.outboxLimit ?? 1000,
      cursors: options.cursors === undefined ? undefined : { ...options.cursors },
      pingIntervalMs: options.pingIntervalMs ?? 25_000,
      pongTimeoutMs: options.pongTimeoutMs ?? 10_000,
    });
  }

  // ---- lifecycle and events ----

  /** Connects (and keeps reconnecting until `close()`); resolves once the first connection has
   *  caught up (`synced`); rejects if the client is closed first. */
  connect(): Promise<void> {
    return this.engine.connect();
  }

  /** Closes the connection (WebSocket close code 1000) and stops reconnecting; pending requests
   *  and unacknowledged sends fail with `closed`. `connect()` starts again. */
  close(): Promise<void> {
    return this.engine.close();
  }

  get state(): ConnectionState {
    return this.engine.state;
  }

  /** Sends not yet acknowledged by the server. */
  get pendingSends(): number {
    return this.engine.pendingSends;
  }

  /** The last `Seq` emitted per conversation: save it to resume with the `cursors` option. */
  cursors(): Record<string, number> {
    return this.engine.ordering.cursors();
  }

  /** Calls `handler` for each `event`; returns the function that unsubscribes it. */
  on<K extends keyof HeraldEvents>(event: K, handler: (payload: HeraldEvents[K]) => void): () => void {
    return this.engine.events.on(event, handler);
  }

  /** Calls `handler` for the next `event` only; returns the function that unsubscribes it. */
  once<K extends keyof HeraldEvents>(event: K, handler: (payload: HeraldEvents[K]) => void): () => void {
    return this.engine.events.once(event, handler);
  }

  /** Any /ws action, for what the typed methods do not cover: resolves with the reply's `data`. */
  request<T = unknown>(action: string, param?: unknown, data?: unknown): Promise<T> {
    return this.engine.request(action, param, data) as Promise<T>;
  }

  // ---- messages ----

  /** `msg-im`: stores a message; resolves with it (`MsgId`, `Seq`). Waits in the outbox while
   *  disconnected and is re-sent with the same `msgKey` until acknowledged. The message also
   *  comes through the `message` event, once, in its place. */
  send(convId: string, content: string, options: SendOptions = {}): Promise<MsgData> {
    return this.engine.send({
      convId,
      content,
      msgType: options.type ?? "text",
      msgKey: options.msgKey ?? newKey(),
    });
  }

  /** `msg-read`: moves this session's read cursor to `seq` (default: the latest message). */
  markRead(convId: string, seq?: number): Promise<ReadState> {
    return this.call("msg-read", seq === undefined ? { convId } : { convId, seq });
  }

  /** `msg-readers`: every other member's read cursor (members only), to show read receipts on
   *  opening a conversation; `readBy` events move them on from there. */
  readers(convId: string): Promise<Readers> {
    return this.call("msg-readers", { convId });
  }

  /** `msg-listHistory`: a page of messages, newest first. */
  history(convId: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    return this.call("msg-listHistory", { convId, ...options });
  }

  /** `msg-delete` for everyone (the sender or the owner): members get a `recall` push, and history a tombstone. */
  recall(convId: string, msgId: string): Promise<ConvRef> {
    return this.call("msg-delete", { convId, msgId, forEveryone: true });
  }

  /** `msg-delete` for this session only: its history shows a tombstone. */
  deleteForMe(convId: string, msgId: string): Promise<DeletedForMe> {
    return this.call("msg-delete", { convId, msgId, forEveryone: false });
  }

  /** `sync`, raw: what follows each `Seq`. The client syncs by itself; this emits no event. */
  sync(convs: Record<string, number>): Promise<SyncReply> {
    return this.call("sync", { convs });
  }

  // ---- conversations ----

  /** `conv-create` of a group with `members` (this session is its owner and a member). */
  async createGroup(members: string[], options: CreateGroupOptions = {}): Promise<CreatedConversation> {
    const param: Record<string, unknown> = { convType: "multi", linkKeys: members };
    if (options.name !== undefined) param.convName = options.name;
    if (options.avatar !== undefined) param.convAvt = options.avatar;
    if (options.convKey !== undefined) param.convKey = options.convKey;
    if (options.conversationType !== undefined) param.conversationType = options.conversationType;
    if (options.open !== undefined) param.open = options.open;
    const created = await this.call<CreatedConversation>("conv-create", param);
    this.engine.discover(created.convId);
    return created;
  }

  /** `conv-create` of the 1:1 conversation with `peer`: the same pair always gets the same one. */
  async createSingle(peer: string, options: { conversationType?: number } = {}): Promise<CreatedConversation> {
    const param: Record<string, unknown> = { convType: "single", linkKeys: [peer] };
    if (options.conversationType !== undefined) param.conversationType = options.conversationType;
    const created = await this.call<CreatedConversation>("conv-create", param);
    this.engine.discover(created.convId);
    return created;
  }

  /** `conv-list`, every page: this session's conversations with their last message and unread count. */
  async conversations(): Promise<ConversationEntry[]> {
    const all: ConversationEntry[] = [];
    let cursor: string | null = null;
    do {
      const page: ConversationPage = await this.conversationPage({ cursor, limit: 1000 });
      all.push(...page.convs);
      cursor = page.next;
    } while (cursor);
    return all;
  }

  /** `conv-list`, one page (`cursor`: the previous page's `next`; `limit` default 100, at most 1000). */
  conversationPage(options: { cursor?: string | null; limit?: number } = {}): Promise<ConversationPage> {
    const param: Record<string, unknown> = { cursor: options.cursor ?? null };
    if (options.limit !== undefined) param.limit = options.limit;
    return this.call("conv-list", param);
  }

  /** `conv-delete`: hides the conversation from this session's list until a new message arrives. */
  hideConversation(convId: string): Promise<ConvRef> {
    return this.call("conv-delete", { convId });
  }

  /** `conv-join` of an open conversation. */
  async joinConversation(convId: string): Promise<ConvRef> {
    const joined = await this.call<ConvRef>("conv-join", { convId });
    this.engine.discover(convId);
    return joined;
  }

  /** `conv-leave`. */
  leaveConversation(convId: string): Promise<ConvRef> {
    return this.call("conv-leave", { convId });
  }

  /** `conv-inviteLinks`: adds sessions (any member may). */
  invite(convId: string, linkKeys: string[]): Promise<ConvRef> {
    return this.call("conv-inviteLinks", { convId, linkKeys });
  }

  /** `conv-removeLinks`: removes sessions (the owner only). */
  removeMembers(convId: string, linkKeys: string[]): Promise<ConvRef> {
    return this.call("conv-removeLinks", { convId, linkKeys });
  }

  /** `typing`: the other members get a `typing` push (the server drops more than about one a second). */
  typing(convId: string): Promise<ConvRef> {
    return this.call("typing", { convId });
  }

  // ---- ephemeral chat rooms ----

  /** `chat-conv-join`: this connection hears the room's messages (`room` event) until it leaves or drops. */
  joinRoom(room: string): Promise<ConvRef> {
    return this.call("chat-conv-join", { convId: room });
  }

  leaveRoom(room: string): Promise<ConvRef> {
    return this.call("chat-conv-leave", { convId: room });
  }

  /** `chat-msg-im`: to the room's live members; nothing is stored. */
  sendToRoom(
    room: string,
    content: string,
    options: SendOptions = {},
  ): Promise<{ convId: string; msgKey: string | null }> {
    const param = { convId: room, msgKey: options.msgKey ?? newKey() };
    return this.request("chat-msg-im", param, { msgType: options.type ?? "text", content });
  }

  // ---- friends and presence ----

  /** `friend-request`: `linkKey` gets a `friendRequest` push. */
  friendRequest(linkKey: string, information?: string): Promise<{ linkKey: string }> {
    return this.call("friend-request", information === undefined ? { linkKey } : { linkKey, information });
  }

  /** `friend-respond` to `linkKey`'s pending request: it gets `friendAccepted` or `friendRejected`. */
  respondFriend(linkKey: string, accept: boolean): Promise<{ linkKey: string; accept: boolean }> {
    return this.call("friend-respond", { linkKey, accept });
  }

  /** `friend-pending`, one page: the requests sent to this session that wait for `respondFriend`,
   *  in `linkKey` order after `after` (at most 100). The `friendRequest` event reaches only live
   *  connections: this is how a client learns of the requests that came while it was offline.
   *  Answering a request removes it from the list. */
  pendingFriendRequests(after?: string): Promise<PendingFriendRequests> {
    return this.call("friend-pending", after === undefined ? {} : { after });
  }

  /** `friend-list`, one page: sessions after `after`, in order. */
  friends(after?: string): Promise<FriendList> {
    return this.call("friend-list", after === undefined ? {} : { after });
  }

  /** `friend-delete`. */
  unfriend(linkKey: string): Promise<{ linkKey: string }> {
    return this.call("friend-delete", { linkKey });
  }

  /** `presence-query`: online or not, per session (at most 1000). */
  async presence(linkKeys: string[]): Promise<Record<string, boolean>> {
    const reply = await this.call<{ presence: Record<string, boolean> }>("presence-query", { linkKeys });
    return reply.presence;
  }

  // ---- the rest ----

  /** `ping`: resolves with `"pong"`. */
  ping(): Promise<string> {
    return this.call("ping");
  }

  /** `signal` (protocol §10): a call signal to sessions' live connections (`signal` push), never stored. */
  signal(request: SignalRequest): Promise<{ callId: string; to: string[] }> {
    return this.call("signal", request);
  }

  private call<T>(action: string, param?: unknown): Promise<T> {
    return this.engine.request(action, param) as Promise<T>;
  }
}
