/**
 * MessagePack mode: the same exchange with binary frames both ways, beside a JSON client in the
 * same conversation.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { oneTo, quiesce, seqs, testClient } from "./support/clients.js";
import { Herald } from "./support/herald.js";
import { Network } from "./support/network.js";

describe("msgpack", { timeout: 60_000 }, () => {
  it("binary frames both ways: requests, replies and pushes; every message once, in order", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const packed = new Network();
    const alice = testClient(herald, "alice", (fn) => t.after(fn), { msgpack: true, WebSocket: packed.WebSocket });
    const bob = testClient(herald, "bob", (fn) => t.after(fn), { msgpack: true, WebSocket: packed.WebSocket });
    const plain = new Network();
    const carol = testClient(herald, "carol", (fn) => t.after(fn), { WebSocket: plain.WebSocket });
    await Promise.all([alice.client.connect(), bob.client.connect(), carol.client.connect()]);

    const group = await alice.client.createGroup(["bob", "carol"], { name: "packed" });
    const conv = group.convId;
    const single = await bob.client.createSingle("alice");
    for (let i = 0; i < 10; i++) {
      const sender = [alice, bob, carol][i % 3]!;
      const stored = await sender.client.send(conv, `m${i} ünïcødé`, { type: i % 2 === 0 ? "text" : 7 });
      assert.equal(stored.Seq, i + 1);
      assert.equal(stored.Type, i % 2 === 0 ? 1 : 7);
    }
    await alice.client.send(single.convId, "just us");
    await quiesce(carol.client, conv, [alice, bob, carol]);

    for (const member of [alice, bob, carol]) {
      assert.deepEqual(seqs(member.of(conv)), oneTo(11), "every message once, in Seq order");
      assert.equal(member.of(conv)[3]?.Content, "m3 ünïcødé");
    }
    assert.deepEqual(bob.of(single.convId).map((m) => m.Content), ["just us"]);
    const history = await bob.client.history(conv, { limit: 3 });
    assert.deepEqual(seqs(history.msgs), [11, 10, 9], "history, newest first, over MessagePack");

    const out = packed.frames.filter((f) => f.direction === "out");
    const inbound = packed.frames.filter((f) => f.direction === "in");
    assert.ok(out.length > 0 && out.every((f) => f.binary), "every frame alice and bob wrote is binary");
    assert.ok(
      inbound.some((f) => f.binary && f.frame.action === "msg-im" && f.frame.reqId == null),
      "pushes come as MessagePack",
    );
    assert.ok(
      inbound.some((f) => f.binary && f.frame.action === "msg-im" && typeof f.frame.reqId === "number"),
      "replies come as MessagePack",
    );
    assert.ok(plain.frames.every((f) => !f.binary), "the JSON client's frames stay JSON text");
  });
});
