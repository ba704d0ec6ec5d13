// The console at /console-ui/ in a real Chromium against a real `herald up`: sign up, create an
// org and an app, the secret shown once, rotation, a setting that changes what the server
// does, and the live view drawn from /metrics.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { APP_SECRET, api, startHerald } from './support/herald.mjs';
import { DESKTOP, PHONE, launch, newContext, screenshot } from './support/browser.mjs';
import { eventually } from './support/eventually.mjs';

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

/** Both screen sizes of the page as it is now. */
async function shots(page, name) {
  await screenshot(page, `${name}-desktop`);
  await page.setViewportSize(PHONE);
  await screenshot(page, `${name}-phone`);
  await page.setViewportSize(DESKTOP);
}

const getToken = (secret) => api(herald.url, '/inner/get_token', { token: secret, body: { session: 'backend-check', platform: 3 } });

test('the console signs up, creates an org and an app, shows the secret once, rotates it, and its settings change the server', async () => {
  const { context, problems } = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${herald.url}/console-ui/`);
  await page.getByRole('heading', { name: 'Sign in to the Herald console' }).waitFor();
  await shots(page, 'console-sign-in');

  // A wrong login shows the server's error as it is.
  await page.getByLabel('Email').fill('nobody@example.com');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'wrong email or password' }).waitFor();
  assert.match(await page.getByRole('alert').textContent(), /Error 10101 \(401\)/);

  await page.getByRole('button', { name: 'No account yet? Create one' }).click();
  await page.getByLabel('Email').fill('owner@example.com');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByLabel('Name (optional)').fill('Owner');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Organizations', level: 1 }).waitFor();
  const stored = await page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length }));
  assert.equal(stored.local, 0, 'nothing in localStorage');
  assert.ok(stored.session > 0, 'the console token is in sessionStorage');

  await page.getByLabel('Organization name').fill('Acme');
  await page.getByLabel('Description (optional)').fill('Support team');
  await page.getByRole('button', { name: 'Create organization' }).click();
  await page.getByRole('heading', { name: 'Acme', level: 1 }).waitFor();

  await page.getByLabel('App name').fill('Support chat');
  await page.getByRole('button', { name: 'Create app' }).click();
  await page.getByRole('heading', { name: 'Support chat', level: 1 }).waitFor();
  await page.getByText('Shown only now.').waitFor();
  const secret = (await page.getByLabel('App secret').textContent()).trim();
  assert.ok(secret.length >= 32, `a secret is shown: ${secret}`);
  assert.ok(await page.getByRole('button', { name: 'Copy secret' }).isVisible());
  const appId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  assert.match(appId, /^a_/);
  await shots(page, 'console-app-created');
  assert.equal((await getToken(secret)).status, 200, 'the shown secret works on /inner/get_token');

  // Shown once: a reload of the same page no longer has it anywhere.
  await page.reload();
  await page.getByRole('heading', { name: 'Support chat', level: 1 }).waitFor();
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  assert.equal(await page.getByLabel('App secret').count(), 0);
  assert.ok(!(await page.content()).includes(secret), 'the secret is nowhere in the page after a reload');
  assert.ok(!(await page.evaluate((s) => JSON.stringify({ ...sessionStorage }).includes(s), secret)), 'nor in sessionStorage');

  // Rotation: a new secret, shown once; the old one is refused, the new one accepted.
  await page.getByRole('button', { name: 'Rotate secret' }).click();
  await page.getByRole('button', { name: 'Rotate now' }).click();
  await page.getByRole('heading', { name: 'The new secret' }).waitFor();
  const rotated = (await page.getByLabel('App secret').textContent()).trim();
  assert.notEqual(rotated, secret);
  const old = await getToken(secret);
  assert.equal(old.status, 401, `the old secret is refused: ${JSON.stringify(old.body)}`);
  assert.equal((await getToken(rotated)).status, 200, 'the new secret is accepted');

  // end_user_accounts: off by default (403 / 10003), on from the form → registration works.
  const register = () => api(herald.url, '/user/register', { body: { app: appId, user_name: 'alice', password: 'alice-password' } });
  const closed = await register();
  assert.equal(closed.status, 403);
  assert.equal(closed.body.code, 10003);
  const accounts = page.getByLabel('End-user accounts');
  assert.equal(await accounts.isChecked(), false);
  await accounts.check();
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  await eventually(async () => {
    const r = await register();
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }, { what: '/user/register to open' });
  await page.getByRole('link', { name: `/app/?app=${appId}` }).waitFor();
  await page.getByRole('heading', { name: 'Settings' }).scrollIntoViewIfNeeded();
  await shots(page, 'console-settings');

  // The settings survive a reload (they are the server's).
  await page.reload();
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  assert.equal(await page.getByLabel('End-user accounts').isChecked(), true);

  // The org lists the app.
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'Acme' }).click();
  await page.getByRole('list', { name: 'Apps' }).getByText('Support chat').waitFor();

  assert.deepEqual(problems, []);
  await context.close();
});

test('the live view draws connections, message rate and lag from /metrics, every 2 s', async () => {
  const { context, problems } = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${herald.url}/console-ui/live`);
  await page.getByLabel('Email').fill('owner@example.com');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Live view' }).waitFor();

  const chart = page.getByRole('img', { name: /^Connections chart/ });
  await chart.waitFor();
  // Nothing connected yet; then one WebSocket client of app `default`.
  await eventually(async () => assert.match(await chart.getAttribute('aria-label'), /now 0$/), { what: 'the first scrape' });
  const token = (await api(herald.url, '/inner/get_token', { token: APP_SECRET, body: { session: 'watcher', platform: 3 } })).body.data;
  const client = await context.newPage();
  await client.goto(`${herald.url}/app/`);
  await client.evaluate((url) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    // @ts-ignore: kept open for the rest of the test
    window.keep = ws;
    ws.onopen = resolve;
    ws.onerror = reject;
  }), `${herald.url.replace('http', 'ws')}/ws?token=${encodeURIComponent(token)}`);
  await eventually(async () => assert.match(await chart.getAttribute('aria-label'), /now 1$/), { timeout: 10_000, what: 'the chart to show the connection' });
  const points = Number(await chart.getAttribute('data-points'));
  assert.ok(points >= 2, `the chart has a line (${points} points)`);
  assert.ok((await chart.locator('polyline').getAttribute('points')).split(' ').length >= 2);
  // Messages stored while the view watches: the rate chart shows them (herald_appends_total).
  const conv = await api(herald.url, '/inner/create_conversation', { token: APP_SECRET, body: { conversation_type: 1, sessions: ['watcher', 'sender'] } });
  assert.equal(conv.status, 200, JSON.stringify(conv.body));
  const sender = (await api(herald.url, '/inner/get_token', { token: APP_SECRET, body: { session: 'sender', platform: 3 } })).body.data;
  const rate = page.getByRole('img', { name: /^Messages per second chart/ });
  let sent = 0;
  await eventually(async () => {
    // 5 messages per check (every ~400 ms): under the default send rate of 20/s.
    for (let i = 0; i < 5; i++, sent++) {
      const r = await api(herald.url, '/send_msg', { token: sender, body: { conversation_id: conv.body.data.ConversationId, content: `m${sent}` } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    assert.match(await rate.getAttribute('aria-label'), /now ([1-9][0-9.]*|0\.[1-9])\/s$/);
  }, { timeout: 15_000, interval: 400, what: 'the message rate to show the messages' });
  await page.getByRole('img', { name: /^Consumer lag/ }).waitFor();
  await page.getByRole('img', { name: /^Delivery lag chart/ }).waitFor();
  assert.match(await page.getByRole('status').first().textContent(), /Live · updated/);
  // A few more points, so the screenshots show lines.
  await eventually(async () => assert.ok(Number(await chart.getAttribute('data-points')) >= 4), { timeout: 15_000, what: 'four scrapes' });
  await shots(page, 'console-live');

  assert.deepEqual(problems, []);
  await context.close();
});

test('the live view says so when /metrics is served only on a separate admin address', async () => {
  const admin = await startHerald({ args: ['--admin-addr', '127.0.0.1:0'] });
  try {
    assert.equal((await fetch(`${admin.url}/metrics`)).status, 404);
    const reg = await api(admin.url, '/console/reg', { body: { email: 'ops@example.com', password: 'ops-password', nick: 'Ops' } });
    assert.equal(reg.status, 200, JSON.stringify(reg.body));
    const { context, problems } = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`${admin.url}/console-ui/live`);
    await page.getByLabel('Email').fill('ops@example.com');
    await page.getByLabel('Password').fill('ops-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Live view' }).waitFor();
    await page.getByText(/metrics are not reachable at \/metrics on this address/).waitFor();
    assert.match(await page.getByRole('status').first().textContent(), /HERALD_ADMIN_ADDR/);
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await admin.stop();
  }
});
