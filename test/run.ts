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
// --test-force-exit: a file whose tests (and after-hooks) are done exits with process.exit().
// Without it, a process that ends naturally closes its remaining libuv handles first, and
// Node 24 was seen spinning there for good (CleanupHandles, one TCP socket that never finished
// closing, after the KVM-host tests pulled a host's cable), which kept the whole suite waiting.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=600000', '--test-force-exit', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
