/**
 * The connection engine behind `HeraldClient`: one WebSocket at a time, replaced when it drops
 * (jittered exponential backoff), requests matched to replies by `reqId`, pushes turned into events,
 * and after every (re)connect a catch-up — the conversation list, then `sync` from each cursor —
 * so that the `message` event sees every message exactly once and in `Seq` order per conversation
 * (the decisions are `Ordering`'s). Sends go through the outbox and are re-sent with the same
 * `msgKey` until the server acknowledges them.
 *
 * Each connection attempt has a generation number; callbacks of an older socket are ignored, and a
 * request can only be answered on the socket it was written to.
 */

import { Backoff, type BackoffOptions } from "./backoff.js";
import { encodeFrame, decodeFrame } from "./codec.js";
import { Emitter } from "./emitter.js";
import { ErrorCode, HeraldError } from "./errors.js";
import type { ConnectionState, HeraldEvents, StateChange } from "./events.js";
import { Ordering, type Delivery } from "./ordering.js";
import { Outbox, type OutgoingMessage } from "./outbox.js";
import { Requests } from "./requests.js";
import { OPEN, resolveWebSocket, wsUrl, type SocketLike, type WebSocketConstructor } from "./socket.js";
import type { ConversationEntry, ConversationPage, MsgData, ServerFrame, SyncReply } from "./wire.js";

export interface EngineOptions {
  url: string;
  token: string | (() => string | Promise<string>);
  msgpack: boolean;
  WebSocket: WebSocketConstructor | undefined;
  backoff: BackoffOptions;
  healthyAfterMs: number;
  requestTimeoutMs: number;
  outboxLimit: number;
  cursors: Record<string, number> | undefined;
  pingIntervalMs: number;
  pongTimeoutMs: number;
}

/** Sends in flight at once on one connection (the server lets 64 requests of a connection wait for
 *  its sequencer; the rest of them is left to the application's other requests). */
const MAX_SENDS_IN_FLIGHT = 32;
/** Conversations per `sync` request (the server's limit). */
const SYNC_BATCH = 100;
/** Conversations per `conv-list` page (the server's limit). */
const LIST_PAGE = 1000;
/** `sync` rounds in a row that emit nothing while the server says `hasMore`, before giving up. */
const MAX_IDLE_SYNC_ROUNDS = 3;
/** How long `close()` waits for the server's Close frame. */
const CLOSE_WAIT_MS = 2000;

/** Close codes (protocol §5): kicked by the `kick` login policy, token expired, token revoked. */
const CLOSE_KICKED = 4001;
const CLOSE_TOKEN_EXPIRED = 4002;
const CLOSE_REVOKED = 4003;

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: HeraldError) => void;
}

