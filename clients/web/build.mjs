// Builds the two pages into dist/: each page's TypeScript bundled into one ES module, its CSS
// into one file, and its index.html copied. The herald binary embeds dist/, so dist/ is
// committed, and the same sources must always give byte-identical files (`npm run check-dist`).
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
