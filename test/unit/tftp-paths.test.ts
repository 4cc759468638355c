import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { decode, MAX_FILENAME_BYTES } from '../../daemon/tftp/codec/index.ts';
import { MAX_SEGMENT_BYTES, PATH_REFUSALS, confineToRoot, requestPath, underRoot, type PathRefusal, type RealPath } from '../../daemon/tftp/paths.ts';
import { fixture } from '../fixtures/tftp/fixtures.ts';

const ok = (name: string): string => {
  const r = requestPath(name);
  assert.ok(r.ok, `${JSON.stringify(name)} refused: ${r.ok ? '' : r.reason}`);
  return r.relative;
};

function filenameOf(file: string): string {
  const r = decode(fixture(file));
  assert.ok(r.ok && r.packet.op === 'rrq');
  return r.packet.filename;
}

describe('requestPath: accepted names', () => {
  test('real requests: tftp-hpa client\'s "/boot/pxelinux.0" is root-relative, iPXE\'s name passes as is', () => {
    assert.equal(ok(filenameOf('tftp-hpa-rrq-leading-slash.bin')), 'boot/pxelinux.0');
    assert.equal(ok(filenameOf('ipxe-rrq.bin')), 'boot/pxelinux.0');
  });

  test('leading, repeated and trailing slashes and "." segments are dropped', () => {
    assert.equal(ok('/pxelinux.0'), 'pxelinux.0');
    assert.equal(ok('//boot///grub//x86_64-efi/core.efi'), 'boot/grub/x86_64-efi/core.efi');
    assert.equal(ok('./boot/./pxelinux.cfg/01-52-54-00-12-34-56'), 'boot/pxelinux.cfg/01-52-54-00-12-34-56');
    assert.equal(ok('boot/'), 'boot');
  });

  test('backslashes are directory separators (Windows boot programs ask for \\Boot\\BCD)', () => {
    assert.equal(ok('\\Boot\\BCD'), 'Boot/BCD');
    assert.equal(ok('boot\\x64/wdsnbp.com'), 'boot/x64/wdsnbp.com');
    assert.equal(ok('C:\\boot\\x'), 'C:/boot/x', 'a drive letter is just a directory name under the root');
  });

  test('dots that are not a whole segment, spaces and punctuation are ordinary names', () => {
    assert.equal(ok('...'), '...');
    assert.equal(ok('..hidden/a..b'), '..hidden/a..b');
    assert.equal(ok('my file (1).img'), 'my file (1).img');
    assert.equal(ok('~user/.config'), '~user/.config');
  });

  test(`limits: a ${MAX_SEGMENT_BYTES}-byte segment and a ${MAX_FILENAME_BYTES}-byte name pass`, () => {
    ok('a'.repeat(MAX_SEGMENT_BYTES));
    const long = `${'b'.repeat(250)}/${'c'.repeat(250)}/dd`;
    assert.equal(long.length, MAX_FILENAME_BYTES);
    ok(long);
  });
});

describe('requestPath: refusals', () => {
  const refused: Record<Exclude<PathRefusal, 'outside-root' | 'not-found' | 'symlink-loop' | 'access-denied' | 'io-error'>, string[]> = {
    empty: ['', '/', '//', '.', './.', '\\'],
    'nul-byte': ['pxelinux.0\0.png', '\0'],
    'control-character': ['a\nb', 'a\rb', '\t', 'x\x1b[31m', 'del\x7f'],
    'non-ascii': ['caf\u00e9', '\u00ff', 'x\u0080', '\u2603'],
    'too-long': ['a'.repeat(MAX_FILENAME_BYTES + 1)],
    'segment-too-long': ['a'.repeat(MAX_SEGMENT_BYTES + 1), `boot/${'b'.repeat(MAX_SEGMENT_BYTES + 1)}/x`],
    'dot-dot': ['..', '../etc/passwd', '/../etc/passwd', 'boot/../../etc/shadow', 'a/../b', '..\\..\\windows\\win.ini', 'boot\\..\\x', 'x/..'],
  };

  for (const [reason, names] of Object.entries(refused)) {
    test(reason, () => {
      for (const n of names) assert.deepEqual(requestPath(n), { ok: false, reason }, JSON.stringify(n));
    });
  }

  test('the captured tftp-hpa "../etc/passwd" request is refused', () => {
    assert.deepEqual(requestPath(filenameOf('tftp-hpa-rrq-dotdot.bin')), { ok: false, reason: 'dot-dot' });
  });

  test('every reason has a description', () => {
    for (const r of Object.keys(refused)) assert.ok(r in PATH_REFUSALS);
  });
});

describe('underRoot', () => {
  test('joins a clean relative path to an absolute root', () => {
    assert.equal(underRoot('/srv/tftp', 'boot/pxelinux.0'), '/srv/tftp/boot/pxelinux.0');
    assert.equal(underRoot('/srv/tftp/', 'x'), '/srv/tftp/x');
  });
  test('a relative root is a configuration bug', () => {
    assert.throws(() => underRoot('srv/tftp', 'x'), /not an absolute path/);
  });
});

