/**
 * HTTP helpers over `fetch`: `HeraldHttp` for the client routes (protocol §4, a client token) and
 * the end-user account routes (§6, `/user/*`), and `HeraldInner` for an app's own backend
 * (`/inner/*`, the app secret). Every answer is the §2 envelope: `data` is returned, an error
 * becomes a `HeraldError` with the envelope's `code`.
 */

import { HeraldError } from "./errors.js";
import type { MsgData } from "./wire.js";

/** The part of `fetch` used: the platform's (Node 18+, browsers) unless one is passed. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{ status: number; headers: { get(name: string): string | null }; text(): Promise<string> }>;

type TokenSource = string | (() => string | Promise<string>);

function platformFetch(): FetchLike {
  const f = (globalThis as { fetch?: FetchLike }).fetch;
  if (!f) throw new Error("no fetch on this platform: pass the fetch option");
  return f.bind(globalThis);
}

/** One JSON request and its envelope. */
async function call(
  fetchFn: FetchLike,
  base: string,
  method: string,
  path: string,
  bearer: string | undefined,
  body?: unknown,
): Promise<unknown> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
  const init: { method: string; headers: Record<string, string>; body?: string } = { method, headers };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response: Awaited<ReturnType<FetchLike>>;
  let text: string;
  try {
    response = await fetchFn(`${base.replace(/\/+$/, "")}${path}`, init);
    text = await response.text();
  } catch (err) {
    throw new HeraldError("network", `${method} ${path}: ${err instanceof Error ? err.message : String(err)}`, path, {
      cause: err,
    });
  }
  let envelope: { code?: unknown; data?: unknown; error?: unknown } | undefined;
  try {
    envelope = text ? (JSON.parse(text) as typeof envelope) : undefined;
  } catch {
    envelope = undefined;
  }
  const status = response.status;
  if (envelope && typeof envelope.code === "number") {
    if (envelope.code === 0 && status < 300) return envelope.data;
    const retry = Number(response.headers.get("retry-after"));
    const extra: { status: number; retryAfter?: number } = { status };
    if (Number.isFinite(retry) && retry > 0) extra.retryAfter = retry;
    const message = typeof envelope.error === "string" ? envelope.error : `HTTP ${status}`;
    throw new HeraldError(envelope.code, message, path, extra);
  }
  throw new HeraldError("bad_response", `${method} ${path}: HTTP ${status} without a Herald envelope`, path, {
    status,
  });
}

// ---- shapes of the HTTP routes (seed 001's field names) ----

export interface SendResult {
  MsgID: string;
  Seq: number;
}

/** One entry of `/get_joined_conversation`. */
export interface JoinedConversation {
  ConversationID: string;
  ConversationType: number;
  Kind: "single" | "group";
  Name: string;
  Avatar: string;
  Owner: string;
  IsArchive: boolean;
  LastMsg: MsgData | null;
  UnreadNum: number;
  MemberCount: number;
}

export interface JoinedPage {
  Conversations: JoinedConversation[];
  /** The `cursor` of the following page; null at the end. */
  Next: string | null;
}

export interface ConversationDetail {
  ConversationID: string;
  /** Empty when the conversation has no message. */
  LastMsgID: string;
  LastSendTime: string;
  IsDelete: boolean;
  ConversationType: number;
  LastSendSession: string;
  IsArchive: boolean;
}

/** History answers: oldest first unless `desc`; `HasMore` when the reply budget cut them short. */
export interface MessagesPage {
  Msg: MsgData[];
  HasMore: boolean;
}

export interface NewConversation {
  /** The other members (for `single`: exactly one). */
  sessions?: string[];
  /** `group` (default) or `single`. */
  kind?: "group" | "single";
  /** The app's own integer tag. */
  conversationType?: number;
  name?: string;
  avatar?: string;
  open?: boolean;
}

function conversationBody(spec: NewConversation): Record<string, unknown> {
  const body: Record<string, unknown> = { sessions: spec.sessions ?? [] };
  if (spec.kind !== undefined) body.kind = spec.kind;
  if (spec.conversationType !== undefined) body.conversation_type = spec.conversationType;
  if (spec.name !== undefined) body.name = spec.name;
  if (spec.avatar !== undefined) body.avatar = spec.avatar;
  if (spec.open !== undefined) body.open = spec.open;
  return body;
}

export interface HeraldHttpOptions {
  /** The server's base URL, `http(s)://host:port`. */
  url: string;
  /** The client token (or a function returning one) for the §4 routes and `/user/logout`. */
  token?: TokenSource;
  fetch?: FetchLike;
}

