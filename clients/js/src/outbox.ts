/**
 * Sends not yet acknowledged: bounded, in the order the application made them. An entry leaves only
 * when the server answers it (the stored message) or refuses it for a reason a retry cannot fix;
 * until then it is sent again — with the same `msgKey`, which the server deduplicates — after a
 * reconnect, a timeout, or an "unavailable" or rate-limit answer. Retries keep the order: a send to
 * retry holds back later ones, and after such a failure sends go one at a time until one is
 * acknowledged. (Sends already written when one fails may still land before its retry.) No I/O
 * here: the client drives it.
 */

import { HeraldError, isRetryableSendError } from "./errors.js";
import type { MsgData, MsgType } from "./wire.js";

export interface OutgoingMessage {
  convId: string;
  msgKey: string;
  msgType: MsgType;
  content: string;
}

export interface OutboxEntry extends OutgoingMessage {
  inFlight: boolean;
  /** Failed attempts so far. */
  attempts: number;
  /** Not sent again before this time (ms since the epoch). */
  notBefore: number;
  resolve: (msg: MsgData) => void;
  reject: (err: unknown) => void;
}

/** Longest wait before a send is tried again on an open connection, in ms. */
const MAX_RETRY_DELAY_MS = 10_000;

export class Outbox {
  private readonly entries = new Set<OutboxEntry>();
  /** A send was refused for now or not answered: one at a time until one is acknowledged, so that
   *  the retries land in the order the sends were made. */
  private recovering = false;

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.entries.size;
  }

  get inFlight(): number {
    let n = 0;
    for (const entry of this.entries) if (entry.inFlight) n += 1;
    return n;
  }

  /** Queues a send; rejects at once when `limit` sends already wait. */
  add(message: OutgoingMessage): Promise<MsgData> {
    if (this.entries.size >= this.limit) {
      return Promise.reject(
        new HeraldError("outbox_full", `${this.limit} sends already wait for the server (outboxLimit)`, "msg-im"),
      );
    }
    return new Promise<MsgData>((resolve, reject) => {
      this.entries.add({ ...message, inFlight: false, attempts: 0, notBefore: 0, resolve, reject });
    });
  }

  /** Up to `slots` entries due at `now`, oldest first, marked in flight. An entry waiting to be
   *  retried holds back the ones made after it, so that retries do not reorder a sender's messages
   *  (entries already in flight are not held back: they were written before it failed). */
  take(slots: number, now: number): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    if (this.recovering) slots = Math.min(slots, 1 - this.inFlight);
    for (const entry of this.entries) {
      if (out.length >= slots) break;
      if (entry.inFlight) continue;
      if (entry.notBefore > now) break;
      entry.inFlight = true;
      out.push(entry);
    }
    return out;
  }

  /** The server stored it (or had stored it already: a retried `msgKey` answers the original). */
  acked(entry: OutboxEntry, msg: MsgData): void {
    if (!this.entries.delete(entry)) return;
    this.recovering = false;
    entry.resolve(msg);
  }

  /** An attempt failed: tried again later when a retry can succeed, else rejected. A dropped
   *  connection retries as soon as there is a new one; the others wait longer each time. */
  failed(entry: OutboxEntry, err: unknown, now: number): void {
    if (!this.entries.has(entry)) return;
    entry.inFlight = false;
    if (!isRetryableSendError(err)) {
      this.entries.delete(entry);
      entry.reject(err);
      return;
    }
    entry.attempts += 1;
    if (err instanceof HeraldError && err.code === "disconnected") {
      // the next connection writes them again, in order
      entry.notBefore = now;
      return;
    }
    this.recovering = true;
    entry.notBefore = now + Math.min(MAX_RETRY_DELAY_MS, 250 * 2 ** (entry.attempts - 1));
  }

  /** When `take` will next have something (ms since the epoch): the first waiting entry's time. */
  nextDue(): number | undefined {
    for (const entry of this.entries) if (!entry.inFlight) return entry.notBefore;
    return undefined;
  }

  rejectAll(err: unknown): void {
    const all = [...this.entries];
    this.entries.clear();
    for (const entry of all) entry.reject(err);
  }
}
