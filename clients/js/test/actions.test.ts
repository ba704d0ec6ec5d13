/**
 * The typed methods and events against the real server, one area at a time: what each resolves
 * with and what each push delivers are the shapes the types promise.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode, HeraldError, MessageStatus, type ConversationChange } from "../src/index.js";
import { quiesce, testClient } from "./support/clients.js";
import { eventually } from "./support/eventually.js";
import { Herald } from "./support/herald.js";

describe("actions", { timeout: 60_000 }, () => {
  it("messages: read cursor, history, recall, delete for me, errors as HeraldError", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const alice = testClient(herald, "alice", (fn) => t.after(fn));
    const bob = testClient(herald, "bob", (fn) => t.after(fn));
    const bobPhone = testClient(herald, "bob", (fn) => t.after(fn));
    await Promise.all([alice.client.connect(), bob.client.connect(), bobPhone.client.connect()]);
    const conv = (await alice.client.createGroup(["bob"], { name: "g", avatar: "a.png" })).convId;
    const sent = [];
    for (let i = 1; i <= 5; i++) sent.push(await alice.client.send(conv, `m${i}`));

    const reads: unknown[] = [];
    bobPhone.client.on("read", (r) => reads.push(r));
    assert.deepEqual(await bob.client.markRead(conv, 3), { convId: conv, seq: 3, unreadNum: 2 });
    await eventually(() => reads.length === 1, { what: "bob's other device hears of the read" });
    assert.deepEqual(reads[0], { convId: conv, seq: 3, unreadNum: 2 });
    assert.equal((await bob.client.markRead(conv)).unreadNum, 0);

    const page = await bob.client.history(conv, { limit: 2, beforeSeq: 4 });
    assert.deepEqual(
      { convId: page.convId, seqs: page.msgs.map((m) => m.Seq), hasMore: page.hasMore },
      { convId: conv, seqs: [3, 2], hasMore: false },
    );

    const recalls: unknown[] = [];
    bob.client.on("recall", (r) => recalls.push(r));
    assert.deepEqual(await alice.client.recall(conv, sent[1]!.MsgId), { convId: conv });
    await eventually(() => recalls.length === 1, { what: "the recall push" });
    assert.deepEqual(recalls[0], {
      convId: conv,
      msgId: sent[1]!.MsgId,
      seq: 2,
      forEveryone: true,
      msg: { ...sent[1]!, Status: MessageStatus.Recalled, Content: "" },
    });
    await assert.rejects(bob.client.recall(conv, sent[0]!.MsgId), (err: HeraldError) => {
      return err.code === ErrorCode.NotAllowed && err.action === "msg-delete";
    });

    assert.deepEqual(await bob.client.deleteForMe(conv, sent[0]!.MsgId), {
      convId: conv,
      msgId: sent[0]!.MsgId,
      seq: 1,
      forEveryone: false,
    });
    const mine = await bob.client.history(conv, { limit: 1, beforeSeq: 2 });
    assert.equal(mine.msgs[0]?.Status, MessageStatus.DeletedForMe);

    const synced = await bob.client.sync({ [conv]: 3 });
    assert.deepEqual(
      synced.convs[conv]?.msgs.map((m) => m.Seq),
      [4, 5],
    );
    assert.equal(synced.convs[conv]?.lastSeq, 5);

    await assert.rejects(alice.client.send("no-such-conversation", "x"), (err: HeraldError) => {
      return err instanceof HeraldError && err.code === ErrorCode.NotFound && err.action === "msg-im";
    });
    assert.equal(alice.client.pendingSends, 0, "a send the server refuses leaves the outbox");
    const stranger = testClient(herald, "mallory", (fn) => t.after(fn));
    await stranger.client.connect();
    await assert.rejects(stranger.client.history(conv), (err: HeraldError) => err.code === ErrorCode.NotMember);
  });

  it("conversations: list, membership changes as events, typing, hide", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const owner = testClient(herald, "owner", (fn) => t.after(fn));
    const member = testClient(herald, "member", (fn) => t.after(fn));
    const guest = testClient(herald, "guest", (fn) => t.after(fn));
    await Promise.all([owner.client.connect(), member.client.connect(), guest.client.connect()]);
    const changes: ConversationChange[] = [];
    member.client.on("conversation", (c) => changes.push(c));

    const group = await owner.client.createGroup(["member"], { convKey: "room-1", name: "r", conversationType: 7 });
    assert.deepEqual(
      { ...group, linkKeys: [...group.linkKeys].sort() },
      {
        convId: "room-1",
        convType: "group",
        conversationType: 7,
        convName: "r",
        convAvt: "",
        owner: "owner",
        open: true,
        isArchive: false,
        linkKeys: ["member", "owner"],
      },
    );
    await owner.client.send("room-1", "first");
    const list = await member.client.conversations();
    assert.equal(list.length, 1);
    assert.equal(list[0]?.convId, "room-1");
    assert.equal(list[0]?.lastMsg?.Content, "first");
    assert.equal(list[0]?.unreadNum, 1);
    assert.equal(list[0]?.linkCount, 2);
    const page = await member.client.conversationPage({ limit: 1 });
    assert.equal(page.convs.length, 1);
    const rest = await member.client.conversationPage({ cursor: page.next, limit: 1 });
    assert.deepEqual(rest, { convs: [], next: null }, "next pages on; null at the end");

    assert.deepEqual(await guest.client.joinConversation("room-1"), { convId: "room-1" });
    await eventually(() => changes.length === 1, { what: "membersAdded" });
    assert.deepEqual(changes[0], { type: "membersAdded", convId: "room-1", linkKeys: ["guest"], by: "guest" });
    // the guest joined an existing conversation: it starts at 0, so it gets the message before it joined
    await eventually(() => guest.of("room-1").length === 1, { what: "the joiner catches up" });

    await owner.client.removeMembers("room-1", ["guest"]);
    await eventually(() => changes.length === 2, { what: "membersRemoved" });
    assert.deepEqual(changes[1], { type: "membersRemoved", convId: "room-1", linkKeys: ["guest"], by: "owner" });
    await member.client.invite("room-1", ["guest"]);
    await eventually(() => changes.length === 3, { what: "membersAdded by invite" });
    assert.equal((changes[2] as { by: string | null }).by, "member");
    await guest.client.leaveConversation("room-1");

    await herald.inner.setArchive(["room-1"], true);
    await eventually(() => changes.some((c) => c.type === "archive"), { what: "archive" });
    assert.deepEqual(changes.at(-1), { type: "archive", convId: "room-1", isArchive: true });
    await assert.rejects(owner.client.send("room-1", "x"), (err: HeraldError) => err.code === ErrorCode.Conflict);
    await herald.inner.setArchive(["room-1"], false);

    const typing: unknown[] = [];
    member.client.on("typing", (e) => typing.push(e));
    assert.deepEqual(await owner.client.typing("room-1"), { convId: "room-1" });
    await eventually(() => typing.length === 1, { what: "typing" });
    assert.deepEqual(typing[0], { convId: "room-1", linkKey: "owner" });

    assert.deepEqual(await member.client.hideConversation("room-1"), { convId: "room-1" });
    assert.equal((await member.client.conversations()).length, 0, "hidden until a new message");
    await quiesce(owner.client, "room-1", [member]);
    assert.equal((await member.client.conversations()).length, 1);
  });

  it("friends, presence, rooms, signals and ping", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const alice = testClient(herald, "alice", (fn) => t.after(fn));
    const bob = testClient(herald, "bob", (fn) => t.after(fn));
    await Promise.all([alice.client.connect(), bob.client.connect()]);

    const requests: unknown[] = [];
    bob.client.on("friendRequest", (r) => requests.push(r));
    assert.deepEqual(await alice.client.friendRequest("bob", "hi, it's alice"), { linkKey: "bob" });
    await eventually(() => requests.length === 1, { what: "the friend request" });
    assert.deepEqual(requests[0], { linkKey: "alice", information: "hi, it's alice" });
    const accepted: unknown[] = [];
    alice.client.on("friendAccepted", (r) => accepted.push(r));
    assert.deepEqual(await bob.client.respondFriend("alice", true), { linkKey: "alice", accept: true });
    await eventually(() => accepted.length === 1, { what: "friendAccepted" });
    assert.deepEqual(accepted[0], { linkKey: "bob", accept: true });
    assert.deepEqual(await alice.client.friends(), { friends: ["bob"], hasMore: false });

    const presence: unknown[] = [];
    alice.client.on("presence", (p) => presence.push(p));
    assert.deepEqual(await alice.client.presence(["bob", "nobody"]), { bob: true, nobody: false });
    await bob.client.close();
    await eventually(() => presence.length === 1, { what: "bob's offline presence" });
    assert.deepEqual(presence[0], { linkKey: "bob", online: false });
    await bob.client.connect();
    await eventually(() => presence.length === 2, { what: "bob's online presence" });
    assert.deepEqual(presence[1], { linkKey: "bob", online: true });
    assert.deepEqual(await alice.client.unfriend("bob"), { linkKey: "bob" });

    const heard: unknown[] = [];
    bob.client.on("room", (m) => heard.push(m));
    await alice.client.joinRoom("lobby");
    await bob.client.joinRoom("lobby");
    assert.deepEqual(await alice.client.sendToRoom("lobby", "hello room", { msgKey: "r1" }), {
      convId: "lobby",
      msgKey: "r1",
    });
    await eventually(() => heard.length === 1, { what: "the room message" });
    assert.deepEqual({ ...(heard[0] as object), sendTime: "-" }, {
      convId: "lobby",
      msgKey: "r1",
      fromSession: "alice",
      msgType: 1,
      content: "hello room",
      sendTime: "-",
    });
    await bob.client.leaveRoom("lobby");

    const signals: unknown[] = [];
    bob.client.on("signal", (s) => signals.push(s));
    assert.deepEqual(await alice.client.signal({ to: ["bob"], kind: "invite", callId: "call-1", data: { sdp: "x" } }), {
      callId: "call-1",
      to: ["bob"],
    });
    await eventually(() => signals.length === 1, { what: "the signal" });
    assert.deepEqual(signals[0], { from: "alice", kind: "invite", callId: "call-1", data: { sdp: "x" } });

    assert.equal(await alice.client.ping(), "pong");
    const unknown = await alice.client.request("no-such-action", {}).catch((err: unknown) => err);
    assert.ok(unknown instanceof HeraldError && unknown.code === ErrorCode.InvalidParameter);
  });

  it("a kickout closes the client for good instead of reconnecting", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    await herald.inner.updateSettings({ login_policy: "kick" });
    const first = testClient(herald, "alice", (fn) => t.after(fn));
    await first.client.connect();
    const kickouts: unknown[] = [];
    first.client.on("kickout", (k) => kickouts.push(k));
    const second = testClient(herald, "alice", (fn) => t.after(fn));
    await second.client.connect();
    await eventually(() => first.client.state === "closed", { what: "the older connection is closed" });
    assert.deepEqual(kickouts, [{ reason: "logged in on another device", platform: 3 }]);
    assert.equal(first.states.at(-1)?.code, 4001);
    assert.equal(second.client.state, "open");
    assert.equal(await second.client.ping(), "pong");
  });

  it("a token the server refuses: a static one closes the client with 10101, a callback's is retried", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const forged = testClient(herald, "alice", (fn) => t.after(fn), { token: "not-a-token" });
    await assert.rejects(forged.client.connect(), (err: HeraldError) => err.code === ErrorCode.InvalidToken);
    assert.equal(forged.client.state, "closed");
    assert.deepEqual(
      forged.errors.map((e) => [e.code, e.status]),
      [[ErrorCode.InvalidToken, 401]],
    );

    let calls = 0;
    const flaky = testClient(herald, "alice", (fn) => t.after(fn), {
      token: () => (++calls < 3 ? "expired-or-forged" : herald.token("alice")),
    });
    await flaky.client.connect();
    assert.equal(calls, 3, "the callback was asked again before each attempt");
    assert.match(flaky.states.find((s) => s.state === "reconnecting")?.reason ?? "", /401/);
  });
});