/** The client routes of protocol §4 and the end-user account routes of §6. */
export class HeraldHttp {
  private readonly fetchFn: FetchLike;

  constructor(private readonly options: HeraldHttpOptions) {
    this.fetchFn = options.fetch ?? platformFetch();
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    const token = this.options.token;
    if (token === undefined) throw new HeraldError(10101, `${path} needs a client token (the token option)`, path);
    const bearer = typeof token === "string" ? token : await token();
    return (await call(this.fetchFn, this.options.url, "POST", path, bearer, body)) as T;
  }

  /** `/send_msg`: answered once the message is stored; a retried `clientMsgId` answers the original. */
  sendMessage(
    convId: string,
    content: string,
    options: { type?: number; status?: number; clientMsgId?: string } = {},
  ): Promise<SendResult> {
    const body: Record<string, unknown> = { conversation_id: convId, content, type: options.type ?? 1 };
    if (options.status !== undefined) body.status = options.status;
    if (options.clientMsgId !== undefined) body.client_msg_id = options.clientMsgId;
    return this.post("/send_msg", body);
  }

  async checkJoined(convId: string): Promise<boolean> {
    const data = await this.post<{ Joined: boolean }>("/check_joined_conversation", { conversation_id: convId });
    return data.Joined;
  }

  /** `/get_joined_conversation`, one page (`limit` default 100, at most 1000). */
  joinedConversations(options: { cursor?: string; limit?: number } = {}): Promise<JoinedPage> {
    return this.post("/get_joined_conversation", options);
  }

  conversationDetail(convId: string): Promise<ConversationDetail> {
    return this.post("/get_conversation_detail", { conversation_id: convId });
  }

  /** `/create_conversation`: the caller owns it; returns its id. */
  async createConversation(spec: NewConversation): Promise<string> {
    const data = await this.post<{ ConversationId: string }>("/create_conversation", conversationBody(spec));
    return data.ConversationId;
  }

  async joinConversation(convId: string): Promise<void> {
    await this.post("/join_conversation", { conversation_id: convId });
  }

  async leaveConversation(convId: string): Promise<void> {
    await this.post("/leave_conversation", { conversation_id: convId });
  }

  /** The id of the last message; empty when there is none. */
  async lastMessageId(convId: string): Promise<string> {
    const data = await this.post<{ MsgId: string }>("/get_lastone_msgid", { conversation_id: convId });
    return data.MsgId;
  }

  /** Inclusive, at most 1000 messages. */
  messagesByRange(convId: string, startMsgId: string, endMsgId: string, desc = false): Promise<MessagesPage> {
    return this.post("/get_conversation_msg_by_range", {
      conversation_id: convId,
      start_msg_id: startMsgId,
      end_msg_id: endMsgId,
      desc,
    });
  }

  /** The 30 before `msgId`, excluding it. */
  messagesBefore(convId: string, msgId: string, desc = false): Promise<MessagesPage> {
    return this.post("/get_conversation_30msg_before_the_id", { conversation_id: convId, msg_id: msgId, desc });
  }

  /** The 30 after `msgId`, excluding it. */
  messagesAfter(convId: string, msgId: string, desc = false): Promise<MessagesPage> {
    return this.post("/get_conversation_30msg_after_the_id", { conversation_id: convId, msg_id: msgId, desc });
  }

  /** The last 30. */
  lastMessages(convId: string, desc = false): Promise<MessagesPage> {
    return this.post("/get_conversation_last_30_msg", { conversation_id: convId, desc });
  }

  /** The last one (0 or 1 message). */
  lastMessage(convId: string): Promise<MessagesPage> {
    return this.post("/get_conversation_lastone_msg", { conversation_id: convId, desc: false });
  }

  // ---- end-user accounts (§6): only for apps with the setting end_user_accounts on ----

  /** `/user/register`; `app` defaults to `default`. */
  async register(userName: string, password: string, app?: string): Promise<void> {
    await call(this.fetchFn, this.options.url, "POST", "/user/register", undefined, {
      user_name: userName,
      password,
      ...(app === undefined ? {} : { app }),
    });
  }

  /** `/user/login`: a client token for the account's session (its user name). */
  async login(userName: string, password: string, options: { app?: string; platform?: number } = {}): Promise<string> {
    const data = (await call(this.fetchFn, this.options.url, "POST", "/user/login", undefined, {
      user_name: userName,
      password,
      ...options,
    })) as { token: string };
    return data.token;
  }

