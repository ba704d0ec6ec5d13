// The chat app at /app/ in real Chromium against a real `herald up`: two people register,
// befriend, chat both ways with typing, read state and read receipts; one goes offline while the
// other sends and comes back to every message once and in order; recall, delete for me, history
// pages; a group of three with "Read by N".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { APP_SECRET, api, startHerald } from './support/herald.mjs';
import { PHONE, DESKTOP, launch, screenshot } from './support/browser.mjs';
import { eventually } from './support/eventually.mjs';
import {
  connection, entry, expectTexts, message, messages, noProblems, online, openConversation, receipt, send, seqs,
  showFriends, showingFailures, shots, signIn, signUp, texts,
} from './support/chat.mjs';

let herald;
let browser;

before(async () => {
  herald = await startHerald();
  browser = await launch();
  // The one step of the README: end-user accounts on for the demo app `default`.
  const r = await api(herald.url, '/inner/settings', { method: 'PUT', token: APP_SECRET, body: { end_user_accounts: true } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

/** The client token the page keeps (sessionStorage), to check the server's view over HTTP. */
const tokenOf = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem('herald.chat.session')).token);

test('the bundle leaves out ws and MessagePack, and the sign-in page says when accounts are off', async () => {
  const bundle = await readFile(new URL('../dist/app/app.js', import.meta.url), 'utf8');
  assert.ok(!/permessage-deflate/.test(bundle), 'no code of the ws package');
  assert.match(bundle, /import\("ws"\)/, 'ws left external (imported only where there is no WebSocket)');
  assert.ok(bundle.includes('MessagePack is not part of the web app build'), 'the MessagePack stub instead of the codec');
  assert.ok(!/Unrecognized type byte/.test(bundle), 'no MessagePack decoder');

  const other = await api(herald.url, '/user/register', { body: { app: 'nope', user_name: 'x', password: 'x-password' } });
  assert.equal(other.status, 404, JSON.stringify(other.body));
  const person = await signUp(browser, herald.url, 'zoe');
  await person.page.getByRole('button', { name: 'Sign out' }).click();
  await person.page.getByRole('heading', { name: 'Sign in to Herald chat' }).waitFor();
  await person.page.getByText('Signed out.').waitFor();
  await shots(person.page, 'app-sign-in');
  assert.equal(await person.page.evaluate(() => sessionStorage.length + localStorage.length), 0, 'nothing kept after signing out');
  // an app whose accounts are off: the server's refusal and how to turn them on
  await person.page.getByLabel('User name').fill('zoe');
  await person.page.getByLabel('Password').fill('zoe-password');
  await person.page.getByLabel('App').fill('nope');
  await person.page.getByRole('button', { name: 'Sign in' }).click();
  await person.page.getByRole('alert').filter({ hasText: 'error 10005' }).waitFor();
  noProblems(person);
  await person.context.close();
});

test('two people befriend, chat both ways with typing, read state and receipts, and one comes back from offline to every message once, in order', async () => {
  const [alice, bob] = await Promise.all([signUp(browser, herald.url, 'alice'), signUp(browser, herald.url, 'bob')]);
  await showingFailures(() => [alice, bob], async () => {
  const stored = await alice.page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length }));
  assert.equal(stored.local, 0, 'nothing in localStorage');
  assert.ok(stored.session > 0, 'the client token is in sessionStorage');

  // Friends: a request by user name, accepted from the other side; presence shows both online.
  await showFriends(alice.page);
  await alice.page.getByLabel('Friend’s user name').fill('bob');
  await alice.page.getByRole('button', { name: 'Send request' }).click();
  await alice.page.getByText('Friend request sent to bob.').waitFor();
  await bob.page.getByRole('button', { name: 'Friends, 1 request' }).click();
  await bob.page.getByRole('list', { name: 'Friend requests' }).getByText('alice').waitFor();
  await shots(bob.page, 'app-friend-request');
  await bob.page.getByRole('button', { name: 'Accept alice' }).click();
  const bobsFriends = bob.page.getByRole('list', { name: 'Friends', exact: true });
  await bobsFriends.getByText('alice').waitFor();
  await alice.page.getByText('bob accepted your friend request.').waitFor();
  const alicesFriends = alice.page.getByRole('list', { name: 'Friends', exact: true });
  await alicesFriends.locator('.person').filter({ hasText: 'bob' }).filter({ hasText: 'online' }).waitFor();
  await bobsFriends.locator('.person').filter({ hasText: 'alice' }).filter({ hasText: 'online' }).waitFor();

  // Alice writes first; Bob, elsewhere in the app, sees it unread in his list (and on his second device).
  await alice.page.getByRole('button', { name: 'Message bob' }).click();
  await alice.page.getByRole('heading', { name: 'bob', level: 2 }).waitFor();
  await send(alice.page, 'hi bob');
  const bobPhone = await signIn(browser, herald.url, 'bob');
  await bob.page.getByRole('button', { name: 'Chats', exact: true }).click();
  await entry(bob.page, 'alice').filter({ hasText: 'hi bob' }).filter({ hasText: '1 unread' }).waitFor();
  await entry(bobPhone.page, 'alice').filter({ hasText: '1 unread' }).waitFor();
  assert.equal(await receipt(alice.page, 'hi bob').count(), 0, 'no receipt before bob has read it');

  // Reading it moves Bob's read cursor: on the server, and on his other device (the `read` push).
  await openConversation(bob.page, 'alice');
  await expectTexts(bob.page, ['hi bob']);
  await eventually(async () => assert.doesNotMatch(await entry(bob.page, 'alice').textContent(), /unread/), { what: 'the badge to clear' });
  await eventually(async () => assert.doesNotMatch(await entry(bobPhone.page, 'alice').textContent(), /unread/), { what: 'the other device to hear of the read' });
  const joined = await api(herald.url, '/get_joined_conversation', { token: await tokenOf(bob.page), body: {} });
  assert.equal(joined.body.data.Conversations[0].UnreadNum, 0, JSON.stringify(joined.body));
  noProblems(bobPhone);
  await bobPhone.context.close();

  // Read receipts: Alice sees that Bob read her message (the `readBy` push) ...
  await receipt(alice.page, 'hi bob').filter({ hasText: /^✓✓\s*Read$/ }).waitFor();
  await shots(alice.page, 'app-read');
  // ... and still does in a fresh page, before any push (the `readers` answer on opening).
  await alice.page.reload();
  await online(alice.page);
  await openConversation(alice.page, 'bob');
  await receipt(alice.page, 'hi bob').filter({ hasText: /^✓✓\s*Read$/ }).waitFor();

  // Typing both ways, then an answer (which ends the typing line).
  const bobBox = bob.page.getByRole('textbox', { name: 'Message', exact: true });
  await bobBox.pressSequentially('hel');
  await alice.page.getByText('bob is typing…').waitFor();
  await shots(alice.page, 'app-typing');
  await bobBox.fill('hello alice');
  await bobBox.press('Enter');
  await expectTexts(alice.page, ['hi bob', 'hello alice']);
  await alice.page.getByText('bob is typing…').waitFor({ state: 'hidden' });
  await alice.page.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('ok');
  await bob.page.getByText('alice is typing…').waitFor();
  await alice.page.getByRole('textbox', { name: 'Message', exact: true }).fill('');

  // Bob goes offline: the page says so at once; what he sends waits in the outbox.
  await bob.context.setOffline(true);
  await connection(bob.page).filter({ hasText: /Offline|Reconnecting/ }).waitFor();
  const bobOffline = bob.page.getByRole('textbox', { name: 'Message', exact: true });
  await bobOffline.fill('written on the train');
  await bobOffline.press('Enter');
  await bob.page.getByRole('list', { name: 'Sending' }).getByText('Waiting for the connection…').waitFor();
  const missed = ['one', 'two', 'three', 'four', 'five', 'six'].map((n) => `while you were away ${n}`);
  for (const text of missed) await send(alice.page, text);
  await shots(bob.page, 'app-offline');
  assert.deepEqual(await texts(bob.page), ['hi bob', 'hello alice'], 'nothing reaches an offline page');

  // Back online: every message once, in Seq order; his own one sent and delivered.
  await bob.context.setOffline(false);
  await online(bob.page);
  const all = ['hi bob', 'hello alice', ...missed];
  await eventually(async () => {
    const shown = await texts(bob.page);
    assert.deepEqual(shown.filter((t) => t !== 'written on the train'), all);
    assert.equal(shown.filter((t) => t === 'written on the train').length, 1);
  }, { timeout: 20_000, what: 'bob to catch up' });
  const order = await seqs(bob.page);
  assert.deepEqual(order, [...order].sort((a, b) => a - b), 'in Seq order');
  assert.equal(new Set(order).size, order.length, 'each once');
  assert.deepEqual(order, order.map((_, i) => i + 1), 'no gap');
  await bob.page.getByRole('list', { name: 'Sending' }).locator('.msg').first().waitFor({ state: 'detached' });
  await message(alice.page, 'written on the train').waitFor();
  assert.deepEqual(await seqs(alice.page), order, 'both see the same order');

  // Recall for everyone (Alice's own message), delete for me (Bob, only on his side).
  await message(alice.page, missed[5]).getByRole('button', { name: 'Message actions' }).click();
  await message(alice.page, missed[5]).getByRole('button', { name: 'Recall for everyone' }).click();
  await message(alice.page, 'You recalled a message').waitFor();
  await message(bob.page, 'alice recalled a message').waitFor();
  await message(bob.page, missed[4]).getByRole('button', { name: 'Message actions' }).click();
  await message(bob.page, missed[4]).getByRole('button', { name: 'Delete for me' }).click();
  await message(bob.page, 'You deleted this message').waitFor();
  assert.equal(await message(alice.page, missed[4]).count(), 1, 'deleted for Bob only');
  assert.equal(await message(bob.page, missed[5]).count(), 0);
  await shots(bob.page, 'app-conversation');

  // History pages: 40 more (over HTTP), then Bob's page starts afresh and pages back to the start.
  const token = await tokenOf(alice.page);
  const conv = await alice.page.evaluate(() => document.querySelector('[data-conv][aria-current=true]').dataset.conv);
  const more = Array.from({ length: 40 }, (_, i) => `page test ${i + 1}`);
  for (const text of more) {
    const r = await api(herald.url, '/send_msg', { token, body: { conversation_id: conv, type: 1, content: text } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  await message(bob.page, 'page test 40').waitFor();
  await bob.page.reload();
  await online(bob.page);
  await openConversation(bob.page, 'alice');
  await message(bob.page, 'page test 40').waitFor();
  const older = bob.page.getByRole('button', { name: 'Load older messages' });
  await older.waitFor();
  assert.equal((await texts(bob.page)).length, 30, 'the latest page first');
  await messages(bob.page).evaluate((list) => { list.parentElement.scrollTop = 0; });
  await eventually(async () => {
    // Scrolling up loads pages too, so the button may hide itself (the first page is in) between
    // the check and the click: a click that times out is tried again, the assertion decides.
    if (await older.isVisible()) {
      await older.click({ timeout: 1_000 }).catch((error) => { if (error.name !== 'TimeoutError') throw error; });
    }
    const shown = await seqs(bob.page);
    assert.equal(shown[0], 1, 'back to the first message');
  }, { timeout: 15_000, what: 'older pages' });
  await older.waitFor({ state: 'hidden' });
  const paged = await seqs(bob.page);
  assert.deepEqual(paged, paged.map((_, i) => i + 1), 'every message once, in order, after paging');
  const shown = await texts(bob.page);
  assert.equal(shown.length, 9 + 40);
  assert.ok(shown.includes('You deleted this message') && shown.includes('alice recalled a message'), 'tombstones in their place');
  assert.deepEqual(shown.slice(-40), more);

  // The phone: one pane at a time.
  await bob.page.setViewportSize(PHONE);
  await bob.page.getByRole('button', { name: 'Back to conversations' }).click();
  await entry(bob.page, 'alice').waitFor();
  await screenshot(bob.page, 'app-list-phone');
  await entry(bob.page, 'alice').click();
  await message(bob.page, 'page test 40').waitFor();
  await screenshot(bob.page, 'app-history-phone');
  await bob.page.setViewportSize(DESKTOP);

  noProblems(alice, bob);
  });
  await alice.context.close();
  await bob.context.close();
});

test('a group of three, created and invited from the UI: everyone sees everyone’s messages, in one order, and the sender how many have read', async () => {
  const [dave, erin, frank] = await Promise.all(['dave', 'erin', 'frank'].map((name) => signUp(browser, herald.url, name)));
  await showingFailures(() => [dave, erin, frank], async () => {
    await dave.page.getByRole('button', { name: 'New group' }).click();
    const create = dave.page.getByRole('dialog', { name: 'New group' });
    await create.getByLabel('Group name').fill('Weekend trip');
    await create.getByLabel('Members').fill('erin');
    await create.getByRole('button', { name: 'Create group' }).click();
    await dave.page.getByRole('heading', { name: 'Weekend trip', level: 2 }).waitFor();
    await dave.page.getByText('2 members: dave, erin').waitFor();
    await send(dave.page, 'who is in?');

    await entry(erin.page, 'Weekend trip').filter({ hasText: '1 unread' }).waitFor();
    await openConversation(erin.page, 'Weekend trip');
    await expectTexts(erin.page, ['who is in?']);
    await receipt(dave.page, 'who is in?').filter({ hasText: 'Read by 1' }).waitFor();

    await dave.page.getByRole('button', { name: 'Invite' }).click();
    const invite = dave.page.getByRole('dialog', { name: 'Invite to Weekend trip' });
    await invite.getByLabel('User names to invite').fill('frank');
    await invite.getByRole('button', { name: 'Invite' }).click();
    await invite.waitFor({ state: 'detached' });
    await dave.page.getByText('3 members: dave, erin, frank').waitFor();

    // Frank hears of the group when he is added, and gets its messages from the first.
    await entry(frank.page, 'Weekend trip').waitFor();
    await openConversation(frank.page, 'Weekend trip');
    await expectTexts(frank.page, ['who is in?']);

    await send(erin.page, 'me!');
    await expectTexts(frank.page, ['who is in?', 'me!']);
    await send(frank.page, 'me too');
    const all = ['who is in?', 'me!', 'me too'];
    for (const person of [dave, erin, frank]) await expectTexts(person.page, all, `${person.name} to see all three`);
    const order = await seqs(dave.page);
    assert.deepEqual(order, [1, 2, 3]);
    assert.deepEqual(await seqs(erin.page), order);
    assert.deepEqual(await seqs(frank.page), order);
    // In a group, others' messages say who wrote them.
    assert.equal(await message(dave.page, 'me!').locator('.from').textContent(), 'erin');
    // Both others have read Dave's message (they opened the group, and each wrote after it).
    await receipt(dave.page, 'who is in?').filter({ hasText: 'Read by 2' }).waitFor();
    await shots(dave.page, 'app-group');
    noProblems(dave, erin, frank);
  });
  await Promise.all([dave, erin, frank].map((person) => person.context.close()));
});
