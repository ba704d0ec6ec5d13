/**
 * Clients for tests: fast reconnects, a fresh token per connection attempt (as an application
 * would fetch one), what each one received, and closing them all when the test ends.
 */

import {
  HeraldClient,
  type HeraldClientOptions,
  type HeraldError,
  type MsgData,
  type StateChange,
  type SyncedEvent,
} from "../../src/index.js";
import { eventually } from "./eventually.js";
import type { Herald } from "./herald.js";

export interface TestClient {
  client: HeraldClient;
  /** Every `message` event, in order. */
  messages: MsgData[];
  states: StateChange[];
  errors: HeraldError[];
  /** Every catch-up, in order. */
  synced: SyncedEvent[];
  /** How often the token callback was called. */
  tokens: number;
  /** The `message` events of one conversation. */
  of(convId: string): MsgData[];
}

export function testClient(
  herald: Herald,
  session: string,
  cleanup: (fn: () => Promise<void>) => void,
  options: Partial<HeraldClientOptions> = {},
): TestClient {
  const record: TestClient = {
    client: undefined as unknown as HeraldClient,
    messages: [],
    states: [],
    errors: [],
    synced: [],
    tokens: 0,
    of: (convId) => record.messages.filter((m) => m.ConversationID === convId),
  };
  record.client = new HeraldClient({
    url: herald.url,
    token: () => {
      record.tokens += 1;
      return herald.token(session);
    },
    reconnect: { initialDelayMs: 50, maxDelayMs: 400 },
    requestTimeoutMs: 10_000,
    ...options,
  });
  record.client.on("message", (m) => record.messages.push(m));
  record.client.on("state", (s) => record.states.push(s));
  record.client.on("error", (e) => record.errors.push(e));
  record.client.on("synced", (s) => record.synced.push(s));
  cleanup(() => record.client.close());
  return record;
}

/**
 * Waits until no message sent before now is still on its way to `receivers`: `sender` sends a
 * marker, and every receiver gets it — `message` events come in `Seq` order, so whatever came
 * before the marker in that conversation has been emitted by then (or never will be).
 */
export async function quiesce(sender: HeraldClient, convId: string, receivers: TestClient[]): Promise<MsgData> {
  const marker = await sender.send(convId, `marker ${Math.random()}`);
  for (const receiver of receivers) {
    await eventually(() => receiver.of(convId).some((m) => m.MsgId === marker.MsgId), {
      what: "the marker arrives",
      detail: () => `${receiver.of(convId).length} messages so far`,
    });
  }
  return marker;
}

/** The `Seq` values of `msgs`, in order. */
export function seqs(msgs: readonly MsgData[]): number[] {
  return msgs.map((m) => m.Seq);
}

/** 1, 2, …, n. */
export function oneTo(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
