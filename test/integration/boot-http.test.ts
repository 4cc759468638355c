// The boot HTTP server on a loopback port against real clients: curl for ranges, HEAD and
// traversal attempts; the script and phone-home as an installer would use them; and the
// timeline as `ironbay machines show` prints it.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { bootAssets, IPXE_ROOT } from '../../daemon/boot/assets.ts';
import { buildBootApp, type BootApp } from '../../daemon/boot/http-app.ts';
import { parseConfig } from '../../daemon/config/load.ts';
import { testApp, type TestApp } from '../helpers/app.ts';
import { runCli } from '../helpers/daemon.ts';
import { run } from '../helpers/run.ts';

const INVENTORY = `profiles:
  - { name: debian12, kernel: debian12/vmlinuz, initrd: [debian12/initrd.gz], cmdline: "auto=true", install: { method: image } }
machines:
  - { name: w-000, macs: ["52:54:00:00:10:00"], role: worker, profile: debian12 }
`;
const ADVERTISE = 'http://boot.invalid:8080';
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('boot HTTP server with curl', () => {
  let t: TestApp;
  let boot: BootApp;
  let base: string;
  let api: string;
  let dir: string;
  const big = randomBytes(1024 * 1024 + 17); // streamed: over a quarter of the cache budget below
  const small = randomBytes(100_000); // served from memory

  const curl = (args: string[]) => run('curl', ['-s', '-S', ...args]);
  /** Status line and headers (lower-case names) of the last response in curl -D output. */
  const headers = (dump: string): { status: number; h: Record<string, string> } => {
    const blocks = dump.trim().split(/\r?\n\r?\n/);
    const lines = blocks.at(-1)!.split(/\r?\n/);
    const h: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      h[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    return { status: Number(lines[0]!.split(' ')[1]), h };
  };
  const fetchTo = async (url: string, extra: string[] = []): Promise<{ status: number; h: Record<string, string>; body: Buffer }> => {
    const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
    const r = await curl(['-D', '-', '-o', out, ...extra, url]);
    assert.equal(r.code, 0, r.stderr);
    return { ...headers(r.stdout), body: readFileSync(out) };
  };

  before(async () => {
    t = await testApp(INVENTORY);
    dir = dirname(t.store.path);
    const assets = join(dir, 'assets');
    mkdirSync(join(assets, 'debian12'), { recursive: true });
    writeFileSync(join(assets, 'debian12/vmlinuz'), small);
    writeFileSync(join(assets, 'debian12/initrd.gz'), big);
    writeFileSync(join(dir, 'outside'), 'not an asset');
    const cfg = parseConfig('/test/ironbay.yaml', `dataDir: ${dir}\n`);
    if (!cfg.ok) throw new Error('config');
    boot = await buildBootApp({ config: cfg.config, store: t.store, log: pino({ level: 'silent' }), assets: bootAssets([IPXE_ROOT, assets]), advertise: ADVERTISE, assetCacheBytes: 1024 * 1024 });
    base = await boot.listen({ host: '127.0.0.1', port: 0 });
    api = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await boot.close();
    await t.close();
  });

  for (const [what, name, file] of [
    ['streamed', 'debian12/initrd.gz', () => big],
    ['cached', 'debian12/vmlinuz', () => small],
  ] as const) {
    describe(`Range on a ${what} file`, () => {
      test('curl -r 0-99: 206, Content-Range, Content-Length, the right bytes', async () => {
        const r = await fetchTo(`${base}/boot/assets/${name}`, ['-r', '0-99']);
        assert.equal(r.status, 206);
        assert.equal(r.h['content-range'], `bytes 0-99/${file().length}`);
        assert.equal(r.h['content-length'], '100');
        assert.equal(r.h['accept-ranges'], 'bytes');
        assert.deepEqual(r.body, file().subarray(0, 100));
      });

      test('curl -r 1000- and -r -100 (suffix)', async () => {
        const tail = await fetchTo(`${base}/boot/assets/${name}`, ['-r', '1000-']);
        assert.equal(tail.status, 206);
        assert.equal(sha(tail.body), sha(file().subarray(1000)));
        const suffix = await fetchTo(`${base}/boot/assets/${name}`, ['-r', '-100']);
        assert.equal(suffix.h['content-range'], `bytes ${file().length - 100}-${file().length - 1}/${file().length}`);
        assert.deepEqual(suffix.body, file().subarray(-100));
      });

      test('a range past the end: 416 with bytes */size', async () => {
        const r = await fetchTo(`${base}/boot/assets/${name}`, ['-r', `${file().length}-`]);
        assert.equal(r.status, 416);
        assert.equal(r.h['content-range'], `bytes */${file().length}`);
      });

      test('the whole file, twice (the second from the cache or the resolve cache), and resumed with curl -C', async () => {
        for (let i = 0; i < 2; i++) {
          const r = await fetchTo(`${base}/boot/assets/${name}`);
          assert.equal(r.status, 200);
          assert.equal(r.h['content-length'], String(file().length));
          assert.equal(sha(r.body), sha(file()));
        }
        const out = join(dir, `resume-${what}`);
        writeFileSync(out, file().subarray(0, 5000));
        const r = await curl(['-C', '-', '-o', out, `${base}/boot/assets/${name}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(sha(readFileSync(out)), sha(file()));
      });

      test('HEAD (curl -I): the length, no body', async () => {
        const r = await curl(['-I', `${base}/boot/assets/${name}`]);
        const { status, h } = headers(r.stdout);
        assert.equal(status, 200);
        assert.equal(h['content-length'], String(file().length));
      });
    });
  }

  test('traversal with --path-as-is and encoded slashes never reaches a file outside the roots', async () => {
    for (const path of ['/boot/assets/../../outside', '/boot/assets/..%2f..%2foutside', '/boot/assets/debian12/%2e%2e/%2e%2e/outside', '/boot/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd']) {
      const r = await curl(['--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', `${base}${path}`]);
      assert.ok(['400', '404'].includes(r.stdout), `${path}: ${r.stdout}`);
    }
  });

  test('an installer boot end to end: script, kernel and initrd by its URLs, phone-home; `ironbay machines show` prints the timeline', async () => {
    const script = await curl([`${base}/boot/ipxe?mac=52:54:00:00:10:00`]);
    assert.equal(script.code, 0);
    const kernel = /^kernel (\S+) .*ironbay\.token=(\S+) /m.exec(script.stdout);
    const initrd = /^initrd --name initrd0 (\S+) /m.exec(script.stdout);
    assert.ok(kernel && initrd, script.stdout);
    for (const url of [kernel[1]!, initrd[1]!]) {
      const r = await curl(['-o', '/dev/null', '-w', '%{http_code}', url.replace(ADVERTISE, base)]);
      assert.equal(r.stdout, '200');
    }
    const token = kernel[2]!;
    const progress = await curl(['-H', 'content-type: application/json', '--data', JSON.stringify({ token, status: 'progress', message: 'writing image' }), `${base}/api/v1/boot/report`]);
    assert.match(progress.stdout, /"ok":true/);
    const done = await curl(['-w', ' %{http_code}', '--data', `token=${token}&status=installed`, `${base}/api/v1/boot/report`]);
    assert.match(done.stdout, / 200$/);
    const replay = await curl(['-o', '/dev/null', '-w', '%{http_code}', '--data', `token=${token}&status=installed`, `${base}/api/v1/boot/report`]);
    assert.equal(replay.stdout, '409');

    const show = await runCli(['machines', 'show', 'w-000', '--url', api, '--token', t.tokens.viewer]);
    assert.equal(show.code, 0, show.stderr);
    const lines = show.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('last boot:'));
    assert.ok(at >= 0, show.stdout);
    assert.match(lines[at]!, /^last boot: {4}\S+ \(boot \d+: install debian12, installed \S+\)$/);
    assert.deepEqual(
      lines.slice(at + 1, at + 6).map((l) => l.trim().replace(/^\+\d+\.\d{3}s\s+/, '')),
      ['script  install: profile debian12', `kernel  debian12/vmlinuz ${small.length} B`, `initrd  debian12/initrd.gz ${big.length} B`, 'report  progress: writing image', 'report  installed'],
    );
    assert.match(lines[at + 1]!, /^ {2}\+0\.000s {2}script/);
    const json = await runCli(['machines', 'show', 'w-000', '--json', '--url', api, '--token', t.tokens.viewer]);
    const parsed = JSON.parse(json.stdout) as { boot: { entries: unknown[]; session: { endReason: string } } };
    assert.equal(parsed.boot.entries.length, 5);
    assert.equal(parsed.boot.session.endReason, 'installed');
  });
});
