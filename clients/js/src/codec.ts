/**
 * Frames in and out: JSON text, or MessagePack binary (protocol §5). The server answers in the
 * format of the client's last frame, and pushes come as JSON until the client's first frame, so
 * reading accepts both whatever the client writes.
 */

import { decode, encode } from "@msgpack/msgpack";
import type { ServerFrame } from "./wire.js";

export interface ClientFrame {
  action: string;
  reqId: number;
  param?: unknown;
  data?: unknown;
}

export function encodeFrame(frame: ClientFrame, msgpack: boolean): string | Uint8Array {
  if (!msgpack) return JSON.stringify(frame);
  // `undefined` fields are left out, as JSON.stringify does
  return encode(frame, { ignoreUndefined: true });
}

/** A frame as received (`ws` in Node: string or ArrayBuffer/Buffer; browsers: string or ArrayBuffer);
 *  undefined when it is not an object frame. */
export function decodeFrame(data: unknown): ServerFrame | undefined {
  let value: unknown;
  try {
    if (typeof data === "string") {
      value = JSON.parse(data);
    } else if (data instanceof ArrayBuffer) {
      value = decode(new Uint8Array(data));
    } else if (ArrayBuffer.isView(data)) {
      value = decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } else if (Array.isArray(data) && data.every((part) => ArrayBuffer.isView(part))) {
      // `ws` with binaryType "fragments"
      const parts = data as ArrayBufferView[];
      const total = parts.reduce((n, part) => n + part.byteLength, 0);
      const whole = new Uint8Array(total);
      let at = 0;
      for (const part of parts) {
        whole.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), at);
        at += part.byteLength;
      }
      value = decode(whole);
    } else {
      return undefined;
    }
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const frame = value as Record<string, unknown>;
  if (typeof frame.action !== "string") return undefined;
  return frame as unknown as ServerFrame;
}
