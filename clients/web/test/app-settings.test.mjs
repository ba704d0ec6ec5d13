// The console and the chat together: the console creates an app and changes its settings, and
// the chat of that app obeys them — accounts open, and require_friendship refuses a 1:1 message
// between non-friends (1003), shown in the conversation, until they are friends.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, startHerald } from './support/herald.mjs';
import { launch, newContext } from './support/browser.mjs';
import { eventually } from './support/eventually.mjs';
import { expectTexts, message, online, send, showFriends, showingFailures, shots, signUp, noProblems } from './support/chat.mjs';

let herald;
let browser;

before(async () => {
  herald = await startHerald();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

test('an app made in the console with require_friendship on: the chat shows 1003 for a non-friend, and sends once they are friends', async () => {
  // The console: an account, an org, an app, its settings.
  const { context, problems } = await newContext(browser);
  const page = await context.newPage();
  const gina = { name: 'gina', context, page, problems };
  await page.goto(`${herald.url}/console-ui/`);
  await page.getByRole('button', { name: 'No account yet? Create one' }).click();
  await page.getByLabel('Email').fill('owner@example.com');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByLabel('Organization name').fill('Acme');
  await page.getByRole('button', { name: 'Create organization' }).click();
  await page.getByLabel('App name').fill('Support chat');
  await page.getByRole('button', { name: 'Create app' }).click();
  await page.getByRole('heading', { name: 'Support chat', level: 1 }).waitFor();
  const appId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  await page.getByLabel('End-user accounts').check();
  await page.getByLabel('Require friendship').check();
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  // Settings reach every gateway within seconds: wait until this one lets accounts register.
  await eventually(async () => {
    const r = await api(herald.url, '/user/register', { body: { app: appId, user_name: 'probe', password: 'probe-password' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }, { what: 'accounts to open' });

  // From the console to the chat of that app (the App field comes from the link).
  await page.getByRole('link', { name: `/app/?app=${appId}` }).click();
  await page.getByRole('heading', { name: 'Sign in to Herald chat' }).waitFor();
  assert.equal(await page.getByLabel('App').inputValue(), appId);
  await page.getByRole('button', { name: 'No account yet? Create one' }).click();
  await page.getByLabel('User name').fill('gina');
  await page.getByLabel('Password').fill('gina-password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await online(page);
  const hugo = await signUp(browser, herald.url, 'hugo', { app: appId });

  await showingFailures(() => [gina, hugo], async () => {
    // Not friends: the server refuses, and the conversation says so plainly.
    await page.getByRole('button', { name: 'New chat' }).click();
    await page.getByRole('dialog', { name: 'New chat' }).getByLabel('User name').fill('hugo');
    await page.getByRole('button', { name: 'Start chat' }).click();
    await page.getByRole('heading', { name: 'hugo', level: 2 }).waitFor();
    const box = page.getByRole('textbox', { name: 'Message', exact: true });
    await box.fill('hello hugo');
    await box.press('Enter');
    const refused = page.getByRole('alert').filter({ hasText: 'error 1003' });
    await refused.waitFor();
    assert.match(await refused.textContent(), /^Not sent: Not friends: .*\(error 1003\)$/);
    await page.getByRole('list', { name: 'Sending' }).getByText(/Not sent/).waitFor();
    await shots(page, 'app-not-friends');

    // Friends now: the same message, retried, goes through.
    await showFriends(page);
    await page.getByLabel('Friend’s user name').fill('hugo');
    await page.getByRole('button', { name: 'Send request' }).click();
    await hugo.page.getByRole('button', { name: 'Friends, 1 request' }).click();
    await hugo.page.getByRole('button', { name: 'Accept gina' }).click();
    await page.getByText('hugo accepted your friend request.').waitFor();
    await page.getByRole('button', { name: 'Chats', exact: true }).click();
    await page.getByRole('list', { name: 'Sending' }).getByRole('button', { name: 'Retry' }).click();
    await message(page, 'hello hugo').waitFor();
    await page.getByRole('list', { name: 'Sending' }).locator('.msg').waitFor({ state: 'detached' });
    await hugo.page.getByRole('button', { name: 'Chats', exact: true }).click();
    await hugo.page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: /^gina/ }).click();
    await expectTexts(hugo.page, ['hello hugo']);
    await send(hugo.page, 'hi gina');
    await expectTexts(page, ['hello hugo', 'hi gina']);
    noProblems(gina, hugo);
  });
  await context.close();
  await hugo.context.close();
});
