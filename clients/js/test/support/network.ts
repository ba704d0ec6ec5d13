/**
 * The client's network, under the test's control: a WebSocket constructor (the client's
 * `WebSocket` option) whose sockets are real `ws` connections to the real server, which the test
 * can cut, keep from reconnecting, make lose one reply, or silence — and which records the frames
 * that crossed it. The server is never imitated: only the path to it is.
 */

import { decode } from "@msgpack/msgpack";
import WebSocket from "ws";
import type { WebSocketConstructor } from "../../src/index.js";

/** A port nothing listens on: connection attempts fail at once while the network is down. */
const REFUSED = "ws://127.0.0.1:9/ws";

export interface FrameRecord {
  direction: "out" | "in";
  binary: boolean;
  frame: { action?: string; reqId?: unknown; param?: Record<string, unknown>; status?: string };
}

function parse(data: unknown): FrameRecord["frame"] {
  try {
    if (typeof data === "string") return JSON.parse(data) as FrameRecord["frame"];
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      return decode(data as ArrayBuffer) as FrameRecord["frame"];
    }
  } catch {
    // not a frame of ours
  }
  return {};
}

export class Network {
  readonly frames: FrameRecord[] = [];
  /** Close codes the server answered with, per socket closed by the client. */
  readonly closeCodes: number[] = [];
  private online = true;
  private silent = false;
  private dropReplyTo: string | undefined;
  private readonly sockets = new Set<WebSocket>();

  /** The constructor to pass as the client's `WebSocket` option. */
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    const network = this;
    this.WebSocket = function ControlledSocket(url: string) {
      return network.open(url);
    } as unknown as WebSocketConstructor;
  }

  /** Cuts every connection (no closing handshake) and refuses new ones until `goOnline`. */
  goOffline(): void {
    this.online = false;
    for (const socket of this.sockets) socket.terminate();
  }

  goOnline(): void {
    this.online = true;
  }

  /** From now on the server's frames are not delivered (a connection that died without a FIN). */
  silence(): void {
    this.silent = true;
  }

  /** The server's frames are delivered again. */
  speak(): void {
    this.silent = false;
  }

  /** The next reply to `action` is lost, and its connection cut right after (the server did it). */
  loseNextReply(action: string): void {
    this.dropReplyTo = action;
  }

  /** Frames the client wrote for `action` (`msgKey`: only the sends with that key). */
  sent(action: string, msgKey?: string): FrameRecord[] {
    return this.frames.filter(
      (f) =>
        f.direction === "out" &&
        f.frame.action === action &&
        (msgKey === undefined || f.frame.param?.msgKey === msgKey),
    );
  }

  private open(url: string): object {
    const ws = new WebSocket(this.online ? url : REFUSED);
    this.sockets.add(ws);
    ws.on("close", () => this.sockets.delete(ws));
    const network = this;
    const socket = {
      onopen: null as ((event: unknown) => void) | null,
      onmessage: null as ((event: { data: unknown }) => void) | null,
      onclose: null as ((event: { code: number; reason: string }) => void) | null,
      onerror: null as ((event: { message?: string }) => void) | null,
      get readyState() {
        return ws.readyState;
      },
      get binaryType() {
        return ws.binaryType;
      },
      set binaryType(value: string) {
        ws.binaryType = value as typeof ws.binaryType;
      },
      send(data: string | Uint8Array) {
        network.frames.push({ direction: "out", binary: typeof data !== "string", frame: parse(data) });
        ws.send(data);
      },
      close(code?: number, reason?: string) {
        ws.once("close", (closeCode) => network.closeCodes.push(closeCode));
        ws.close(code, reason);
      },
      terminate() {
        ws.terminate();
      },
    };
    ws.onopen = (event) => socket.onopen?.(event);
    ws.onerror = (event) => socket.onerror?.({ message: event.message });
    ws.onclose = (event) => socket.onclose?.({ code: event.code, reason: event.reason });
    ws.onmessage = (event) => {
      if (network.silent) return;
      const binary = typeof event.data !== "string";
      const frame = parse(event.data);
      network.frames.push({ direction: "in", binary, frame });
      if (network.dropReplyTo !== undefined && frame.action === network.dropReplyTo && frame.reqId != null) {
        network.dropReplyTo = undefined;
        ws.terminate();
        return;
      }
      socket.onmessage?.({ data: event.data });
    };
    return socket;
  }
}
