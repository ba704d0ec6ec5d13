// Builds the two pages into dist/: each page's TypeScript bundled into one ES module, its CSS
// into one file, and its index.html copied. The herald binary embeds dist/, so dist/ is
// committed, and the same sources must always give byte-identical files (`npm run check-dist`).
//
// The chat app is built on the JavaScript SDK (`herald-client`, a `file:../js` dependency), bundled
// from its TypeScript sources, so the build needs nothing but this package's `npm ci` (the SDK's
// dist/ is not committed). Two of the SDK's imports stay out of the browser: `ws` (imported only
// dynamically, and only where there is no WebSocket: never in a browser) is left external, and
// `@msgpack/msgpack` is replaced by a stub (the app speaks JSON frames).
import * as esbuild from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

/** page folder in dist → its script entry, stylesheet entry, and the names they get */
const pages = [
  { dir: 'app', script: 'src/app/main.ts', style: 'static/app/app.css', js: 'app.js', css: 'app.css' },
  { dir: 'console', script: 'src/console/main.ts', style: 'static/console/console.css', js: 'console.js', css: 'console.css' },
];

/** Resolves `herald-client` to the SDK's sources and keeps `ws` and MessagePack out of the bundle. */
const sdkFromSource = {
  name: 'herald-client-source',
  setup(build) {
    build.onResolve({ filter: /^herald-client$/ }, () => ({ path: join(root, 'node_modules', 'herald-client', 'src', 'index.ts') }));
    build.onResolve({ filter: /^@msgpack\/msgpack$/ }, () => ({ path: join(root, 'src', 'app', 'no-msgpack.ts') }));
    build.onResolve({ filter: /^ws$/ }, () => ({ path: 'ws', external: true }));
  },
};

const common = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  // No source maps, no legal-comment files, no absolute paths: the output depends only on the sources.
  sourcemap: false,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
};

for (const page of pages) {
  const out = join(root, 'dist', page.dir);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await esbuild.build({
    ...common,
    entryPoints: [page.script],
    outfile: join(out, page.js),
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    plugins: [sdkFromSource],
  });
  await esbuild.build({
    ...common,
    entryPoints: [page.style],
    outfile: join(out, page.css),
    // Images and fonts referenced from CSS are inlined, so each page stays three files.
    loader: { '.svg': 'dataurl', '.png': 'dataurl', '.woff2': 'dataurl' },
    target: ['chrome110', 'firefox110', 'safari16'],
  });
  await copyFile(join(root, 'static', page.dir, 'index.html'), join(out, 'index.html'));
}
console.log('built dist/app and dist/console');
