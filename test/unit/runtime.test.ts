import assert from 'node:assert/strict';
import { test } from 'node:test';

test('the suite runs on the pinned Node.js 24 runtime, not the machine Node', () => {
  assert.ok(process.versions.node.startsWith('24.'), `running on Node ${process.versions.node}`);
});

test('npm start runs the daemon with the same V8 flags and environment as the systemd unit and the tests', async () => {
  const { readFileSync } = await import('node:fs');
  const { DAEMON_ENV, DAEMON_NODE_FLAGS } = await import('../../daemon/runtime.ts');
  const env = Object.entries(DAEMON_ENV).map(([k, v]) => `${k}=${v}`);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  assert.equal(pkg.scripts.start, `${env.join(' ')} node ${DAEMON_NODE_FLAGS.join(' ')} daemon/cli/ironbay.ts daemon`);
  const unit = readFileSync(new URL('../../systemd/ironbay.service', import.meta.url), 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=\\S+/node ${DAEMON_NODE_FLAGS.join(' ')} `, 'm'));
  for (const e of env) assert.match(unit, new RegExp(`^Environment=${e}$`, 'm'));
});

test('`npx ironbay` works from a checkout and runs the CLI on the pinned runtime', async () => {
  const { run } = await import('../helpers/run.ts');
  const { REPO } = await import('../helpers/daemon.ts');
  const { readFileSync } = await import('node:fs');
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const r = await run('npx', ['--no-install', 'ironbay', '--version'], { cwd: REPO });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), pkg.version);
  // The bin's `#!/usr/bin/env node` must find the pinned node first on npx's PATH.
  const which = await run('npx', ['--no-install', '-c', 'node --version'], { cwd: REPO });
  assert.match(which.stdout.trim(), /^v24\./);
});
