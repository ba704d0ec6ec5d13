/**
 * The server is SIGKILLed and restarted (same data dir, same port) in the middle of a conversation
 * while the peer keeps sending before, during and after: the receiving client reconnects by itself
 * and its `message` events are exactly the stored messages, once each, in `Seq` order.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MsgData } from "../src/index.js";
import { oneTo, quiesce, seqs, testClient } from "./support/clients.js";
import { eventually } from "./support/eventually.js";
import { Herald } from "./support/herald.js";
import { Network } from "./support/network.js";

describe("server restart", { timeout: 90_000 }, () => {
  it("a client misses nothing and sees nothing twice across a kill and restart", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const alice = testClient(herald, "alice", (fn) => t.after(fn));
    // bob's own network is held down after the restart until alice has sent more, so that his
    // catch-up has to fetch them with `sync`
    const network = new Network();
    const bob = testClient(herald, "bob", (fn) => t.after(fn), { WebSocket: network.WebSocket });
    const conv = await herald.inner.createConversation({ sessions: ["alice", "bob"], name: "restart" });
    // a second conversation, quiet during the outage, must not be disturbed
    const quiet = await herald.inner.createConversation({ sessions: ["alice", "bob"] });
    await Promise.all([alice.client.connect(), bob.client.connect()]);
    const connectsBefore = bob.tokens;

    const stored: MsgData[] = [];
    stored.push(await alice.client.send(quiet, "quiet 1"));
    for (let i = 0; i < 20; i++) stored.push(await alice.client.send(conv, `before ${i}`));
    await eventually(() => bob.of(conv).length === 20, { what: "bob gets the first 20 live" });

    await herald.kill();
    network.goOffline();
    await eventually(() => bob.client.state === "reconnecting" && alice.client.state === "reconnecting", {
      what: "both clients notice the server is gone",
    });
    // the peer keeps sending while the server is down: the sends wait in its outbox
    const during = Array.from({ length: 10 }, (_, i) => alice.client.send(conv, `during ${i}`));
    assert.equal(alice.client.pendingSends, 10);

    await herald.restart();
    stored.push(...(await Promise.all(during)));
    for (let i = 0; i < 10; i++) stored.push(await alice.client.send(conv, `after ${i}`));
    const catchUps = bob.synced.length;
    network.goOnline();
    await eventually(() => bob.synced.length > catchUps, { what: "bob reconnects and catches up" });
    assert.deepEqual(bob.synced.at(-1), { conversations: 1, messages: 20 }, "the 20 he missed, by sync");
    for (let i = 10; i < 20; i++) stored.push(await alice.client.send(conv, `after ${i}`));
    const marker = await quiesce(alice.client, conv, [bob]);

    const mine = stored.filter((m) => m.ConversationID === conv).sort((a, b) => a.Seq - b.Seq);
    assert.deepEqual(seqs(mine), oneTo(50), "50 sends stored once each, Seq 1..50");
    assert.deepEqual(seqs(bob.of(conv)), oneTo(51), "bob: every message once, in Seq order");
    assert.deepEqual(
      bob.of(conv).map((m) => m.MsgId),
      [...mine.map((m) => m.MsgId), marker.MsgId],
      "bob's messages are exactly the stored ones",
    );
    assert.deepEqual(
      bob.of(quiet).map((m) => m.Content),
      ["quiet 1"],
      "the quiet conversation: once",
    );
    const states = bob.states.map((s) => s.state);
    assert.ok(states.includes("reconnecting"), `bob reconnected by itself: ${states.join(" ")}`);
    assert.equal(bob.client.state, "open");
    assert.ok(bob.tokens > connectsBefore, "a fresh token for the new connection");
    assert.deepEqual(bob.client.cursors()[conv], 51, "the cursor to save is the last Seq emitted");
  });
});