describe('confineToRoot (realpath injected)', () => {
  /** A fake file system: path → real path, or an errno code. */
  const fake =
    (table: Record<string, string>): RealPath =>
    async (p) => {
      const v = table[p];
      if (v === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      if (/^E[A-Z]+$/.test(v)) throw Object.assign(new Error(`${v}: ${p}`), { code: v });
      return v;
    };
  const root = '/srv/tftp';

  test('a file under the root', async () => {
    const rp = fake({ [root]: root, '/srv/tftp/boot/pxelinux.0': '/srv/tftp/boot/pxelinux.0' });
    assert.deepEqual(await confineToRoot(root, '/srv/tftp/boot/pxelinux.0', rp), { ok: true, real: '/srv/tftp/boot/pxelinux.0' });
  });

  test('a symlink to elsewhere under the root is followed', async () => {
    const rp = fake({ [root]: root, '/srv/tftp/ipxe.efi': '/srv/tftp/versions/1.21/ipxe.efi' });
    assert.deepEqual(await confineToRoot(root, '/srv/tftp/ipxe.efi', rp), { ok: true, real: '/srv/tftp/versions/1.21/ipxe.efi' });
  });

  test('a symlink out of the root is refused', async () => {
    const rp = fake({ [root]: root, '/srv/tftp/passwd': '/etc/passwd', '/srv/tftp/d/x': '/home/op/x' });
    assert.deepEqual(await confineToRoot(root, '/srv/tftp/passwd', rp), { ok: false, reason: 'outside-root' });
    assert.deepEqual(await confineToRoot(root, '/srv/tftp/d/x', rp), { ok: false, reason: 'outside-root' });
  });

  test('a sibling directory sharing the root\'s name as a prefix is outside', async () => {
    const rp = fake({ [root]: root, '/srv/tftp/x': '/srv/tftp-private/x' });
    assert.deepEqual(await confineToRoot(root, '/srv/tftp/x', rp), { ok: false, reason: 'outside-root' });
  });

  test('a link back to the root itself is refused (a directory, not a file under it)', async () => {
    const rp = fake({ [root]: root, '/srv/tftp/self': root });
    assert.deepEqual(await confineToRoot(root, '/srv/tftp/self', rp), { ok: false, reason: 'outside-root' });
  });

  test('the root is compared by its real path (the root itself may be a symlink)', async () => {
    const rp = fake({ '/srv/tftp': '/data/tftp', '/srv/tftp/a': '/data/tftp/a', '/srv/tftp/b': '/srv/tftp/b' });
    assert.deepEqual(await confineToRoot('/srv/tftp', '/srv/tftp/a', rp), { ok: true, real: '/data/tftp/a' });
    assert.deepEqual(await confineToRoot('/srv/tftp', '/srv/tftp/b', rp), { ok: false, reason: 'outside-root' });
  });

  test('a root of "/" contains everything', async () => {
    const rp = fake({ '/': '/', '/x': '/x' });
    assert.deepEqual(await confineToRoot('/', '/x', rp), { ok: true, real: '/x' });
  });

  test('errors from realpath map to reasons, with the cause kept', async () => {
    const cases: [string, PathRefusal][] = [
      ['ENOENT', 'not-found'],
      ['ENOTDIR', 'not-found'],
      ['ELOOP', 'symlink-loop'],
      ['EACCES', 'access-denied'],
      ['EPERM', 'access-denied'],
      ['EIO', 'io-error'],
    ];
    for (const [code, reason] of cases) {
      const r = await confineToRoot(root, '/srv/tftp/f', fake({ [root]: root, '/srv/tftp/f': code }));
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.reason, reason, code);
      assert.equal(!r.ok && (r.cause as { code: string }).code, code);
    }
    const missingRoot = await confineToRoot(root, '/srv/tftp/f', fake({}));
    assert.equal(!missingRoot.ok && missingRoot.reason, 'not-found');
    const weird = await confineToRoot(root, '/x', () => Promise.reject(new Error('no code')));
    assert.equal(!weird.ok && weird.reason, 'io-error');
  });
});

describe('confineToRoot with the real file system', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ironbay-tftp-paths-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'root');
  mkdirSync(path.join(root, 'boot'), { recursive: true });
  writeFileSync(path.join(root, 'boot', 'pxelinux.0'), 'x');
  writeFileSync(path.join(dir, 'secret'), 's');
  symlinkSync('../secret', path.join(root, 'escape'));
  symlinkSync('boot/pxelinux.0', path.join(root, 'alias'));
  symlinkSync('loop2', path.join(root, 'loop1'));
  symlinkSync('loop1', path.join(root, 'loop2'));

  const check = async (name: string): Promise<string> => {
    const rel = requestPath(name);
    assert.ok(rel.ok);
    const r = await confineToRoot(root, underRoot(root, rel.relative), realpath);
    return r.ok ? path.relative(root, r.real) : r.reason;
  };

  test('served, aliased, escaping, looping and missing files', async () => {
    assert.equal(await check('/boot/pxelinux.0'), 'boot/pxelinux.0');
    assert.equal(await check('alias'), 'boot/pxelinux.0');
    assert.equal(await check('escape'), 'outside-root');
    assert.equal(await check('loop1'), 'symlink-loop');
    assert.equal(await check('nope'), 'not-found');
    assert.equal(await check('boot/pxelinux.0/x'), 'not-found');
  });
});
