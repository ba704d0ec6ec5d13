/**
 * Requests waiting for their reply, by `reqId`: each is settled exactly once — by the reply with its
 * `reqId`, by its timeout, or when the connection it was sent on is gone.
 */

import { HeraldError } from "./errors.js";
import type { ServerFrame } from "./wire.js";

interface Waiting {
  action: string;
  resolve: (data: unknown) => void;
  reject: (err: HeraldError) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class Requests {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  get size(): number {
    return this.waiting.size;
  }

  /** A new request id and the promise its reply settles; rejected with `timeout` after `timeoutMs`. */
  create(action: string, timeoutMs: number): { reqId: number; reply: Promise<unknown> } {
    const reqId = this.nextId++;
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.waiting.delete(reqId)) return;
        reject(new HeraldError("timeout", `no reply to ${action} within ${timeoutMs} ms`, action));
      }, timeoutMs);
      this.waiting.set(reqId, { action, resolve, reject, timer });
    });
    return { reqId, reply };
  }

  /** Settles the request `frame` answers; false when it answers none (a late reply, or not a reply). */
  settle(frame: ServerFrame): boolean {
    if (typeof frame.reqId !== "number") return false;
    const waiting = this.waiting.get(frame.reqId);
    if (!waiting) return false;
    this.waiting.delete(frame.reqId);
    clearTimeout(waiting.timer);
    if (frame.status === "ok") {
      waiting.resolve(frame.data);
    } else {
      const code = typeof frame.code === "number" ? frame.code : 0;
      waiting.reject(new HeraldError(code, frame.error ?? "request failed", frame.action || waiting.action));
    }
    return true;
  }

  /** Fails one request (it could not be written). */
  fail(reqId: number, err: HeraldError): void {
    const waiting = this.waiting.get(reqId);
    if (!waiting) return;
    this.waiting.delete(reqId);
    clearTimeout(waiting.timer);
    waiting.reject(err);
  }

  /** Fails every waiting request: `make` builds each one's error from its action. */
  failAll(make: (action: string) => HeraldError): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const waiting of all) {
      clearTimeout(waiting.timer);
      waiting.reject(make(waiting.action));
    }
  }
}
