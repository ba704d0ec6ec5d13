/**
 * Exactly once, in `Seq` order, per conversation: the decisions behind the `message` event, as plain
 * synchronous code over data (no socket, no timer), so they are tested on their own.
 *
 * Per conversation it keeps the cursor (the last `Seq` handed to the application) and a bounded
 * buffer of messages that arrived early. A message at the cursor or before is a duplicate and is
 * dropped; the next one is emitted, with whatever buffered ones follow it; one past a gap is buffered
 * and the conversation is reported for a `sync`. While a conversation syncs, its pushes wait in the
 * buffer; `sync` answers are emitted as they come (they are contiguous from the cursor).
 *
 * While `held` (a connection's catch-up), every push waits: the conversation list says where
 * conversations not seen before start (`baseline`), and `release` then emits what can be emitted.
 */

import type { MsgData } from "./wire.js";

/** What to do after a step: messages to emit now, in order, and conversations to `sync`. */
export interface Delivery {
  emit: MsgData[];
  sync: string[];
}

interface ConvState {
  /** Last `Seq` emitted; undefined while the conversation's start is not decided (during a hold). */
  cursor: number | undefined;
  /** Messages past `cursor + 1`, by `Seq`. */
  buffer: Map<number, MsgData>;
  syncing: boolean;
  /** A message was dropped because the buffer was full: a sync must fetch it. */
  overflowed: boolean;
}

/** Messages buffered per conversation (past a gap, or during a sync) before newer ones are dropped
 *  and fetched by `sync` instead. */
export const DEFAULT_BUFFER_LIMIT = 10_000;

export class Ordering {
  private readonly convs = new Map<string, ConvState>();
  private held = false;

  constructor(cursors: Record<string, number> = {}, private readonly bufferLimit = DEFAULT_BUFFER_LIMIT) {
    for (const [conv, seq] of Object.entries(cursors)) this.learn(conv, seq);
  }

  /** The last `Seq` emitted in `conv`; undefined for a conversation not seen yet. */
  cursor(conv: string): number | undefined {
    return this.convs.get(conv)?.cursor;
  }

  /** Every conversation's cursor: what an application persists to resume later (the `cursors` option). */
  cursors(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [conv, state] of this.convs) if (state.cursor !== undefined) out[conv] = state.cursor;
    return out;
  }

  isSyncing(conv: string): boolean {
    return this.convs.get(conv)?.syncing ?? false;
  }

  /** Places a conversation not seen before at `seq` (nothing at or before it will be emitted).
   *  Returns false, and changes nothing, for one already placed. */
  learn(conv: string, seq: number): boolean {
    const state = this.state(conv);
    if (state.cursor !== undefined) return false;
    state.cursor = Math.max(0, seq);
    this.prune(state);
    return true;
  }

  /** Places a conversation not seen before at its last `Seq`, `last` — but never past a message that
   *  arrived on this connection, so what came live is emitted. Returns false for one already placed. */
  baseline(conv: string, last: number): boolean {
    const state = this.state(conv);
    if (state.cursor !== undefined) return false;
    let start = last;
    for (const seq of state.buffer.keys()) start = Math.min(start, seq - 1);
    return this.learn(conv, start);
  }

  /** From now until `release`, every message waits. */
  hold(): void {
    this.held = true;
  }

  get isHeld(): boolean {
    return this.held;
  }

  /** Ends a hold: conversations still unplaced start at 0 (every message of theirs is emitted, in
   *  order); each conversation's waiting messages are emitted as far as they are contiguous. */
  release(): Delivery {
    this.held = false;
    const out: Delivery = { emit: [], sync: [] };
    for (const [conv, state] of this.convs) {
      if (state.cursor === undefined) state.cursor = 0;
      if (state.syncing) continue;
      this.drain(state, out.emit);
      if (this.needsSync(state)) out.sync.push(conv);
    }
    return out;
  }

  /** A message pushed by the server. */
  offer(msg: MsgData): Delivery {
    const conv = msg.ConversationID;
    const state = this.state(conv);
    const out: Delivery = { emit: [], sync: [] };
    if (state.cursor === undefined && !this.held) state.cursor = 0;
    if (state.cursor !== undefined && msg.Seq <= state.cursor) return out;
    if (this.held || state.syncing || state.cursor === undefined) {
      this.buffer(state, msg);
      return out;
    }
    if (msg.Seq === state.cursor + 1) {
      state.cursor = msg.Seq;
      out.emit.push(msg);
      this.drain(state, out.emit);
    } else {
      this.buffer(state, msg);
    }
    if (this.needsSync(state)) out.sync.push(conv);
    return out;
  }

  /** A sync of `conv` starts: its pushes wait until `endSync`. Returns the `Seq` to sync from. */
  beginSync(conv: string): number {
    const state = this.state(conv);
    if (state.cursor === undefined) state.cursor = 0;
    state.syncing = true;
    state.overflowed = false;
    return state.cursor;
  }

  /** One page of a `sync` answer for `conv`: returns the messages to emit, in order. */
  applySync(conv: string, msgs: readonly MsgData[]): MsgData[] {
    const state = this.state(conv);
    if (state.cursor === undefined) state.cursor = 0;
    const emit: MsgData[] = [];
    for (const msg of [...msgs].sort((a, b) => a.Seq - b.Seq)) {
      if (msg.Seq <= state.cursor) continue;
      if (msg.Seq === state.cursor + 1) {
        state.cursor = msg.Seq;
        emit.push(msg);
      } else {
        this.buffer(state, msg);
      }
    }
    this.prune(state);
    return emit;
  }

  /** The sync of `conv` ended (done, failed or cut by a disconnect): its waiting messages are
   *  emitted as far as contiguous; it is reported again when a gap remains. */
  endSync(conv: string): Delivery {
    const state = this.state(conv);
    state.syncing = false;
    const out: Delivery = { emit: [], sync: [] };
    if (this.held || state.cursor === undefined) return out;
    this.drain(state, out.emit);
    if (this.needsSync(state)) out.sync.push(conv);
    return out;
  }

  /** Drops what waits for `conv` (this session is no longer a member: a sync cannot fill its gaps). */
  dropBuffer(conv: string): void {
    const state = this.convs.get(conv);
    if (!state) return;
    state.buffer.clear();
    state.overflowed = false;
  }

  /** Messages waiting, in all conversations (for tests and diagnostics). */
  buffered(): number {
    let n = 0;
    for (const state of this.convs.values()) n += state.buffer.size;
    return n;
  }

  private state(conv: string): ConvState {
    let state = this.convs.get(conv);
    if (!state) {
      state = { cursor: undefined, buffer: new Map(), syncing: false, overflowed: false };
      this.convs.set(conv, state);
    }
    return state;
  }

  private buffer(state: ConvState, msg: MsgData): void {
    if (state.buffer.has(msg.Seq)) return;
    if (state.buffer.size >= this.bufferLimit) {
      state.overflowed = true;
      return;
    }
    state.buffer.set(msg.Seq, msg);
  }

  private drain(state: ConvState, emit: MsgData[]): void {
    if (state.cursor === undefined) return;
    this.prune(state);
    for (;;) {
      const next = state.buffer.get(state.cursor + 1);
      if (!next) break;
      state.buffer.delete(next.Seq);
      state.cursor = next.Seq;
      emit.push(next);
    }
  }

  private prune(state: ConvState): void {
    if (state.cursor === undefined) return;
    for (const seq of state.buffer.keys()) if (seq <= state.cursor) state.buffer.delete(seq);
  }

  private needsSync(state: ConvState): boolean {
    return state.buffer.size > 0 || state.overflowed;
  }
}
