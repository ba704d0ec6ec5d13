/**
 * `pendingFriendRequests()` against the real server: a request made while its addressee was
 * offline (so no `friendRequest` push reached them) is listed when they connect, an answer removes
 * it, and `after` pages on by `linkKey`.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PendingFriendRequests } from "../src/index.js";
import { testClient } from "./support/clients.js";
import { Herald } from "./support/herald.js";

/** The unix time now, in milliseconds (what `createdAt` counts). */
const nowMs = () => Date.now();

/** Who is listed, and whether there is more. */
const names = (page: PendingFriendRequests) => ({ who: page.requests.map((r) => r.linkKey), hasMore: page.hasMore });

describe("pending friend requests", { timeout: 60_000 }, () => {
  it("a request made while alice was offline is listed when she connects, and gone once she answers it", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const bob = testClient(herald, "bob", (fn) => t.after(fn));
    await bob.client.connect();
    const before = nowMs();
    assert.deepEqual(await bob.client.friendRequest("alice", "hi, it's bob"), { linkKey: "alice" });
    const sent = nowMs();

    const alice = testClient(herald, "alice", (fn) => t.after(fn));
    const pushed: unknown[] = [];
    alice.client.on("friendRequest", (r) => pushed.push(r));
    await alice.client.connect();
    const pending = await alice.client.pendingFriendRequests();
    assert.equal(pending.requests.length, 1, JSON.stringify(pending));
    const [request] = pending.requests;
    assert.deepEqual(
      { ...request, createdAt: typeof request!.createdAt },
      { linkKey: "bob", information: "hi, it's bob", createdAt: "number" },
    );
    // a millisecond of slack each side: the two clocks are one machine's, read at different grains
    assert.ok(
      Number.isSafeInteger(request!.createdAt) && request!.createdAt >= before - 1 && request!.createdAt <= sent + 1,
      `createdAt ${request!.createdAt} is between ${before} and ${sent} (unix milliseconds)`,
    );
    assert.equal(pending.hasMore, false);
    assert.deepEqual(pushed, [], "the push went to live connections only: alice had none");

    assert.deepEqual(await alice.client.respondFriend("bob", true), { linkKey: "bob", accept: true });
    assert.deepEqual(await alice.client.pendingFriendRequests(), { requests: [], hasMore: false });
    assert.deepEqual(await alice.client.friends(), { friends: ["bob"], hasMore: false });
  });

  it("pages by linkKey: after skips up to and including the one named, and hasMore is false at the end", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    // asked in another order than the list's
    for (const name of ["erin", "carol", "dave"]) {
      const asker = testClient(herald, name, (fn) => t.after(fn));
      await asker.client.connect();
      await asker.client.friendRequest("alice", `from ${name}`);
    }
    const alice = testClient(herald, "alice", (fn) => t.after(fn));
    await alice.client.connect();

    const all = await alice.client.pendingFriendRequests();
    assert.deepEqual(
      all.requests.map((r) => [r.linkKey, r.information]),
      [["carol", "from carol"], ["dave", "from dave"], ["erin", "from erin"]],
    );
    assert.equal(all.hasMore, false);
    assert.deepEqual(names(await alice.client.pendingFriendRequests("carol")), { who: ["dave", "erin"], hasMore: false });
    assert.deepEqual(names(await alice.client.pendingFriendRequests("dave")), { who: ["erin"], hasMore: false });
    assert.deepEqual(names(await alice.client.pendingFriendRequests("erin")), { who: [], hasMore: false });

    // a rejection removes a request as an acceptance does
    await alice.client.respondFriend("dave", false);
    assert.deepEqual(names(await alice.client.pendingFriendRequests()), { who: ["carol", "erin"], hasMore: false });
  });
});
