// Friend requests in the chat app that arrived while their addressee was away: the server's list of
// pending requests (`friend-pending`) shows them when she signs in and after a reconnect, merged
// with one pushed live, once each; answered, they are gone from the server's list too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { APP_SECRET, api, startHerald } from './support/herald.mjs';
import { launch } from './support/browser.mjs';
import { eventually } from './support/eventually.mjs';
import { connection, noProblems, online, showFriends, showingFailures, signIn, signUp } from './support/chat.mjs';

let herald;
let browser;

before(async () => {
  herald = await startHerald();
  browser = await launch();
  const r = await api(herald.url, '/inner/settings', { method: 'PUT', token: APP_SECRET, body: { end_user_accounts: true } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

/** The people whose requests the page shows, top to bottom. */
const requesters = (page) => page.getByRole('list', { name: 'Friend requests' }).locator('.person .who strong').allTextContents();

async function sendRequest(person, to) {
  await showFriends(person.page);
  await person.page.getByLabel('Friend’s user name').fill(to);
  await person.page.getByRole('button', { name: 'Send request' }).click();
  await person.page.getByText(`Friend request sent to ${to}.`).waitFor();
}

test('requests sent while her page was closed or offline are shown on sign-in and reconnect, merged with a live one, once each; she accepts one and both are friends', async () => {
  // Alice has an account, and no page open.
  const away = await signUp(browser, herald.url, 'alice');
  noProblems(away);
  await away.context.close();
  const [bob, carol, dave] = await Promise.all(['bob', 'carol', 'dave'].map((name) => signUp(browser, herald.url, name)));
  await sendRequest(bob, 'alice');

  const alice = await signIn(browser, herald.url, 'alice');
  await showingFailures(() => [alice, bob, carol, dave], async () => {
    // Bob's request, from the server's list: no push ever reached this page.
    await alice.page.getByRole('button', { name: 'Friends, 1 request' }).click();
    await alice.page.getByRole('list', { name: 'Friend requests' }).getByText('bob').waitFor();

    // Carol's arrives live, as a push: both shown, once each.
    await sendRequest(carol, 'alice');
    await alice.page.getByRole('button', { name: 'Friends, 2 requests' }).waitFor();
    await eventually(async () => assert.deepEqual(await requesters(alice.page), ['bob', 'carol']), { what: 'both requests' });
    assert.deepEqual(
      await alice.page.evaluate(() => Object.keys(sessionStorage)),
      ['herald.chat.session'],
      'no copy of the requests in sessionStorage: they come from the server',
    );

    // Dave asks while she is offline: the reconnect loads the list again, merged with what is
    // shown, once each.
    await alice.context.setOffline(true);
    await connection(alice.page).filter({ hasText: /Offline|Reconnecting/ }).waitFor();
    await sendRequest(dave, 'alice');
    await alice.context.setOffline(false);
    await online(alice.page);
    await alice.page.getByRole('button', { name: 'Friends, 3 requests' }).waitFor();
    await eventually(async () => assert.deepEqual(await requesters(alice.page), ['bob', 'carol', 'dave']), { what: 'the three requests after the reconnect' });

    // A fresh page load has nothing of its own: the three come from the server.
    await alice.page.reload();
    await online(alice.page);
    await alice.page.getByRole('button', { name: 'Friends, 3 requests' }).click();
    await eventually(async () => assert.deepEqual(await requesters(alice.page), ['bob', 'carol', 'dave']), { what: 'the three requests after a reload' });

    // She accepts Bob's: both see each other as friends. She rejects Carol's.
    await alice.page.getByRole('button', { name: 'Accept bob' }).click();
    await alice.page.getByText('You and bob are friends now.').waitFor();
    await alice.page.getByRole('list', { name: 'Friends', exact: true }).getByText('bob').waitFor();
    await bob.page.getByText('alice accepted your friend request.').waitFor();
    await bob.page.getByRole('list', { name: 'Friends', exact: true }).getByText('alice').waitFor();
    await alice.page.getByRole('button', { name: 'Reject carol' }).click();
    await carol.page.getByText('alice declined your friend request.').waitFor();
    await alice.page.getByRole('button', { name: 'Friends, 1 request' }).waitFor();
    assert.deepEqual(await requesters(alice.page), ['dave']);

    // Answered on the server too: a fresh page load lists Dave's alone.
    await alice.page.reload();
    await online(alice.page);
    await alice.page.getByRole('button', { name: 'Friends, 1 request' }).click();
    assert.deepEqual(await requesters(alice.page), ['dave']);
    await alice.page.getByRole('list', { name: 'Friends', exact: true }).getByText('bob').waitFor();
    noProblems(alice, bob, carol, dave);
  });
  await Promise.all([alice, bob, carol, dave].map((p) => p.context.close()));
});
