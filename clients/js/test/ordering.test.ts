/**
 * `Ordering` on its own: exactly once and in `Seq` order per conversation, whatever order pushes,
 * sync pages and duplicates come in.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ordering } from "../src/ordering.js";
import type { MsgData } from "../src/index.js";

function msg(conv: string, seq: number): MsgData {
  return {
    MsgId: `${conv}-${seq}`,
    ConversationID: conv,
    FromSession: "alice",
    SendTime: "2026-01-01T00:00:00.000000000Z",
    Status: 0,
    Type: 1,
    Content: `m${seq}`,
    Seq: seq,
  };
}

const seqsOf = (msgs: MsgData[]) => msgs.map((m) => m.Seq);

describe("ordering", () => {
  it("emits in-order pushes at once and drops duplicates", () => {
    const o = new Ordering({ c: 0 });
    assert.deepEqual(seqsOf(o.offer(msg("c", 1)).emit), [1]);
    assert.deepEqual(seqsOf(o.offer(msg("c", 2)).emit), [2]);
    const again = o.offer(msg("c", 2));
    assert.deepEqual(again, { emit: [], sync: [] });
    assert.equal(o.cursor("c"), 2);
  });

  it("a push past a gap waits and asks for a sync; the sync fills the gap, then the push follows", () => {
    const o = new Ordering({ c: 1 });
    assert.deepEqual(o.offer(msg("c", 4)), { emit: [], sync: ["c"] });
    assert.equal(o.beginSync("c"), 1);
    assert.deepEqual(o.offer(msg("c", 5)).emit, [], "pushes during a sync wait");
    assert.deepEqual(seqsOf(o.applySync("c", [msg("c", 2), msg("c", 3), msg("c", 4)])), [2, 3, 4]);
    const end = o.endSync("c");
    assert.deepEqual(seqsOf(end.emit), [5]);
    assert.deepEqual(end.sync, []);
    assert.equal(o.buffered(), 0);
  });

  it("a gap the sync did not reach is reported again", () => {
    const o = new Ordering({ c: 0 });
    o.offer(msg("c", 9));
    o.beginSync("c");
    o.applySync("c", [msg("c", 1), msg("c", 2)]);
    assert.deepEqual(o.endSync("c"), { emit: [], sync: ["c"] });
  });

  it("a conversation seen first in a push starts at 0 after the baseline", () => {
    const o = new Ordering({});
    assert.deepEqual(seqsOf(o.offer(msg("new", 1)).emit), [1]);
    assert.deepEqual(o.offer(msg("other", 3)), { emit: [], sync: ["other"] });
  });

  it("while held everything waits; the baseline never skips what arrived live", () => {
    const o = new Ordering();
    o.hold();
    assert.deepEqual(o.offer(msg("a", 7)).emit, []);
    assert.deepEqual(o.offer(msg("b", 3)).emit, []);
    assert.deepEqual(o.offer(msg("c", 2)).emit, []);
    o.baseline("a", 7); // listed with last Seq 7: the push of 7 came on this connection
    o.baseline("b", 2); // listed before its push of 3
    o.learn("x", 0);
    // "c" was not listed (created after the list): it starts at 0 and syncs
    const released = o.release();
    assert.deepEqual(seqsOf(released.emit), [7, 3]);
    assert.deepEqual(released.sync, ["c"]);
    assert.deepEqual(o.cursors(), { a: 7, b: 3, c: 0, x: 0 });
  });

  it("sync pages emit during a hold, pushes after the release", () => {
    const o = new Ordering({ c: 0 });
    o.hold();
    o.offer(msg("c", 3));
    o.beginSync("c");
    assert.deepEqual(seqsOf(o.applySync("c", [msg("c", 1), msg("c", 2)])), [1, 2]);
    assert.deepEqual(o.endSync("c"), { emit: [], sync: [] });
    assert.deepEqual(seqsOf(o.release().emit), [3]);
  });

  it("a full buffer drops newer messages and asks for a sync that fetches them", () => {
    const o = new Ordering({ c: 0 }, 2);
    o.offer(msg("c", 3));
    o.offer(msg("c", 4));
    o.offer(msg("c", 5)); // dropped
    o.beginSync("c");
    assert.deepEqual(seqsOf(o.applySync("c", [msg("c", 1), msg("c", 2)])), [1, 2]);
    const end = o.endSync("c");
    assert.deepEqual(seqsOf(end.emit), [3, 4]);
    assert.deepEqual(end.sync, [], "the sync began after the overflow: it fetched what was dropped");
    o.offer(msg("c", 7));
    o.offer(msg("c", 8));
    o.offer(msg("c", 9)); // dropped while not syncing
    assert.equal(o.buffered(), 2);
  });

  it("cursors given at start are resumed", () => {
    const o = new Ordering({ c: 41 });
    assert.deepEqual(o.offer(msg("c", 41)).emit, []);
    assert.deepEqual(seqsOf(o.offer(msg("c", 42)).emit), [42]);
    assert.deepEqual(o.cursors(), { c: 42 });
  });

  it("a random interleaving of pushes, duplicates and syncs emits 1..n once each", () => {
    for (let round = 0; round < 50; round++) {
      const n = 40;
      const o = new Ordering({ c: 0 });
      const out: MsgData[] = [];
      const all = Array.from({ length: n }, (_, i) => msg("c", i + 1));
      const pushes = [...all, ...all.filter(() => Math.random() < 0.3)].sort(() => Math.random() - 0.5);
      for (const push of pushes) {
        const d = o.offer(push);
        out.push(...d.emit);
        if (d.sync.length > 0 && Math.random() < 0.5) {
          const from = o.beginSync("c");
          out.push(...o.applySync("c", all.slice(from, from + 5)));
          out.push(...o.endSync("c").emit);
        }
      }
      const from = o.beginSync("c");
      out.push(...o.applySync("c", all.slice(from)));
      out.push(...o.endSync("c").emit);
      assert.deepEqual(seqsOf(out), all.map((m) => m.Seq));
    }
  });
});
