/**
 * The small pure parts: reconnect delays, the outbox's retry decisions, the frame codec, the /ws URL.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encode } from "@msgpack/msgpack";
import { Backoff } from "../src/backoff.js";
import { decodeFrame, encodeFrame } from "../src/codec.js";
import { ErrorCode, HeraldError, type MsgData } from "../src/index.js";
import { Outbox } from "../src/outbox.js";
import { wsUrl } from "../src/socket.js";

describe("backoff", () => {
  it("grows exponentially up to the cap, with jitter below each step, and resets", () => {
    const low = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 }, () => 1);
    assert.deepEqual(
      Array.from({ length: 6 }, () => low.next()),
      [50, 100, 200, 400, 500, 500],
    );
    const high = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 }, () => 0);
    assert.deepEqual(
      Array.from({ length: 6 }, () => high.next()),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(high.attempts, 6);
    high.reset();
    assert.equal(high.next(), 100);
  });
});

describe("outbox", () => {
  const message = (n: number) => ({ convId: "c", msgKey: `k${n}`, msgType: "text" as const, content: `m${n}` });
  const stored = { MsgId: "1", Seq: 1 } as MsgData;

  it("is bounded", async () => {
    const outbox = new Outbox(2);
    void outbox.add(message(1));
    void outbox.add(message(2));
    await assert.rejects(outbox.add(message(3)), (err: HeraldError) => err.code === "outbox_full");
    assert.equal(outbox.size, 2);
  });

  it("keeps sends that failed in a retryable way, in order, and rejects the others", async () => {
    const outbox = new Outbox(10);
    const first = outbox.add(message(1));
    const second = outbox.add(message(2));
    const third = outbox.add(message(3));
    const [a, b, c] = outbox.take(10, 0);
    assert.deepEqual([a?.msgKey, b?.msgKey, c?.msgKey], ["k1", "k2", "k3"]);
    outbox.failed(a!, new HeraldError("disconnected", "gone", "msg-im"), 1000);
    outbox.failed(b!, new HeraldError(ErrorCode.Unavailable, "not confirmed", "msg-im"), 1000);
    outbox.failed(c!, new HeraldError(ErrorCode.NotMember, "not a member", "msg-im"), 1000);
    await assert.rejects(third, (err: HeraldError) => err.code === ErrorCode.NotMember);
    assert.deepEqual(
      outbox.take(10, 1000).map((e) => e.msgKey),
      ["k1"],
      "a dropped connection retries at once, an unavailable server later",
    );
    const fourth = outbox.add(message(4));
    assert.deepEqual(outbox.take(10, 1000), [], "a send made later waits behind the one to retry");
    assert.equal(outbox.nextDue(), b!.notBefore, "and the outbox wakes when that one is due");
    assert.deepEqual(outbox.take(10, 5000), [], "after a refusal, one at a time: k1 is in flight");
    outbox.acked(a!, stored);
    assert.equal(await first, stored);
    assert.deepEqual(
      outbox.take(10, 5000).map((e) => e.msgKey),
      ["k2", "k4"],
      "an acknowledgement ends that",
    );
    outbox.acked(b!, stored);
    assert.equal(await second, stored);
    assert.equal(outbox.size, 1);
    outbox.rejectAll(new HeraldError("closed", "closed", "msg-im"));
    await assert.rejects(fourth, (err: HeraldError) => err.code === "closed");
  });
});

describe("codec", () => {
  it("writes JSON or MessagePack and reads either", () => {
    const frame = { action: "ping", reqId: 7, param: undefined };
    assert.equal(encodeFrame(frame, false), '{"action":"ping","reqId":7}');
    const packed = encodeFrame(frame, true);
    assert.ok(packed instanceof Uint8Array);
    assert.deepEqual(decodeFrame(packed), { action: "ping", reqId: 7 });
    assert.deepEqual(decodeFrame(Buffer.from(encode({ action: "x", status: "ok" }))), { action: "x", status: "ok" });
    assert.deepEqual(decodeFrame('{"action":"x","status":"ok","data":1}'), { action: "x", status: "ok", data: 1 });
    assert.equal(decodeFrame("not json"), undefined);
    assert.equal(decodeFrame("[1]"), undefined);
  });

  it("builds the /ws URL from an http(s) base", () => {
    assert.equal(wsUrl("http://h:1", "a b"), "ws://h:1/ws?token=a+b");
    assert.equal(wsUrl("https://h/prefix/", "t"), "wss://h/prefix/ws?token=t");
    assert.throws(() => wsUrl("ftp://h", "t"));
  });
});
