import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseConfig, readConfig } from '../../daemon/config/load.ts';
import { CHECKOUT_CONFIG } from '../../daemon/config/locate.ts';
import { formatSourceError } from '../../daemon/lib/yaml-source.ts';
import { runCli } from '../helpers/daemon.ts';

const dir = mkdtempSync(join(tmpdir(), 'ironbay-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('config', () => {
  test('the checkout default is valid, defaulted, frozen and serves no boot protocol', () => {
    const r = readConfig(CHECKOUT_CONFIG);
    assert.ok(r.ok);
    assert.equal(r.config.api.listen, '127.0.0.1');
    assert.deepEqual(r.config.boot.interfaces, []);
    assert.ok(r.config.dataDir.endsWith('/var'));
    assert.ok(Object.isFrozen(r.config) && Object.isFrozen(r.config.api));
  });

  test('an empty file means all defaults, with safe values', () => {
    const r = parseConfig('/etc/ironbay/ironbay.yaml', '');
    assert.ok(r.ok);
    assert.equal(r.config.dataDir, '/var/lib/ironbay');
    assert.equal(r.config.api.listen, '127.0.0.1');
    assert.deepEqual(r.config.boot.interfaces, []);
  });

  test('every error at once, as FILE:LINE:COL path: message', () => {
    const text = 'dataDir: /srv/ib\napi:\n  listen: 127.0.0.1\n  prot: 8080\n  port: "eighty"\nlog:\n  level: verbose\nbooot: {}\n';
    const r = parseConfig('/etc/ironbay/ironbay.yaml', text);
    assert.ok(!r.ok);
    const lines = r.errors.map(formatSourceError);
    assert.deepEqual(lines.sort(), [
      '/etc/ironbay/ironbay.yaml:4:3 api.prot: unknown field (did you mean "port"?)',
      '/etc/ironbay/ironbay.yaml:5:9 api.port: must be an integer, got string "eighty"',
      '/etc/ironbay/ironbay.yaml:7:10 log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", got "verbose"',
      '/etc/ironbay/ironbay.yaml:8:1 booot: unknown field (did you mean "boot"?)',
    ]);
  });

  test('a YAML syntax error points at its line', () => {
    const r = parseConfig('c.yaml', 'api:\n  port: [8080\n');
    assert.ok(!r.ok);
    assert.match(formatSourceError(r.errors[0]!), /^c\.yaml:\d+:\d+ \(root\): YAML syntax: /);
  });

  test('relative paths are relative to the config file', () => {
    const r = parseConfig('/etc/ironbay/ironbay.yaml', 'dataDir: state\ninventory: inv/hosts.yaml\n');
    assert.ok(r.ok);
    assert.equal(r.config.dataDir, '/etc/ironbay/state');
    assert.equal(r.config.inventory, '/etc/ironbay/inv/hosts.yaml');
  });

  test('`ironbay daemon` with an invalid config exits 2 and prints every error', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'api:\n  port: 99999\nlog: { level: loud }\n');
    const r = await runCli(['daemon', '--config', file]);
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, new RegExp(`^${file}:2:9 api\\.port: must be <= 65535`));
    assert.match(lines[1]!, new RegExp(`^${file}:3:15 log\\.level: must be one of`));
  });

  test('`ironbay config validate` exits 0 on a good file, 2 on a bad one, and on a missing one', async () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'api: { port: 9000 }\n');
    assert.equal((await runCli(['config', 'validate', good])).code, 0);
    const missing = await runCli(['config', 'validate', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read config: ENOENT/);
  });
});
