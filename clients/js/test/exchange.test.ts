/**
 * 1:1 and group exchange through a real `herald up`, with tokens minted by `HeraldInner.getToken`:
 * every member's `message` events are every message once, in `Seq` order — its own sends included.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { oneTo, quiesce, seqs, testClient } from "./support/clients.js";
import { eventually } from "./support/eventually.js";
import { Herald } from "./support/herald.js";

describe("exchange", { timeout: 60_000 }, () => {
  it("1:1: both ways, each side sees both sides' messages once, in order", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const alice = testClient(herald, "alice", (fn) => t.after(fn));
    const bob = testClient(herald, "bob", (fn) => t.after(fn));
    await Promise.all([alice.client.connect(), bob.client.connect()]);

    const single = await alice.client.createSingle("bob");
    assert.equal(single.convType, "single");
    assert.deepEqual([...single.linkKeys].sort(), ["alice", "bob"]);
    const again = await bob.client.createSingle("alice");
    assert.equal(again.convId, single.convId, "the same pair gets the same conversation");
    const conv = single.convId;

    const hello = await alice.client.send(conv, "hello bob");
    assert.equal(typeof hello.MsgId, "string");
    assert.equal(hello.Seq, 1);
    assert.equal(hello.FromSession, "alice");
    await eventually(() => bob.of(conv).length === 1, { what: "bob gets alice's message" });
    assert.equal(bob.of(conv)[0]?.Content, "hello bob");

    const reply = await bob.client.send(conv, "hi alice", { type: "text" });
    assert.equal(reply.Seq, 2);
    for (let i = 0; i < 10; i++) {
      await (i % 2 === 0 ? alice : bob).client.send(conv, `turn ${i}`);
    }
    await quiesce(alice.client, conv, [alice, bob]);
    for (const side of [alice, bob]) {
      assert.deepEqual(seqs(side.of(conv)), oneTo(13), "every message once, in Seq order");
    }
    assert.deepEqual(
      alice.of(conv).map((m) => m.MsgId),
      bob.of(conv).map((m) => m.MsgId),
      "both sides see the same messages",
    );
    assert.equal(alice.of(conv)[1]?.FromSession, "bob");
    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
  });

  it("group of three: concurrent senders, one order for every member", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const members = ["alice", "bob", "carol"].map((name) => testClient(herald, name, (fn) => t.after(fn)));
    await Promise.all(members.map((m) => m.client.connect()));
    const [alice, bob, carol] = members as [typeof members[0], typeof members[0], typeof members[0]];

    const group = await alice.client.createGroup(["bob", "carol"], { name: "team" });
    assert.equal(group.convType, "group");
    assert.equal(group.convName, "team");
    assert.equal(group.owner, "alice");
    const conv = group.convId;

    const perSender = 15;
    const sent = await Promise.all(
      members.map(async (member, index) => {
        const mine = [];
        for (let i = 0; i < perSender; i++) mine.push(await member.client.send(conv, `${index}:${i}`));
        return mine;
      }),
    );
    const marker = await quiesce(carol.client, conv, members);
    const total = 3 * perSender + 1;
    assert.equal(marker.Seq, total);
    for (const member of members) {
      assert.deepEqual(seqs(member.of(conv)), oneTo(total), "every message once, in Seq order");
    }
    const order = alice.of(conv).map((m) => m.MsgId);
    assert.deepEqual(bob.of(conv).map((m) => m.MsgId), order, "one order for everyone");
    assert.deepEqual(carol.of(conv).map((m) => m.MsgId), order);
    const stored = sent.flat().sort((a, b) => a.Seq - b.Seq);
    assert.deepEqual(
      stored.map((m) => m.MsgId),
      order.slice(0, -1),
      "what each send resolved with is what members received",
    );
    for (const [index, mine] of sent.entries()) {
      assert.deepEqual(
        mine.map((m) => m.Content),
        oneTo(perSender).map((i) => `${index}:${i - 1}`),
        "one sender's messages keep its order",
      );
    }
  });
});
