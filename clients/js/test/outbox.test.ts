/**
 * Sends while the client's network is down wait in the bounded outbox and are stored once each after
 * it reconnects; a send whose reply was lost is re-sent with the same `msgKey` and stored once; a
 * retried `msgKey` answers the original message. Also: a silent connection is given up and
 * replaced, and `close()` is a proper WebSocket close (1000).
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HeraldError } from "../src/index.js";
import { oneTo, quiesce, seqs, testClient } from "./support/clients.js";
import { eventually } from "./support/eventually.js";
import { Herald } from "./support/herald.js";
import { Network } from "./support/network.js";

describe("outbox", { timeout: 60_000 }, () => {
  it("sends made offline wait, then are stored once each; lost replies and retried keys make no duplicate", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const network = new Network();
    const alice = testClient(herald, "alice", (fn) => t.after(fn), { WebSocket: network.WebSocket });
    const bob = testClient(herald, "bob", (fn) => t.after(fn));
    await Promise.all([alice.client.connect(), bob.client.connect()]);
    const conv = (await alice.client.createGroup(["bob"])).convId;

    network.goOffline();
    await eventually(() => alice.client.state === "reconnecting", { what: "alice notices she is offline" });
    const settled: boolean[] = [];
    const offline = Array.from({ length: 20 }, (_, i) => {
      const sent = alice.client.send(conv, `offline ${i}`);
      void sent.then(() => settled.push(true));
      return sent;
    });
    assert.equal(alice.client.pendingSends, 20, "they wait in the outbox");
    assert.equal(network.sent("msg-im").length, 0, "nothing was written");

    network.goOnline();
    const stored = await Promise.all(offline);
    assert.equal(settled.length, 20);
    assert.deepEqual(seqs(stored), oneTo(20), "stored once each, in the order they were made");
    assert.equal(new Set(stored.map((m) => m.MsgId)).size, 20);
    assert.equal(alice.client.pendingSends, 0);

    // the server stores a send but its reply never arrives: the client re-sends it with the same key
    network.loseNextReply("msg-im");
    const lost = await alice.client.send(conv, "reply lost", { msgKey: "key-lost" });
    assert.equal(lost.Seq, 21);
    assert.ok(network.sent("msg-im", "key-lost").length >= 2, "it was written again after the reconnect");

    // the application retries a send itself with the same key: the original answers
    const retried = await alice.client.send(conv, "a different text", { msgKey: "key-lost" });
    assert.equal(retried.MsgId, lost.MsgId, "a retried msgKey yields the same MsgId");
    assert.equal(retried.Seq, 21);
    assert.equal(retried.Content, "reply lost");

    await quiesce(alice.client, conv, [alice, bob]);
    for (const side of [alice, bob]) {
      assert.deepEqual(seqs(side.of(conv)), oneTo(22), "every message once, in order");
    }
    assert.equal(bob.of(conv).filter((m) => m.ClientMsgId === "key-lost").length, 1, "no duplicate");
  });

  it("sends refused by the rate limit are retried until stored", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    await herald.inner.updateSettings({ send_rate_per_sec: 20, send_burst: 5 });
    const alice = testClient(herald, "alice", (fn) => t.after(fn));
    await alice.client.connect();
    const conv = (await alice.client.createGroup(["bob"])).convId;
    const started = Date.now();
    const stored = await Promise.all(Array.from({ length: 20 }, (_, i) => alice.client.send(conv, `${i}`)));
    assert.ok(Date.now() - started >= 500, "the server held them back: 15 past the burst at 20 a second");
    assert.deepEqual(
      stored.map((m) => m.Seq).sort((a, b) => a - b),
      oneTo(20),
      "stored once each",
    );
    assert.deepEqual(
      stored.map((m) => m.Content),
      oneTo(20).map((n) => `${n - 1}`),
    );
  });

  it("is bounded: a send past outboxLimit is refused at once, and close() fails what waits", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const network = new Network();
    const alice = testClient(herald, "alice", (fn) => t.after(fn), { WebSocket: network.WebSocket, outboxLimit: 3 });
    await alice.client.connect();
    const conv = (await alice.client.createGroup(["bob"])).convId;
    network.goOffline();
    await eventually(() => alice.client.state === "reconnecting", { what: "offline" });
    const waiting = [1, 2, 3].map((i) => alice.client.send(conv, `${i}`));
    await assert.rejects(alice.client.send(conv, "4"), (err: HeraldError) => err.code === "outbox_full");
    await alice.client.close();
    for (const send of waiting) {
      await assert.rejects(send, (err: HeraldError) => err instanceof HeraldError && err.code === "closed");
    }
    assert.equal(alice.client.state, "closed");
  });

  it("a connection that goes silent is given up after pongTimeoutMs and replaced", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const network = new Network();
    const alice = testClient(herald, "alice", (fn) => t.after(fn), {
      WebSocket: network.WebSocket,
      pingIntervalMs: 200,
      pongTimeoutMs: 300,
    });
    await alice.client.connect();
    const opened = alice.states.filter((s) => s.state === "open").length;
    network.silence();
    await eventually(() => alice.states.some((s) => s.state === "reconnecting"), {
      what: "the silent connection is given up",
    });
    assert.match(alice.states.find((s) => s.state === "reconnecting")?.reason ?? "", /no frame within 300 ms/);
    assert.ok(network.sent("ping").length >= 1, "it asked first");
    // the network talks again: the new connection works
    network.speak();
    await eventually(() => alice.states.filter((s) => s.state === "open").length > opened, {
      what: "a new connection opens",
    });
    assert.equal(await alice.client.ping(), "pong");
  });

  it("close() is a WebSocket close with code 1000, answered by the server", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const network = new Network();
    const alice = testClient(herald, "alice", (fn) => t.after(fn), { WebSocket: network.WebSocket });
    await alice.client.connect();
    await alice.client.close();
    assert.deepEqual(network.closeCodes, [1000], "the server echoed the client's 1000");
    assert.equal(alice.client.state, "closed");
    await assert.rejects(alice.client.ping(), (err: HeraldError) => err.code === "closed");
  });
});
