/**
 * The HTTP helpers against the real server: client routes with a client token, `/inner/*` with the
 * app secret, `/user/*` under the app setting, and error envelopes as `HeraldError`s.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode, HeraldError, HeraldHttp, HeraldInner } from "../src/index.js";
import { testClient } from "./support/clients.js";
import { Herald } from "./support/herald.js";

function isError(code: HeraldError["code"], status: number, route?: string) {
  return (err: unknown) => {
    assert.ok(err instanceof HeraldError, `a HeraldError, not ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.status, status);
    if (route) assert.equal(err.action, route);
    return true;
  };
}

describe("http", { timeout: 60_000 }, () => {
  it("client routes, inner routes and error envelopes", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const alice = new HeraldHttp({ url: herald.url, token: () => herald.token("alice") });

    const conv = await alice.createConversation({ sessions: ["bob"], name: "over http", conversationType: 3 });
    assert.equal(await alice.checkJoined(conv), true);
    const first = await alice.sendMessage(conv, "one", { clientMsgId: "c-1" });
    const again = await alice.sendMessage(conv, "one again", { clientMsgId: "c-1" });
    assert.deepEqual(again, first, "a retried client_msg_id answers the original");
    assert.equal(first.Seq, 1);
    await alice.sendMessage(conv, "two");
    const last = await alice.lastMessages(conv);
    assert.deepEqual(
      last.Msg.map((m) => [m.Seq, m.Content, m.ClientMsgId ?? null]),
      [
        [1, "one", "c-1"],
        [2, "two", null],
      ],
    );
    assert.equal(last.HasMore, false);
    assert.equal(await alice.lastMessageId(conv), last.Msg[1]?.MsgId);
    const detail = await alice.conversationDetail(conv);
    assert.equal(detail.ConversationID, conv);
    assert.equal(detail.ConversationType, 3);
    assert.equal(detail.LastSendSession, "alice");
    const joined = await alice.joinedConversations();
    assert.equal(joined.Conversations[0]?.Name, "over http");
    assert.equal(joined.Conversations[0]?.Kind, "group");
    assert.equal(joined.Next, null);

    // what the HTTP route stored, a /ws client receives
    const bob = testClient(herald, "bob", (fn) => t.after(fn), { cursors: {} });
    await bob.client.connect();
    assert.deepEqual(bob.of(conv).map((m) => m.Content), ["one", "two"], "unknown conversations start at 0 with saved cursors");

    // error envelopes
    await assert.rejects(alice.conversationDetail("no-such-conversation"), isError(ErrorCode.NotFound, 404));
    const mallory = new HeraldHttp({ url: herald.url, token: () => herald.token("mallory") });
    await assert.rejects(mallory.lastMessages(conv), isError(ErrorCode.NotMember, 403, "/get_conversation_last_30_msg"));
    const forged = new HeraldHttp({ url: herald.url, token: "not-a-token" });
    await assert.rejects(forged.checkJoined(conv), isError(ErrorCode.InvalidToken, 401));
    const wrongSecret = new HeraldInner({ url: herald.url, appSecret: "wrong-secret" });
    await assert.rejects(wrongSecret.getToken("alice"), isError(ErrorCode.InvalidToken, 401, "/inner/get_token"));
    await assert.rejects(
      herald.inner.createConversation({ sessions: [] }),
      isError(ErrorCode.ConversationNeedsMembers, 400),
    );

    // inner routes
    const byApp = await herald.inner.createConversation({ sessions: ["alice", "bob"], open: false });
    const bot = await herald.inner.sendAs({ session: "bob", convId: byApp, content: "from the backend", clientMsgId: "b-1" });
    assert.equal(bot.Seq, 1);
    await herald.inner.kickout(byApp, ["bob"]);
    await assert.rejects(
      herald.inner.sendAs({ session: "bob", convId: byApp, content: "x" }),
      isError(ErrorCode.NotMember, 403),
    );
    await herald.inner.joinConversation(byApp, ["bob"]);
    const settings = await herald.inner.updateSettings({ max_members: 50 });
    assert.equal(settings.max_members, 50);
    assert.equal((await herald.inner.settings()).max_members, 50);
  });

  it("end-user accounts: off by default, then register, login and logout", async (t) => {
    const herald = await Herald.start((fn) => t.after(fn));
    const http = new HeraldHttp({ url: herald.url });
    await assert.rejects(http.register("dora", "correct horse battery"), isError(ErrorCode.NotAllowed, 403));
    await herald.inner.updateSettings({ end_user_accounts: true });
    await http.register("dora", "correct horse battery");
    await assert.rejects(http.register("dora", "correct horse battery"), isError(ErrorCode.Conflict, 409));
    await assert.rejects(http.login("dora", "wrong password!"), isError(ErrorCode.InvalidToken, 401));
    const token = await http.login("dora", "correct horse battery", { platform: 3 });
    const dora = new HeraldHttp({ url: herald.url, token });
    const conv = await dora.createConversation({ sessions: ["eve"] });
    assert.equal(await dora.checkJoined(conv), true);
    await dora.logout();
    await assert.rejects(dora.checkJoined(conv), isError(ErrorCode.InvalidToken, 401));
  });
});
