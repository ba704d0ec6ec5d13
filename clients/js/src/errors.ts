/**
 * Errors: one class, `HeraldError`, for what the server refuses (its numeric code from protocol §2)
 * and for what happens on the client's side (a string code), so an application handles both alike.
 */

/** The server's numeric error codes (protocol §2); the same in HTTP envelopes and /ws error replies. */
export const ErrorCode = {
  InvalidToken: 10101,
  InvalidParameter: 10001,
  Internal: 10002,
  NotAllowed: 10003,
  NotMember: 10004,
  NotFound: 10005,
  Conflict: 10006,
  TooLarge: 10007,
  RateLimited: 10008,
  RefusedBySpam: 10009,
  Unavailable: 10010,
  RefusedByApp: 10011,
  NotFriends: 1003,
  BadConversationType: 90010,
  ConversationNeedsMembers: 90011,
  UnsupportedProtocol: 90013,
} as const;

/**
 * What went wrong on the client's side:
 * - `timeout`: no reply within `requestTimeoutMs` (the request may or may not have been done);
 * - `disconnected`: the connection dropped before the reply came (ditto);
 * - `closed`: the client was closed (`close()`, a kickout, a revoked token);
 * - `outbox_full`: `outboxLimit` sends already wait;
 * - `network`: an HTTP request did not get an answer;
 * - `bad_response`: an answer that is not the documented envelope;
 * - `handler`: an event handler of the application threw (`cause` holds what it threw).
 */
export type ClientErrorCode =
  | "timeout"
  | "disconnected"
  | "closed"
  | "outbox_full"
  | "network"
  | "bad_response"
  | "handler";

export class HeraldError extends Error {
  /** The server's numeric code (see `ErrorCode`), or a `ClientErrorCode`. */
  readonly code: number | ClientErrorCode;
  /** The /ws action or HTTP route that failed (empty when the server could not tell). */
  readonly action: string;
  /** The HTTP status, for HTTP requests that got an answer. */
  readonly status: number | undefined;
  /** Seconds until a retry may succeed (HTTP `Retry-After`), when the server said. */
  readonly retryAfter: number | undefined;

  constructor(
    code: number | ClientErrorCode,
    message: string,
    action: string,
    extra: { status?: number; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "HeraldError";
    this.code = code;
    this.action = action;
    this.status = extra.status;
    this.retryAfter = extra.retryAfter;
  }
}

/** Whether retrying the same send (same `msgKey`) later can succeed: the connection or the server was
 *  not able to confirm it, or a rate limit refused it for now. Anything else is the answer. */
export function isRetryableSendError(err: unknown): boolean {
  if (!(err instanceof HeraldError)) return false;
  return (
    err.code === "timeout" ||
    err.code === "disconnected" ||
    err.code === ErrorCode.Unavailable ||
    err.code === ErrorCode.RateLimited ||
    err.code === ErrorCode.Internal
  );
}