function asHeraldError(err: unknown, code: HeraldError["code"], action: string): HeraldError {
  if (err instanceof HeraldError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HeraldError(code, message, action, { cause: err });
}

function isMembershipError(err: unknown): boolean {
  return err instanceof HeraldError && (err.code === ErrorCode.NotMember || err.code === ErrorCode.NotFound);
}

export class Engine {
  readonly events: Emitter<HeraldEvents>;
  readonly ordering: Ordering;
  private readonly outbox: Outbox;
  private readonly requests = new Requests();
  private readonly backoff: Backoff;

  private current: ConnectionState = "idle";
  private stopped = true;
  /** Whether conversations not seen before start at 0 (true) or at their last `Seq` (the first
   *  catch-up of a client started without saved cursors). */
  private baselined: boolean;

  private socket: SocketLike | undefined;
  /** Generation of the latest connection attempt. */
  private gen = 0;
  /** Generation of the open socket; 0 while none is open. */
  private openGen = 0;
  /** Generation of the last connection whose catch-up completed. */
  private syncedGen = 0;
  private handshakeError: string | undefined;

  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private healthyTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private outboxTimer: ReturnType<typeof setTimeout> | undefined;
  private lastFrameAt = 0;
  private pingSentAt: number | undefined;

  private readonly openWaiters = new Set<Waiter<number>>();
  private readonly syncedWaiters = new Set<Waiter<void>>();
  /** Conversations whose gap a sync did not fill twice in a row: not synced again until the next catch-up. */
  private readonly stalls = new Map<string, number>();

  constructor(private readonly opts: EngineOptions) {
    this.events = new Emitter<HeraldEvents>((err, event) => {
      if (event === "error") return; // an error handler that throws has nobody left to tell
      this.report(new HeraldError("handler", `a ${String(event)} handler threw`, String(event), { cause: err }));
    });
    this.ordering = new Ordering(opts.cursors ?? {});
    this.baselined = opts.cursors !== undefined;
    this.outbox = new Outbox(opts.outboxLimit);
    this.backoff = new Backoff(opts.backoff);
  }

  get state(): ConnectionState {
    return this.current;
  }

  get pendingSends(): number {
    return this.outbox.size;
  }

  // ---- lifecycle ----

  /** Starts connecting (when stopped); resolves once a connection has caught up. */
  connect(): Promise<void> {
    if (!this.stopped && this.openGen !== 0 && this.syncedGen === this.openGen) return Promise.resolve();
    const synced = this.nextSynced();
    if (this.stopped) {
      this.stopped = false;
      this.backoff.reset();
      void this.attempt();
    }
    return synced;
  }

  /** Closes with code 1000 and waits (briefly) for the server's Close frame; everything pending fails with `closed`. */
  async close(): Promise<void> {
    if (this.stopped && this.socket === undefined) {
      if (this.current !== "closed") this.setState({ state: "closed", attempt: 0, code: 1000 });
      return;
    }
    const socket = this.socket;
    this.socket = undefined;
    this.openGen = 0;
    this.finish({ state: "closed", attempt: 0, code: 1000, reason: "closed by the client" });
    if (socket) await closeGracefully(socket);
  }

  private nextSynced(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.syncedWaiters.add({ resolve, reject });
    });
  }

  private async attempt(): Promise<void> {
    const gen = ++this.gen;
    this.setState({ state: "connecting", attempt: this.backoff.attempts + 1 });
    let socket: SocketLike;
    try {
      const Ctor = await resolveWebSocket(this.opts.WebSocket);
      const token = typeof this.opts.token === "string" ? this.opts.token : await this.opts.token();
      if (gen !== this.gen || this.stopped) return;
      socket = new Ctor(wsUrl(this.opts.url, token)) as SocketLike;
    } catch (err) {
      if (gen !== this.gen || this.stopped) return;
      this.report(asHeraldError(err, "network", "connect"));
      this.scheduleReconnect({});
      return;
    }
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.handshakeError = undefined;
    socket.onopen = () => {
      if (gen === this.gen) this.onOpen(gen);
    };
    socket.onmessage = (event) => {
      if (gen === this.gen) this.onFrame(event.data);
    };
    socket.onerror = (event) => {
      if (gen === this.gen) this.handshakeError = event?.message ?? String(event?.error ?? "");
    };
    socket.onclose = (event) => {
      if (gen === this.gen) this.onClosed(event.code, event.reason);
    };
  }

  private onOpen(gen: number): void {
    this.openGen = gen;
    this.setState({ state: "open", attempt: this.backoff.attempts + 1 });
    this.lastFrameAt = Date.now();
    this.pingSentAt = undefined;
    this.startHeartbeat();
    this.healthyTimer = setTimeout(() => this.backoff.reset(), this.opts.healthyAfterMs);
    for (const waiter of [...this.openWaiters]) waiter.resolve(gen);
    this.openWaiters.clear();
    this.pumpOutbox();
    void this.catchUp(gen);
  }

  /** The socket ended (closed by the server, dropped, or abandoned by the heartbeat). */
  private onClosed(code: number | undefined, reason: string): void {
    const wasOpen = this.openGen !== 0;
    this.dropSocket();
    this.requests.failAll(
      (action) => new HeraldError("disconnected", `the connection closed before the reply to ${action}`, action),
    );
    if (this.stopped) return;
    const change = { code, reason };
    if (code === CLOSE_KICKED || code === CLOSE_REVOKED) {
      const why = code === CLOSE_KICKED ? "kicked: logged in on another device" : "the token was revoked";
      this.finish({ state: "closed", attempt: 0, ...change }, new HeraldError("closed", why, ""));
      return;
    }
    if (!wasOpen && typeof this.opts.token === "string" && /\b401\b/.test(this.handshakeError ?? "")) {
      const refused = new HeraldError(ErrorCode.InvalidToken, "the server refused the token", "connect", {
        status: 401,
      });
      this.finish({ state: "closed", attempt: 0, ...change }, refused);
      return;
    }
    // a connection that never opened says why in the state change (the server down, a refused token…)
    if (!wasOpen && !reason && this.handshakeError) change.reason = this.handshakeError;
    // an expired token: at once, with a fresh one from the token callback
    this.scheduleReconnect({ ...change, immediate: code === CLOSE_TOKEN_EXPIRED });
  }

  private scheduleReconnect(info: { code?: number | undefined; reason?: string; immediate?: boolean }): void {
    const delayMs = info.immediate ? 0 : this.backoff.next();
    const change: StateChange = { state: "reconnecting", attempt: Math.max(1, this.backoff.attempts), delayMs };
    if (info.code !== undefined) change.code = info.code;
    if (info.reason) change.reason = info.reason;
    this.setState(change);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopped) void this.attempt();
    }, delayMs);
  }

  /** Stops for good (until `connect()`): timers off, socket closed, everything pending failed. */
  private finish(change: StateChange, error?: HeraldError): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.outboxTimer);
    this.reconnectTimer = undefined;
    this.outboxTimer = undefined;
    const socket = this.socket;
    this.dropSocket();
    if (socket) abandon(socket, 1000);
    const closed = error ?? new HeraldError("closed", "the client was closed", "");
    this.requests.failAll((action) => new HeraldError("closed", closed.message, action));
    this.outbox.rejectAll(new HeraldError("closed", closed.message, "msg-im"));
    for (const waiter of [...this.openWaiters]) waiter.reject(closed);
    this.openWaiters.clear();
    for (const waiter of [...this.syncedWaiters]) waiter.reject(closed);
    this.syncedWaiters.clear();
    this.setState(change);
    if (error) this.report(error);
  }

  private dropSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.openGen = 0;
    this.gen += 1; // late callbacks of this socket are ignored
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.healthyTimer);
    this.heartbeatTimer = undefined;
    this.healthyTimer = undefined;
    if (socket) detach(socket);
  }

  private setState(change: StateChange): void {
    this.current = change.state;
    this.events.emit("state", change);
  }

  private report(err: HeraldError): void {
    this.events.emit("error", err);
  }

  // ---- liveness ----

  /** The server pings; this side also asks (`ping`) when nothing came for `pingIntervalMs`, and
   *  gives the connection up when nothing at all comes within `pongTimeoutMs` of that. */
  private startHeartbeat(): void {
    const tick = Math.min(5000, Math.max(20, Math.min(this.opts.pingIntervalMs, this.opts.pongTimeoutMs) / 4));
    this.heartbeatTimer = setInterval(() => this.heartbeat(), tick);
  }

  private heartbeat(): void {
    const now = Date.now();
    if (this.pingSentAt === undefined) {
      if (now - this.lastFrameAt >= this.opts.pingIntervalMs) {
        this.pingSentAt = now;
        this.requestNow(this.openGen, "ping", undefined, this.opts.pongTimeoutMs).catch(() => {});
      }
      return;
    }
    if (now - this.pingSentAt >= this.opts.pongTimeoutMs) {
      const socket = this.socket;
      this.onClosed(undefined, `no frame within ${this.opts.pongTimeoutMs} ms of a ping`);
      if (socket) abandon(socket, 4000);
    }
  }

  // ---- frames ----

  private onFrame(data: unknown): void {
    this.lastFrameAt = Date.now();
    this.pingSentAt = undefined;
    const frame = decodeFrame(data);
    if (!frame) {
      this.report(new HeraldError("bad_response", "a frame that is not a Herald frame", ""));
      return;
    }
    if (this.requests.settle(frame)) return;
    if (frame.reqId !== undefined && frame.reqId !== null) return; // the reply to a request given up on
    if (frame.status === "error") {
      this.report(new HeraldError(frame.code ?? 0, frame.error ?? "error", frame.action));
      return;
    }
    this.onPush(frame);
  }

  private onPush(frame: ServerFrame): void {
    const data = frame.data as never;
    switch (frame.action) {
      case "msg-im":
        return this.onMessage(frame.data);
      case "msg-read":
        return this.events.emit("read", data);
      case "msg-readBy":
        return this.events.emit("readBy", data);
      case "msg-delete":
        return this.events.emit("recall", data);
      case "conv-membersAdded": {
        const change = frame.data as { convId: string; linkKeys: string[]; by: string | null };
        this.events.emit("conversation", { type: "membersAdded", ...change });
        return this.discover(change.convId);
      }
      case "conv-membersRemoved":
        return this.events.emit("conversation", { type: "membersRemoved", ...(frame.data as object) } as never);
      case "conv-archive":
        return this.events.emit("conversation", { type: "archive", ...(frame.data as object) } as never);
      case "typing":
        return this.events.emit("typing", data);
      case "chat-msg-im":
        return this.events.emit("room", data);
      case "friend-request":
        return this.events.emit("friendRequest", data);
      case "friend-accepted":
        return this.events.emit("friendAccepted", data);
      case "friend-rejected":
        return this.events.emit("friendRejected", data);
      case "presence":
        return this.events.emit("presence", data);
      case "signal":
        return this.events.emit("signal", data);
      case "kickout":
        return this.events.emit("kickout", data);
      default: {
        const push: HeraldEvents["push"] = { action: frame.action, data: frame.data };
        if (typeof frame.code === "number") push.code = frame.code;
        return this.events.emit("push", push);
      }
    }
  }

  private onMessage(data: unknown): void {
    const msg = data as MsgData | undefined;
    if (!msg || typeof msg.ConversationID !== "string" || typeof msg.Seq !== "number") {
      this.report(new HeraldError("bad_response", "a msg-im push without ConversationID and Seq", "msg-im"));
      return;
    }
    this.deliver(this.ordering.offer(msg));
  }

  private deliver(delivery: Delivery): void {
    this.emitMessages(delivery.emit);
    for (const conv of delivery.sync) this.syncGap(conv);
  }

  private emitMessages(msgs: readonly MsgData[]): void {
    for (const msg of msgs) this.events.emit("message", msg);
  }

  /** A conversation this session was just added to, or created, or joined: if it was not known, it
   *  starts at 0 and is synced, so every message of it is emitted. */
  discover(conv: string): void {
    if (!this.baselined || this.ordering.isHeld) return; // the catch-up places it
    if (this.ordering.learn(conv, 0)) this.syncGap(conv);
  }

  // ---- requests ----

  /** A request on the open connection, or on the next one (waiting up to `requestTimeoutMs`). */
  async request(action: string, param?: unknown, data?: unknown): Promise<unknown> {
    if (this.current === "closed") throw new HeraldError("closed", "the client is closed", action);
    const gen = this.openGen !== 0 ? this.openGen : await this.waitOpen(action);
    return this.requestNow(gen, action, param, this.opts.requestTimeoutMs, data);
  }

  private waitOpen(action: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter<number> = {
        resolve: (gen) => {
          clearTimeout(timer);
          resolve(gen);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(new HeraldError(err.code, err.message, action));
        },
      };
      const timer = setTimeout(() => {
        this.openWaiters.delete(waiter);
        reject(new HeraldError("timeout", `not connected within ${this.opts.requestTimeoutMs} ms`, action));
      }, this.opts.requestTimeoutMs);
      this.openWaiters.add(waiter);
    });
  }

  /** A request on connection `gen` only: fails with `disconnected` when that one is gone. */
  private requestNow(
    gen: number,
    action: string,
    param: unknown,
    timeoutMs = this.opts.requestTimeoutMs,
    data?: unknown,
  ): Promise<unknown> {
    const socket = this.socket;
    if (gen === 0 || gen !== this.openGen || !socket || socket.readyState !== OPEN) {
      return Promise.reject(new HeraldError("disconnected", "not connected", action));
    }
    const { reqId, reply } = this.requests.create(action, timeoutMs);
    try {
      socket.send(encodeFrame({ action, reqId, param, data }, this.opts.msgpack));
    } catch (err) {
      this.requests.fail(reqId, asHeraldError(err, "disconnected", action));
    }
    return reply;
  }

  // ---- sends ----

  /** Queues a send in the outbox; it is written now when connected, else after the next connect. */
  send(message: OutgoingMessage): Promise<MsgData> {
    if (this.current === "closed") {
      return Promise.reject(new HeraldError("closed", "the client is closed", "msg-im"));
    }
    const stored = this.outbox.add(message);
    this.pumpOutbox();
    return stored;
  }

  private pumpOutbox(): void {
    const gen = this.openGen;
    if (gen !== 0) {
      const slots = MAX_SENDS_IN_FLIGHT - this.outbox.inFlight;
      for (const entry of slots > 0 ? this.outbox.take(slots, Date.now()) : []) {
        const param = {
          convId: entry.convId,
          msgKey: entry.msgKey,
          msgType: entry.msgType,
          msgContent: entry.content,
        };
        this.requestNow(gen, "msg-im", param).then(
          (data) => {
            this.outbox.acked(entry, data as MsgData);
            this.pumpOutbox();
          },
          (err: unknown) => {
            this.outbox.failed(entry, err, Date.now());
            this.pumpOutbox();
          },
        );
      }
    }
    this.armOutboxTimer();
  }

  /** Wakes the outbox when its next retry is due (on an open connection; a new one pumps anyway). */
  private armOutboxTimer(): void {
    clearTimeout(this.outboxTimer);
    this.outboxTimer = undefined;
    const due = this.outbox.nextDue();
    if (due === undefined || this.openGen === 0 || this.stopped) return;
    const wait = due - Date.now();
    if (wait <= 0 && this.outbox.inFlight >= MAX_SENDS_IN_FLIGHT) return; // an answer pumps again
    this.outboxTimer = setTimeout(() => this.pumpOutbox(), Math.max(0, wait));
  }

  // ---- catch-up and sync ----

  /** After a connect: list the conversations, place the ones not seen before, sync every one
   *  whose last `Seq` is past its cursor, then emit what waited. */
  private async catchUp(gen: number): Promise<void> {
    this.ordering.hold();
    this.stalls.clear();
    let conversations = 0;
    let messages = 0;
    try {
      const entries = await this.listAll(gen);
      const behind: string[] = [];
      for (const entry of entries) {
        const last = entry.lastMsg?.Seq ?? 0;
        if (this.baselined) this.ordering.learn(entry.convId, 0);
        else this.ordering.baseline(entry.convId, last);
        if (last > (this.ordering.cursor(entry.convId) ?? 0)) behind.push(entry.convId);
      }
      conversations = behind.length;
      messages = await this.syncConvs(gen, behind);
    } catch (err) {
      if (gen !== this.openGen || this.stopped) return; // that connection is gone: the next one catches up
      this.report(asHeraldError(err, "bad_response", "sync"));
      // a connection that cannot catch up is replaced (with backoff), rather than left half in sync
      const socket = this.socket;
      this.onClosed(undefined, "catch-up failed");
      if (socket) abandon(socket, 1000);
      return;
    }
    if (gen !== this.openGen || this.stopped) return;
    this.baselined = true;
    this.syncedGen = gen;
    this.deliver(this.ordering.release());
    this.events.emit("synced", { conversations, messages });
    for (const waiter of [...this.syncedWaiters]) waiter.resolve();
    this.syncedWaiters.clear();
  }

  private async listAll(gen: number): Promise<ConversationEntry[]> {
    const all: ConversationEntry[] = [];
    let cursor: string | null = null;
    do {
      const page = (await this.requestNow(gen, "conv-list", { cursor, limit: LIST_PAGE })) as ConversationPage;
      all.push(...page.convs);
      cursor = page.next;
    } while (cursor);
    return all;
  }

  /** A conversation with a gap (or unknown until now): synced on the open connection, unless it
   *  already syncs, a catch-up will, or its gap stalled. */
  private syncGap(conv: string): void {
    const gen = this.openGen;
    if (gen === 0 || this.ordering.isHeld || this.ordering.isSyncing(conv)) return;
    if ((this.stalls.get(conv) ?? 0) >= 2) return;
    this.syncConvs(gen, [conv]).catch((err: unknown) => {
      if (gen === this.openGen && !this.stopped) this.report(asHeraldError(err, "bad_response", "sync"));
    });
  }

  /** Syncs `convs` from their cursors until the server has nothing more; returns the messages emitted. */
  private async syncConvs(gen: number, convs: readonly string[]): Promise<number> {
    const from = new Map<string, number>();
    for (const conv of convs) from.set(conv, this.ordering.beginSync(conv));
    let emitted = 0;
    try {
      let pending = [...convs];
      let batchSize = SYNC_BATCH;
      let idleRounds = 0;
      while (pending.length > 0) {
        const batch = pending.splice(0, batchSize);
        const ask: Record<string, number> = {};
        for (const conv of batch) ask[conv] = this.ordering.cursor(conv) ?? 0;
        let reply: SyncReply;
        try {
          reply = (await this.requestNow(gen, "sync", { convs: ask })) as SyncReply;
        } catch (err) {
          if (!isMembershipError(err)) throw err;
          if (batch.length > 1) {
            // one of them is no longer this session's: find which, one at a time
            batchSize = 1;
            pending = [...batch, ...pending];
          } else if (batch[0] !== undefined) {
            this.ordering.dropBuffer(batch[0]);
          }
          continue;
        }
        let round = 0;
        for (const conv of batch) {
          const entry = reply.convs?.[conv];
          if (!entry) continue;
          const out = this.ordering.applySync(conv, entry.msgs);
          round += out.length;
          this.emitMessages(out);
          if (entry.hasMore) pending.push(conv);
        }
        emitted += round;
        idleRounds = round === 0 && pending.length > 0 ? idleRounds + 1 : 0;
        if (idleRounds >= MAX_IDLE_SYNC_ROUNDS) {
          throw new HeraldError("bad_response", "sync says hasMore but returns nothing new", "sync");
        }
      }
    } finally {
      for (const conv of convs) {
        const delivery = this.ordering.endSync(conv);
        const moved = (this.ordering.cursor(conv) ?? 0) !== from.get(conv);
        if (delivery.sync.length > 0 && !moved) this.stalls.set(conv, (this.stalls.get(conv) ?? 0) + 1);
        else this.stalls.delete(conv);
        this.deliver(delivery);
      }
    }
    return emitted;
  }
}

function detach(socket: SocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = () => {}; // an error after this must not be unhandled (`ws` throws on unhandled errors)
}

/** Leaves a socket without waiting for it: dropped outright where the platform can (`ws`), else closed. */
function abandon(socket: SocketLike, code: number): void {
  detach(socket);
  try {
    if (socket.terminate) socket.terminate();
    else socket.close(code);
  } catch {
    // already closed
  }
}

/** Closes with 1000 and waits for the server's Close frame (RFC 6455), at most `CLOSE_WAIT_MS`. */
function closeGracefully(socket: SocketLike): Promise<void> {
  return new Promise<void>((resolve) => {
    detach(socket);
    const timer = setTimeout(() => {
      abandon(socket, 1000);
      resolve();
    }, CLOSE_WAIT_MS);
    socket.onclose = () => {
      clearTimeout(timer);
      resolve();
    };
    try {
      socket.close(1000, "client closed");
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
