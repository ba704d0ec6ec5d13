// Fails when the committed dist/ is not what the sources build (run after build.mjs): the
// herald binary embeds dist/, so a stale copy would ship pages that match no source.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' });

const changed = git('status', '--porcelain', '--untracked-files=all', '--', 'dist');
if (changed.trim() !== '') {
  console.error(git('diff', '--stat', '--', 'dist') + changed);
  console.error(
    'clients/web/dist differs from what src/ and static/ build.\n' +
      'Run `npm run build` in clients/web and commit dist/ (the herald binary embeds it).',
  );
  process.exit(1);
}
console.log('dist/ matches its sources');
