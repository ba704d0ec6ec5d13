/**
 * The package as an application gets it: `import ... from "herald-client"` resolves to the built
 * `dist/` (ES module and declarations), and nothing in it imports `ws` statically — a browser build
 * must not need it.
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const DIST = fileURLToPath(new URL("../../dist/", import.meta.url));

describe("package", () => {
  it("exports the client, the HTTP helpers and the errors from dist", async () => {
    assert.ok(existsSync(join(DIST, "index.js")), "dist/ is built: run `npm run build` before `npm test`");
    const name = "herald-client";
    const mod = (await import(name)) as Record<string, unknown>;
    for (const exported of ["HeraldClient", "HeraldHttp", "HeraldInner", "HeraldError", "ErrorCode", "MessageStatus"]) {
      assert.ok(mod[exported] !== undefined, `${exported} is exported`);
    }
    assert.ok(existsSync(join(DIST, "index.d.ts")), "declarations are built");
  });

  it("never imports ws statically", () => {
    const files = readdirSync(DIST).filter((f) => f.endsWith(".js"));
    assert.ok(files.length > 5);
    for (const file of files) {
      const text = readFileSync(join(DIST, file), "utf8");
      assert.doesNotMatch(text, /from\s+["']ws["']|import\(\s*["']ws["']\s*\)|require\(\s*["']ws["']\s*\)/, file);
    }
  });
});
