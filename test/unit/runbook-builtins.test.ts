// The built-in runbooks shipped in daemon/ssh/runbooks/ load without a single error.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { formatSourceError } from '../../daemon/lib/yaml-source.ts';
import { loadRunbook } from '../../daemon/ssh/runbook/load.ts';
import { runCli } from '../helpers/daemon.ts';

const DIR = new URL('../../daemon/ssh/runbooks/', import.meta.url);

test('the built-in runbooks are valid, each named as its file', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
  assert.deepEqual(files, ['diagnostics.yaml', 'kvm-host-prepare.yaml', 'reboot.yaml']);
  for (const f of files) {
    const r = loadRunbook(f, readFileSync(new URL(f, DIR), 'utf8'));
    assert.ok(r.ok, r.ok ? '' : r.errors.map(formatSourceError).join('\n'));
    assert.equal(`${r.runbook.name}.yaml`, f);
  }
});

test('ironbay runbook validate: exit 0 on a built-in, 1 with FILE:LINE:COL errors on a bad one', async () => {
  const ok = await runCli(['runbook', 'validate', new URL('diagnostics.yaml', DIR).pathname]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /valid \(runbook diagnostics, 7 steps\)/);
  const bad = await runCli(['runbook', 'validate', '-'], {}, 'name: x\ndescription: d\nsteps:\n  - name: s\n    run: echo ${who}\n');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^-:5:10 steps\[0\]\.run: \$\{who\} is no parameter/m);
});
