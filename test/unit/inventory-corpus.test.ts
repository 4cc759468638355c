// The bad-inventory corpus: one file per kind of error under test/fixtures/inventory/bad/.
// Each file lists, in `# expect: LINE:COL PATH: MESSAGE-SUBSTRING` comments at its top, the
// complete set of errors it must produce, in order; this test holds the loader to that list.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { formatSourceError, type SourceError } from '../../daemon/lib/yaml-source.ts';
import { loadInventory } from '../../inventory/validate.ts';
import { REPO, runCli } from '../helpers/daemon.ts';

const BAD = 'test/fixtures/inventory/bad';
const MANY = 'test/fixtures/inventory/many-errors.yaml';
const EXAMPLE = 'inventory/example.yaml';

interface Expect {
  line: number;
  col: number;
  path: string;
  message: string;
}

/** `# expect: 12:5 machines[0].bmc: message…` — `(root)` stands for the empty path. */
function expectations(text: string): Expect[] {
  const out: Expect[] = [];
  for (const l of text.split(/\r\n|\r|\n/)) {
    if (!l.startsWith('# expect:')) continue;
    const m = /^# expect: (\d+):(\d+) (.+?): (.+)$/.exec(l);
    assert.ok(m, `malformed expect line: ${l}`);
    out.push({ line: Number(m[1]), col: Number(m[2]), path: m[3] === '(root)' ? '' : m[3]!, message: m[4]! });
  }
  return out;
}

/** Reads like the daemon and the CLI do: bytes decoded as UTF-8. */
const read = (rel: string): string => readFileSync(join(REPO, rel), 'utf8');

function assertErrors(file: string, errors: SourceError[], expected: Expect[]): void {
  const got = errors.map(formatSourceError).join('\n');
  assert.equal(errors.length, expected.length, `${file}: ${errors.length} errors, expected ${expected.length}:\n${got}`);
  expected.forEach((x, i) => {
    const e = errors[i]!;
    const where = `${file} error ${i + 1}:\n${formatSourceError(e)}`;
    assert.equal(e.file, file, where);
    assert.deepEqual([e.line, e.col, e.path], [x.line, x.col, x.path], where);
    assert.ok(e.message.includes(x.message), `${where}\nexpected the message to contain: ${x.message}`);
    assert.equal(formatSourceError(e), `${file}:${x.line}:${x.col} ${x.path || '(root)'}: ${e.message}`);
  });
}

const corpus = readdirSync(join(REPO, BAD))
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('bad-inventory corpus', () => {
  test('has one file per kind of error, each with its expectations', () => {
    assert.ok(corpus.length >= 25, `only ${corpus.length} files`);
    for (const f of corpus) assert.ok(expectations(read(join(BAD, f))).length > 0, `${f} has no "# expect:" line`);
  });

  for (const f of corpus) {
    test(f, () => {
      const file = join(BAD, f);
      const text = read(file);
      const r = loadInventory(file, text);
      assert.equal(r.ok, false, `${f} was accepted`);
      if (r.ok) return;
      assertErrors(file, r.errors, expectations(text));
    });
  }

  test('no fixture uses private address space (only documentation and benchmark ranges)', () => {
    // RFC 1918 ranges are what real sites use; fixtures and examples must not look like one.
    const rfc1918 = /(?<![\d.])(10\.\d+\.\d+\.\d+|172\.(1[6-9]|2\d|3[01])\.\d+\.\d+|192\.168\.\d+\.\d+)/;
    for (const rel of [...corpus.map((f) => join(BAD, f)), MANY, EXAMPLE]) {
      const hit = rfc1918.exec(read(rel));
      assert.equal(hit, null, `${rel} uses ${hit?.[0]}`);
    }
  });
});

