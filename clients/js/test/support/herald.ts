/**
 * A real `herald up` for one test file: its own free port and temp data dir, the app secret fixed
 * here; SIGKILL and restart on the same port and data dir; killed when the test ends, whatever
 * happened (and when the process exits).
 */

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { HeraldInner } from "../../src/index.js";
import { eventually } from "./eventually.js";

export const APP_SECRET = "sdk-test-secret-0123456789abcdef";

/** clients/js, from dist-test/test/support/. */
const PACKAGE_DIR = fileURLToPath(new URL("../../../", import.meta.url));

function heraldBin(): string {
  return process.env.HERALD_BIN ?? resolve(PACKAGE_DIR, "../../target/debug/herald");
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export class Herald {
  readonly url: string;
  readonly inner: HeraldInner;
  private child: ChildProcess | undefined;
  private readonly logPath: string;

  private constructor(
    private readonly port: number,
    private readonly dataDir: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.inner = new HeraldInner({ url: this.url, appSecret: APP_SECRET });
    this.logPath = join(dataDir, "herald.log");
  }

  /** Starts a server; `cleanup` (the test context's `after`) stops it and removes its data. */
  static async start(cleanup: (fn: () => Promise<void>) => void): Promise<Herald> {
    const dataDir = mkdtempSync(join(tmpdir(), "herald-sdk-"));
    const herald = new Herald(await freePort(), dataDir);
    cleanup(async () => {
      await herald.kill();
      rmSync(dataDir, { recursive: true, force: true });
    });
    await herald.spawn();
    // tests send faster than the default per-session rate, and 1:1 peers do not always answer
    await herald.inner.updateSettings({ send_rate_per_sec: 0, spam_unanswered_limit: 0 });
    return herald;
  }

  /** A client token for `session`. */
  token(session: string, platform = 3): Promise<string> {
    return this.inner.getToken(session, platform);
  }

  /** SIGKILL: no drain, no goodbye; its clients see their connections drop. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((done) => child.once("exit", () => done()));
      child.kill("SIGKILL");
      await exited;
    }
    running.delete(child);
  }

  /** Starts again on the same port and data dir. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** The server's log so far (for failure messages). */
  log(): string {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  private async spawn(): Promise<void> {
    const log = openSync(this.logPath, "a");
    const child = spawn(heraldBin(), ["up"], {
      env: {
        ...process.env,
        HERALD_APP_SECRET: APP_SECRET,
        HERALD_HTTP_ADDR: `127.0.0.1:${this.port}`,
        HERALD_DATA_DIR: this.dataDir,
        RUST_LOG: process.env.RUST_LOG ?? "warn",
      },
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    this.child = child;
    running.add(child);
    let spawnError: Error | undefined;
    child.once("error", (err) => {
      spawnError = err;
    });
    await eventually(
      async () => {
        if (spawnError) throw new Error(`cannot run ${heraldBin()} (set HERALD_BIN): ${spawnError.message}`);
        if (child.exitCode !== null) throw new Error(`herald exited with ${child.exitCode}:\n${this.log()}`);
        try {
          const response = await fetch(`${this.url}/readyz`);
          return response.status === 200;
        } catch {
          return false;
        }
      },
      { what: "herald answers /readyz", timeoutMs: 30_000 },
    );
  }
}
