// Starts a real `herald up` for a test: a free port (port 0, read back from what it prints),
// a fresh data directory, a fixed default-app secret; waits for /readyz.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './eventually.mjs';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The secret of app `default` in every test server. */
export const APP_SECRET = 'web-test-secret-0123456789abcdef';

export function heraldBin() {
  const bin = resolve(pkg, process.env.HERALD_BIN ?? '../../target/debug/herald');
  if (!existsSync(bin)) {
    throw new Error(
      `no herald binary at ${bin}: build it with \`cargo build --bin herald\` at the repository root, ` +
        'or point HERALD_BIN at one',
    );
  }
  return bin;
}

/**
 * Starts a server. `args` are extra command-line flags (e.g. `--admin-addr 127.0.0.1:0`).
 * The pages come from the binary, except when HERALD_WEB_DIR is set: then from that directory
 * (for working on the pages with a server built before them).
 */
export async function startHerald({ args = [] } = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'herald-web-test-'));
  const env = { ...process.env, HERALD_APP_SECRET: APP_SECRET, RUST_LOG: process.env.RUST_LOG ?? 'warn' };
  delete env.HERALD_WEB_DIR;
  delete env.HERALD_ADMIN_ADDR;
  delete env.HERALD_NATS_URL;
  const flags = ['up', '--http-addr', '127.0.0.1:0', '--data-dir', dataDir, ...args];
  if (process.env.HERALD_WEB_DIR) flags.push('--web-dir', resolve(process.env.HERALD_WEB_DIR));
  const child = spawn(heraldBin(), flags, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  const collect = (chunk) => {
    output += chunk;
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);

  const stop = async () => {
    if (exited === null) {
      child.kill('SIGTERM');
      await Promise.race([
        new Promise((r) => child.once('exit', r)),
        new Promise((r) => setTimeout(r, 10_000)).then(() => child.kill('SIGKILL')),
      ]);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    const url = await eventually(() => {
      if (exited) throw new Error(`herald exited (${JSON.stringify(exited)}):\n${output.slice(-4000)}`);
      const m = /Herald is listening on (http:\/\/[^\s]+)/.exec(output);
      if (!m) throw new Error('herald has not printed its address yet');
      return m[1].replace(/\/$/, '');
    }, { timeout: 30_000, what: 'herald to print its address' });
    await eventually(async () => {
      const r = await fetch(`${url}/readyz`);
      if (r.status !== 200) throw new Error(`/readyz answered ${r.status}`);
    }, { timeout: 30_000, what: 'herald /readyz' });
    return { url, stop, output: () => output };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A JSON route of the server: returns `{status, body}` without throwing on errors. */
export async function api(base, path, { method = 'POST', token, body } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, body: json };
}
