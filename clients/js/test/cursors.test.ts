/**
 * Where a conversation starts: a client without saved cursors treats what was sent before its first
 * connection as history; saved cursors resume exactly; a conversation first seen later — even one
 * created while the client was offline — starts at 0.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { oneTo, quiesce, seqs, testClient } from "./support/clients.js";
import { eventually } from "./support/eventually.js";
import { Herald } from "./support/herald.js";
import { Network } from "./support/network.js";

describe("cursors", { timeout: 60_000 }, () => {
  it("baseline without saved cursors, exact resume with them, new conversations from 0", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const alice = testClient(herald, "alice", (fn) => t.after(fn));
    await alice.client.connect();
    const old = (await alice.client.createGroup(["bob"])).convId;
    for (let i = 1; i <= 3; i++) await alice.client.send(old, `old ${i}`);

    const network = new Network();
    const fresh = testClient(herald, "bob", (fn) => t.after(fn), { WebSocket: network.WebSocket });
    await fresh.client.connect();
    assert.deepEqual(fresh.messages, [], "no saved cursors: what came before is history");
    assert.deepEqual(fresh.client.cursors(), { [old]: 3 });
    await quiesce(alice.client, old, [fresh]);
    assert.deepEqual(seqs(fresh.of(old)), [4]);

    const resumed = testClient(herald, "bob", (fn) => t.after(fn), { cursors: { [old]: 1 } });
    await resumed.client.connect();
    assert.deepEqual(seqs(resumed.of(old)), [2, 3, 4], "saved cursors resume where they were");

    // a conversation created and written to while the client is offline: every message of it
    network.goOffline();
    await eventually(() => fresh.client.state === "reconnecting", { what: "offline" });
    const created = (await alice.client.createGroup(["bob"])).convId;
    for (let i = 1; i <= 4; i++) await alice.client.send(created, `new ${i}`);
    network.goOnline();
    await quiesce(alice.client, created, [fresh, resumed]);
    assert.deepEqual(seqs(fresh.of(created)), oneTo(5));
    assert.deepEqual(seqs(resumed.of(created)), oneTo(5));
  });
});
