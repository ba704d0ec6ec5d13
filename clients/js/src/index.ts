/**
 * herald-client: a TypeScript client for Herald (browsers and Node 20+). `HeraldClient` speaks the
 * /ws protocol with exactly-once, in-order delivery, reconnect and an offline outbox; `HeraldHttp`
 * and `HeraldInner` wrap the HTTP routes.
 */

export { HeraldClient } from "./client.js";
export type {
  CreateGroupOptions,
  HeraldClientOptions,
  HistoryOptions,
  ReconnectOptions,
  SendOptions,
} from "./client.js";
export type { BackoffOptions } from "./backoff.js";
export { ErrorCode, HeraldError } from "./errors.js";
export type { ClientErrorCode } from "./errors.js";
export type { ConnectionState, HeraldEvents, StateChange, SyncedEvent } from "./events.js";
export { HeraldHttp, HeraldInner } from "./http.js";
export type {
  AppSettings,
  AppSettingsUpdate,
  ConversationDetail,
  FetchLike,
  HeraldHttpOptions,
  HeraldInnerOptions,
  JoinedConversation,
  JoinedPage,
  MessagesPage,
  NewConversation,
  SendResult,
} from "./http.js";
export type { WebSocketConstructor } from "./socket.js";
export { MessageStatus } from "./wire.js";
export type * from "./wire.js";
