// Headless Chromium for the tests (Debian's `chromium`, driven by playwright-core), with a
// watch for Content-Security-Policy violations and page errors on every page.
import { existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OUTPUT = join(pkg, 'test-output');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export function chromiumPath() {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      candidates.push(execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim());
    } catch {
      // not on PATH
    }
  }
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) {
    throw new Error(
      'Chromium not found (looked at $CHROMIUM, /usr/bin/chromium, chromium-browser). ' +
        'Install it with `apt-get install chromium` (Debian) or set CHROMIUM to its path.',
    );
  }
  return found;
}

export async function launch() {
  // No sandbox (the tests may run as root); nothing that phones home (the machine has no
  // network beyond localhost, and Chromium's background lookups would only add noise).
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A browser context whose pages report CSP violations (the `securitypolicyviolation` event and
 * the console message Chromium prints) and uncaught errors into `problems`.
 */
export async function newContext(browser, options = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, ...options });
  const problems = [];
  await context.exposeBinding('__reportViolation', (_source, v) => problems.push(`CSP violation: ${JSON.stringify(v)}`));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      // @ts-ignore: the binding added above
      window.__reportViolation({ directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber });
    });
  });
  context.on('page', (page) => watch(page, problems));
  return { context, problems };
}

function watch(page, problems) {
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content.Security.Policy/i.test(text)) problems.push(`console: ${text}`);
    else if (msg.type() === 'error' && !/Failed to load resource/.test(text)) problems.push(`console error: ${text}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
}

/** Saves a screenshot to test-output/NAME.png. */
export async function screenshot(page, name) {
  mkdirSync(OUTPUT, { recursive: true });
  await page.screenshot({ path: join(OUTPUT, `${name}.png`), fullPage: false });
}
