// Driving the chat app at /app/ the way a person does, selecting by role and label.
import assert from 'node:assert/strict';
import { DESKTOP, PHONE, newContext, screenshot } from './browser.mjs';
import { eventually } from './eventually.mjs';

/** A new browser context (a person on their own device) with the app open, signed up as `name`. */
export async function signUp(browser, base, name, { app, password = `${name}-password` } = {}) {
  const { context, problems } = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${base}/app/${app ? `?app=${encodeURIComponent(app)}` : ''}`);
  await page.getByRole('button', { name: 'No account yet? Create one' }).click();
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(password);
  if (app) assert.equal(await page.getByLabel('App').inputValue(), app, 'the App field comes from ?app=');
  else assert.equal(await page.getByLabel('App').inputValue(), 'default');
  await page.getByRole('button', { name: 'Create account' }).click();
  await online(page);
  return { name, context, page, problems };
}

/** Another device of an existing account. */
export async function signIn(browser, base, name, { password = `${name}-password` } = {}) {
  const { context, problems } = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${base}/app/`);
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await online(page);
  return { name, context, page, problems };
}

export const connection = (page) => page.getByRole('status', { name: 'Connection' });

export async function online(page) {
  await connection(page).filter({ hasText: 'Online' }).waitFor({ timeout: 15_000 });
}

export const conversations = (page) => page.getByRole('navigation', { name: 'Conversations' });

/** The list entry of a conversation, by its title. */
export const entry = (page, title) => conversations(page).getByRole('button', { name: new RegExp(`^${title}\\b`) });

export async function openConversation(page, title) {
  await page.getByRole('button', { name: 'Chats', exact: true }).click();
  await entry(page, title).click();
  await page.getByRole('heading', { name: title, level: 2 }).waitFor();
}

export const messages = (page) => page.getByRole('list', { name: 'Messages', exact: true });

/** The text of each message shown, top to bottom. */
export const texts = (page) => messages(page).locator('.msg .text').allTextContents();

/** The `Seq` of each message shown, top to bottom. */
export async function seqs(page) {
  return (await messages(page).locator('.msg').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-seq')))).map(Number);
}

/** Waits until the messages shown are exactly `expected`, in that order. */
export async function expectTexts(page, expected, what = 'the messages') {
  await eventually(async () => assert.deepEqual(await texts(page), expected), { timeout: 15_000, what });
}

/** Types and sends a message from the open conversation, and waits until it is stored (in its place). */
export async function send(page, text) {
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill(text);
  await box.press('Enter');
  await messages(page).locator('.msg').filter({ hasText: text }).last().waitFor();
}

/** The message row with this text. */
export const message = (page, text) => messages(page).locator('.msg').filter({ has: page.getByText(text, { exact: true }) });

/** The read receipt ("Read", "Read by N") under the message with this text. */
export const receipt = (page, text) => message(page, text).locator('.receipt');

export async function showFriends(page) {
  await page.getByRole('button', { name: /^Friends/ }).click();
  await page.getByRole('region', { name: 'Friends and requests' }).waitFor();
}

/** Both screen sizes; on the phone, `pane` says which pane to show first ('conv' or 'list'). */
export async function shots(page, name) {
  await screenshot(page, `${name}-desktop`);
  await page.setViewportSize(PHONE);
  await screenshot(page, `${name}-phone`);
  await page.setViewportSize(DESKTOP);
}

export function noProblems(...people) {
  for (const person of people) assert.deepEqual(person.problems, [], `no CSP violation or page error for ${person.name}`);
}

/** Runs `body`; when it fails, saves a screenshot of each person's page (test-output/failure-NAME.png) first. */
export async function showingFailures(people, body) {
  try {
    return await body();
  } catch (error) {
    for (const person of people()) {
      await screenshot(person.page, `failure-${person.name}`).catch(() => {});
    }
    throw error;
  }
}