describe('all errors in one run', () => {
  test('a file with errors in every section reports each of them, sorted by line and column', () => {
    const text = read(MANY);
    const r = loadInventory(MANY, text);
    assert.equal(r.ok, false);
    if (r.ok) return;
    const expected = expectations(text);
    assertErrors(MANY, r.errors, expected);
    for (let i = 1; i < r.errors.length; i++) {
      const [a, b] = [r.errors[i - 1]!, r.errors[i]!];
      assert.ok(a.line < b.line || (a.line === b.line && a.col <= b.col), `not sorted: ${formatSourceError(a)} before ${formatSourceError(b)}`);
    }
    // Schema errors and cross-checks together, from every section of the file.
    const sections = new Set(r.errors.map((e) => /^[a-z]+/.exec(e.path)?.[0]));
    assert.deepEqual([...sections].sort(), ['clusters', 'machines', 'networks', 'profiles']);
    assert.ok(r.errors.some((e) => e.message.startsWith('unknown field')));
    assert.ok(r.errors.some((e) => e.message.startsWith('duplicate')));
  });

  test('fixing one error does not hide or shift the others', () => {
    // Every error is found independently: dropping the duplicate MAC leaves the rest as they were.
    const text = read(MANY);
    const r = loadInventory(MANY, text);
    assert.ok(!r.ok);
    const mac = r.errors.find((e) => e.message.startsWith('duplicate MAC'));
    assert.ok(mac, 'the fixture has a duplicate MAC');
    const lines = text.split('\n');
    lines[mac.line - 1] = lines[mac.line - 1]!.replace(/"[^"]*"\]/, '"52:54:00:0f:0f:0f"]');
    const fixed = loadInventory(MANY, lines.join('\n'));
    assert.ok(!fixed.ok);
    assert.deepEqual(
      fixed.errors.map(formatSourceError),
      r.errors.filter((e) => e !== mac).map(formatSourceError),
    );
  });
});

describe('inventory/example.yaml', () => {
  test('is valid and normalised', () => {
    const r = loadInventory(EXAMPLE, read(EXAMPLE));
    assert.ok(r.ok, r.ok ? '' : r.errors.map(formatSourceError).join('\n'));
    const inv = r.inventory;
    assert.equal(inv.machines.length, 4);
    assert.deepEqual(
      inv.machines.map((m) => [m.name, m.role]),
      [
        ['mgmt-01', 'management'],
        ['kvm-01', 'kvm-host'],
        ['kvm-02', 'kvm-host'],
        ['worker-01', 'worker'],
      ],
    );
    assert.equal(inv.profiles.length, 1);
    assert.equal(inv.clusters.length, 1);
    for (const m of inv.machines) {
      for (const mac of m.macs) assert.match(mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      assert.ok(m.bmc?.passwordFile ?? m.bmc?.passwordEnv, `${m.name} references its BMC password`);
    }
  });
});

describe('ironbay inventory validate', () => {
  test('exits 0 on the example', async () => {
    const r = await runCli(['inventory', 'validate', join(REPO, EXAMPLE)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /example\.yaml: valid \(4 machines, 1 profiles, 1 clusters\)/);
    assert.equal(r.stderr, '');
  });

  test('exits 1 on a bad file and prints every error as FILE:LINE:COL path: message on stderr', async () => {
    const file = join(REPO, MANY);
    const expected = expectations(read(MANY));
    const r = await runCli(['inventory', 'validate', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, expected.length + 1, r.stderr);
    expected.forEach((x, i) => {
      const prefix = `${file}:${x.line}:${x.col} ${x.path || '(root)'}: `;
      assert.ok(lines[i]!.startsWith(prefix), `line ${i + 1}: ${lines[i]}\nexpected it to start with: ${prefix}`);
      assert.ok(lines[i]!.includes(x.message), lines[i]);
    });
    assert.equal(lines.at(-1), `${file}: ${expected.length} errors`);
  });

  test('reads standard input as "-"', async () => {
    const r = await runCli(['inventory', 'validate', '-'], {}, read(join(BAD, 'duplicate-mac.yaml')));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^-:9:12 machines\[1\]\.macs\[0\]: duplicate MAC 52:54:00:ab:cd:01/);
  });

  test('--json gives the same errors as data', async () => {
    const file = join(REPO, BAD, 'cluster-cidr-overlap.yaml');
    const r = await runCli(['inventory', 'validate', '--json', file]);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { valid: boolean; errors: SourceError[] };
    assert.equal(out.valid, false);
    assert.deepEqual(out.errors, [
      { file, line: 11, col: 18, path: 'clusters[0].serviceCidr', message: 'service CIDR 198.19.0.0/16 overlaps the pod CIDR 198.18.0.0/15' },
    ]);
  });
});