  /** `/user/set_password`: also revokes the session's earlier tokens. */
  async setPassword(userName: string, oldPassword: string, newPassword: string, app?: string): Promise<void> {
    await call(this.fetchFn, this.options.url, "POST", "/user/set_password", undefined, {
      user_name: userName,
      old_password: oldPassword,
      new_password: newPassword,
      ...(app === undefined ? {} : { app }),
    });
  }

  /** `/user/logout`: revokes this client's token (its connections are closed). */
  async logout(): Promise<void> {
    await this.post("/user/logout", {});
  }
}

/** App settings (protocol §6), as `/inner/settings` shows them. */
export interface AppSettings {
  login_policy: "multi" | "kick";
  require_friendship: boolean;
  spam_unanswered_limit: number;
  send_rate_per_sec: number;
  send_burst: number;
  end_user_accounts: boolean;
  max_members: number;
  before_send: { url: string; timeout_ms: number; fail_open: boolean } | null;
}

/** A partial update: only the fields given change; `before_send: null` turns the hook off. */
export type AppSettingsUpdate = Partial<Omit<AppSettings, "before_send">> & {
  before_send?: { url: string; timeout_ms?: number; fail_open?: boolean } | null;
};

export interface HeraldInnerOptions {
  url: string;
  /** The app secret. It must never reach a browser. */
  appSecret: string;
  fetch?: FetchLike;
}

/**
 * The app backend's routes (`/inner/*`), authenticated by the app secret: mint client tokens, manage
 * conversations and settings, send as a session. **For Node (server-side) code only**: whoever holds
 * the secret can act as any user of the app, so it must never be shipped to a browser — constructing
 * one where there is a `document` throws.
 */
export class HeraldInner {
  private readonly fetchFn: FetchLike;

  constructor(private readonly options: HeraldInnerOptions) {
    if ((globalThis as { document?: unknown }).document !== undefined) {
      throw new Error("HeraldInner holds the app secret: use it on your backend, never in a browser");
    }
    this.fetchFn = options.fetch ?? platformFetch();
  }

  private request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return call(this.fetchFn, this.options.url, method, path, this.options.appSecret, body) as Promise<T>;
  }

  /** `/inner/get_token`: a client token for `session` on `platform` (1 iOS, 2 Android, 3 web, 4 desktop, …). */
  getToken(session: string, platform = 0): Promise<string> {
    return this.request("POST", "/inner/get_token", { session, platform });
  }

  /** `/inner/create_conversation`: `sessions` may not be empty; the first owns it; closed unless `open`. */
  async createConversation(spec: NewConversation & { sessions: string[] }): Promise<string> {
    const data = await this.request<{ ConversationId: string }>(
      "POST",
      "/inner/create_conversation",
      conversationBody(spec),
    );
    return data.ConversationId;
  }

  async joinConversation(convId: string, sessions: string[]): Promise<void> {
    await this.request("POST", "/inner/join_conversation", { conversation_id: convId, sessions });
  }

  /** `/inner/kickout_conversation`: those sessions can no longer read or send. */
  async kickout(convId: string, sessions: string[]): Promise<void> {
    await this.request("POST", "/inner/kickout_conversation", { conversation_id: convId, sessions });
  }

  /** `/inner/set_archive_conversations`: archived conversations refuse new messages (409 / 10006). */
  async setArchive(convIds: string[], isArchive: boolean): Promise<void> {
    await this.request("POST", "/inner/set_archive_conversations", {
      conversation_ids: convIds,
      is_archive: isArchive,
    });
  }

  settings(): Promise<AppSettings> {
    return this.request("GET", "/inner/settings");
  }

  /** Applies within seconds on every gateway; returns the settings after the change. */
  updateSettings(update: AppSettingsUpdate): Promise<AppSettings> {
    return this.request("PUT", "/inner/settings", update);
  }

  /** Revokes every token of `session` issued until now and closes its connections. */
  async revokeSession(session: string): Promise<void> {
    await this.request("POST", "/inner/revoke_session", { session });
  }

  /** `/inner/send_msg`: sends as `session` (a bot answering, say), with every send rule of that session. */
  sendAs(message: {
    session: string;
    convId: string;
    content: string;
    type?: number;
    clientMsgId?: string;
  }): Promise<SendResult> {
    const body: Record<string, unknown> = {
      session: message.session,
      conversation_id: message.convId,
      content: message.content,
    };
    if (message.type !== undefined) body.type = message.type;
    if (message.clientMsgId !== undefined) body.client_msg_id = message.clientMsgId;
    return this.request("POST", "/inner/send_msg", body);
  }
}
