/**
 * Reconnect delays: exponential, capped, with jitter so that the clients of a restarted server do
 * not all come back in the same instant. Pure: the random source is injectable for tests.
 */

export interface BackoffOptions {
  /** Delay before the first retry, in ms (default 500). */
  initialDelayMs?: number;
  /** Longest delay, in ms (default 30000). */
  maxDelayMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** Share of each delay that is random, 0 to 1 (default 0.5: a delay is between half and all of its step). */
  jitter?: number;
}

export class Backoff {
  private readonly initial: number;
  private readonly max: number;
  private readonly factor: number;
  private readonly jitter: number;
  private failures = 0;

  constructor(options: BackoffOptions = {}, private readonly random: () => number = Math.random) {
    this.initial = Math.max(0, options.initialDelayMs ?? 500);
    this.max = Math.max(this.initial, options.maxDelayMs ?? 30_000);
    this.factor = Math.max(1, options.factor ?? 2);
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  /** The delay before the next attempt; counts one more failure. */
  next(): number {
    const step = Math.min(this.max, this.initial * this.factor ** this.failures);
    this.failures += 1;
    return Math.round(step * (1 - this.jitter * this.random()));
  }

  /** After a healthy connection: the next failure starts from the initial delay again. */
  reset(): void {
    this.failures = 0;
  }
}
