/**
 * The WebSocket the client runs on: the one the caller passes, else the platform's
 * (`globalThis.WebSocket`: browsers, Deno, Node 22+), else the `ws` package, imported only then and
 * only dynamically — so a browser build never needs `ws`. Only the WHATWG surface is used
 * (`onopen`/`onmessage`/`onclose`/`onerror`, `send`, `close`), which `ws` implements too.
 */

/** A WHATWG-compatible WebSocket constructor: the browser's, `ws`'s `WebSocket`, undici's. */
export type WebSocketConstructor = new (url: string) => unknown;

/** The part of a WebSocket the client uses. */
export interface SocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: { message?: string; error?: unknown }) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the connection without a closing handshake. */
  terminate?: () => void;
}

export const OPEN = 1;

/** The package name is in a variable so that bundlers do not try to bundle `ws` into browser builds. */
const WS_PACKAGE = "ws";

let cached: Promise<WebSocketConstructor> | undefined;

export function resolveWebSocket(given: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (given) return Promise.resolve(given);
  const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (platform) return Promise.resolve(platform);
  cached ??= import(/* @vite-ignore */ /* webpackIgnore: true */ WS_PACKAGE).then(
    (mod: { WebSocket?: WebSocketConstructor; default?: WebSocketConstructor }) => {
      const ctor = mod.WebSocket ?? mod.default;
      if (!ctor) throw new Error("the ws package has no WebSocket export");
      return ctor;
    },
    (err: unknown) => {
      cached = undefined;
      throw new Error(
        "no WebSocket: this platform has no globalThis.WebSocket; " +
          "install the ws package (npm install ws) or pass the WebSocket option",
        { cause: err },
      );
    },
  );
  return cached;
}

/** `http(s)://host[/prefix]` (or `ws(s)://…`) to the `/ws` URL with the token in the query. */
export function wsUrl(base: string, token: string): string {
  const url = new URL(base);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new Error(`url must be http(s) or ws(s), not ${url.protocol}`);
  }
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/ws`;
  url.search = "";
  url.searchParams.set("token", token);
  return url.toString();
}
