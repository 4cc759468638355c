// The whole suite: every test/**/*.test.ts under node:test, on the pinned runtime (this
// script is started by `npm test`, whose PATH puts node_modules/.bin/node first).
// `node test/run.ts inventory` runs only files whose path contains "inventory".
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

const filters = process.argv.slice(2);
const files = globSync('test/**/*.test.ts')
  .sort()
  .filter((f) => !filters.length || filters.some((x) => f.includes(x)));
if (!files.length) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=600000', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
