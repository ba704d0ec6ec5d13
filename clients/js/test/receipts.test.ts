/**
 * Read receipts against the real server: a member's read reaches the other members as a `readBy`
 * event, `readers()` answers each other member's cursor, and a conversation of more than 50
 * members has no receipts.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ReadByPush, ReadCursor, ReadState } from "../src/index.js";
import { testClient } from "./support/clients.js";
import { eventually } from "./support/eventually.js";
import { Herald } from "./support/herald.js";

const byName = (readers: ReadCursor[]) => [...readers].sort((a, b) => a.linkKey.localeCompare(b.linkKey));

describe("read receipts", { timeout: 60_000 }, () => {
  it("a member's read reaches the others as readBy, and readers() answers each other member's cursor", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const alice = testClient(herald, "alice", (fn) => t.after(fn));
    const bob = testClient(herald, "bob", (fn) => t.after(fn));
    const bobPhone = testClient(herald, "bob", (fn) => t.after(fn));
    const carol = testClient(herald, "carol", (fn) => t.after(fn));
    await Promise.all([alice, bob, bobPhone, carol].map((c) => c.client.connect()));
    const conv = (await alice.client.createGroup(["bob", "carol"])).convId;
    for (let i = 1; i <= 3; i++) await alice.client.send(conv, `m${i}`);

    const before = await alice.client.readers(conv);
    assert.deepEqual(
      { ...before, readers: byName(before.readers) },
      { convId: conv, receipts: true, readers: [{ linkKey: "bob", seq: 0 }, { linkKey: "carol", seq: 0 }] },
      "0: nothing read yet",
    );

    const alicesReceipts: ReadByPush[] = [];
    const bobsReceipts: ReadByPush[] = [];
    const bobsPhoneReads: ReadState[] = [];
    alice.client.on("readBy", (r) => alicesReceipts.push(r));
    bob.client.on("readBy", (r) => bobsReceipts.push(r));
    bobPhone.client.on("readBy", (r) => bobsReceipts.push(r));
    bobPhone.client.on("read", (r) => bobsPhoneReads.push(r));

    await bob.client.markRead(conv, 2);
    await eventually(() => alicesReceipts.length === 1, { what: "alice hears that bob read" });
    assert.deepEqual(alicesReceipts[0], { convId: conv, linkKey: "bob", seq: 2 });
    await eventually(() => bobsPhoneReads.length === 1, { what: "bob's other device hears of his read" });
    assert.deepEqual(bobsPhoneReads[0], { convId: conv, seq: 2, unreadNum: 1 });

    await carol.client.markRead(conv);
    await eventually(() => bobsReceipts.length === 2, { what: "both of bob's devices hear that carol read" });
    assert.deepEqual(bobsReceipts, [
      { convId: conv, linkKey: "carol", seq: 3 },
      { convId: conv, linkKey: "carol", seq: 3 },
    ], "bob's own read came to his devices as `read`, never as `readBy`");

    const seen = await alice.client.readers(conv);
    assert.deepEqual(
      { ...seen, readers: byName(seen.readers) },
      { convId: conv, receipts: true, readers: [{ linkKey: "bob", seq: 2 }, { linkKey: "carol", seq: 3 }] },
    );
    const bobsView = await bob.client.readers(conv);
    assert.deepEqual(
      byName(bobsView.readers),
      [{ linkKey: "alice", seq: 3 }, { linkKey: "carol", seq: 3 }],
      "each OTHER member, never the asker; a sender has read what it sent",
    );
  });

  it("a conversation of more than 50 members answers receipts: false and no readers", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const members = ["alice", ...Array.from({ length: 50 }, (_, i) => `member-${i + 1}`)];
    const big = await herald.inner.createConversation({ sessions: members, name: "fifty-one" });
    const small = await herald.inner.createConversation({ sessions: members.slice(0, 50), name: "fifty" });
    const alice = testClient(herald, "alice", (fn) => t.after(fn));
    await alice.client.connect();

    assert.deepEqual(await alice.client.readers(big), { convId: big, receipts: false, readers: [] });
    const fifty = await alice.client.readers(small);
    assert.equal(fifty.receipts, true, "50 members still have receipts");
    assert.equal(fifty.readers.length, 49);
  });
});
