// The TFTP server against real clients (tftp-hpa, curl, atftp) and against clients written
// here that lose DATA, repeat ACKs, speak from the wrong port or send garbage. Loopback only.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { decode, encode, ERROR_CODES, type Packet } from '../../daemon/tftp/codec/index.ts';
import { startTftpServer, type TftpServer, type TftpServerOptions, type TransferRecord } from '../../daemon/tftp/server.ts';
import { mulberry32 } from '../helpers/prng.ts';
import { run } from '../helpers/run.ts';
import { tftpGet } from '../helpers/tftp-client.ts';

const HOST = '127.0.0.1';
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Bytes from a seeded PRNG: the same file on every run. */
function pseudoRandom(size: number, seed: number): Buffer {
  const next = mulberry32(seed);
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = Math.floor(next() * 256);
  return b;
}

interface Lab {
  dir: string;
  root: string;
  second: string;
  files: Record<string, Buffer>;
  server: TftpServer;
  records: TransferRecord[];
  /** Resolves with the next onTransfer record for `file`. */
  record(file: string): Promise<TransferRecord>;
  close(): Promise<void>;
}

async function lab(opts: Partial<TftpServerOptions> = {}): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), 'ironbay-tftp-'));
  const root = join(dir, 'root');
  const second = join(dir, 'second');
  mkdirSync(join(root, 'boot'), { recursive: true });
  mkdirSync(second);
  const files: Record<string, Buffer> = {
    'big.bin': pseudoRandom(1024 * 1024 + 123, 1),
    'boot/ipxe.efi': pseudoRandom(65536 * 3 + 7, 2),
    'exact.bin': pseudoRandom(512 * 4, 3),
    'empty.bin': Buffer.alloc(0),
    'hello.txt': Buffer.from('ironbay\nline two\r\nbare CR\rend\n'),
  };
  for (const [name, data] of Object.entries(files)) writeFileSync(join(root, name), data);
  writeFileSync(join(second, 'only-second.bin'), pseudoRandom(3000, 4));
  writeFileSync(join(second, 'big.bin'), Buffer.from('shadowed by the first root'));
  writeFileSync(join(dir, 'secret.txt'), 'outside the root\n');
  symlinkSync(join(dir, 'secret.txt'), join(root, 'escape.txt'));
  symlinkSync(dir, join(root, 'up'));
  symlinkSync('big.bin', join(root, 'alias.bin'));
  const records: TransferRecord[] = [];
  const waiters: { file: string; resolve: (r: TransferRecord) => void }[] = [];
  const server = await startTftpServer({
    roots: [root, second],
    port: 0,
    address: HOST,
    maxTransfers: 500,
    maxWindowsize: 16,
    log: pino({ level: 'silent' }),
    onTransfer: (r) => {
      records.push(r);
      const i = waiters.findIndex((w) => w.file === r.file);
      if (i >= 0) waiters.splice(i, 1)[0]!.resolve(r);
    },
    ...opts,
  });
  return {
    dir,
    root,
    second,
    files,
    server,
    records,
    record: (file) => new Promise((resolve) => waiters.push({ file, resolve })),
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A bare UDP peer for hand-made packets. */
class RawPeer {
  readonly socket = dgram.createSocket('udp4');
  readonly #queue: { packet: Packet; port: number }[] = [];
  #wake: (() => void) | undefined;
  async open(): Promise<this> {
    this.socket.on('message', (msg, rinfo) => {
      const d = decode(msg);
      assert.ok(d.ok, `server sent an undecodable datagram: ${d.ok ? '' : d.reason}`);
      this.#queue.push({ packet: d.packet, port: rinfo.port });
      this.#wake?.();
    });
    await new Promise<void>((resolve) => this.socket.bind(0, HOST, resolve));
    return this;
  }
  send(p: Packet | Uint8Array, port: number): void {
    this.socket.send(p instanceof Uint8Array ? p : encode(p), port, HOST);
  }
  /** The next datagram, or undefined if none comes within `ms`. */
  async next(ms = 3000): Promise<{ packet: Packet; port: number } | undefined> {
    if (!this.#queue.length) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    return this.#queue.shift();
  }
  close(): void {
    this.socket.close();
  }
}

const rrq = (filename: string, options: Record<string, string> = {}): Packet => ({ op: 'rrq', filename, mode: 'octet', options: Object.entries(options).map(([name, value]) => ({ name, value })) });

function assertError(p: Packet | undefined, code: number): asserts p is Extract<Packet, { op: 'error' }> {
  assert.ok(p, 'no answer');
  assert.equal(p.op, 'error', `expected ERROR ${code}, got ${p.op}`);
  assert.equal(p.code, code, `ERROR ${p.code} "${p.message}", expected code ${code}`);
}

describe('TFTP server with real clients', () => {
  let l: Lab;
  let out: string;
  before(async () => {
    l = await lab();
    out = join(l.dir, 'out');
    mkdirSync(out);
  });
  after(() => l.close());

  test('tftp-hpa: 1 MiB in lock-step 512-byte blocks, no options (RFC 1350)', async () => {
    const rec = l.record('big.bin');
    const r = await run('tftp', ['-m', 'binary', HOST, String(l.server.port), '-c', 'get', 'big.bin', join(out, 'hpa-big')]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(sha(readFileSync(join(out, 'hpa-big'))), sha(l.files['big.bin']!));
    const t = await rec;
    assert.equal(t.ok, true);
    assert.deepEqual(t.options?.oack, {});
    assert.equal(t.options?.blksize, 512);
    assert.equal(t.bytes, l.files['big.bin']!.length);
  });

  test('tftp-hpa: a file of exactly 4 × 512 bytes ends with an empty DATA block', async () => {
    const r = await run('tftp', ['-m', 'binary', HOST, String(l.server.port), '-c', 'get', 'exact.bin', join(out, 'hpa-exact')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(join(out, 'hpa-exact')), l.files['exact.bin']);
  });

  test('tftp-hpa: netascii (its default mode) sends CR LF and CR NUL, and the client restores the text', async () => {
    const r = await run('tftp', [HOST, String(l.server.port), '-c', 'get', 'hello.txt', join(out, 'hpa-hello')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(join(out, 'hpa-hello')), l.files['hello.txt']);
    const raw = await tftpGet({ host: HOST, port: l.server.port, file: 'hello.txt', mode: 'netascii', options: { tsize: '0' }, keep: true });
    assert.equal(raw.data?.toString('latin1'), 'ironbay\r\nline two\r\0\r\nbare CR\r\0end\r\n');
    assert.equal(raw.oack?.tsize, String(raw.data?.length), 'tsize is the netascii length');
  });

  test('tftp-hpa: a leading slash is relative to the root, as with tftpd-hpa -s', async () => {
    const r = await run('tftp', ['-m', 'binary', HOST, String(l.server.port), '-c', 'get', '/boot/ipxe.efi', join(out, 'hpa-ipxe')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(join(out, 'hpa-ipxe')), l.files['boot/ipxe.efi']);
  });

  test('curl: blksize 1468 and tsize answered in the OACK (RFC 2348, 2349)', async () => {
    const rec = l.record('big.bin');
    const r = await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', join(out, 'curl-big'), '-w', '%{size_download}', `tftp://${HOST}:${l.server.port}/big.bin`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha(readFileSync(join(out, 'curl-big'))), sha(l.files['big.bin']!));
    const t = await rec;
    assert.equal(t.ok, true);
    assert.equal(t.options?.blksize, 1468);
    assert.equal(t.options?.oack.tsize, String(l.files['big.bin']!.length));
    assert.equal(t.options?.oack.blksize, '1468');
  });

  test('curl: a blksize above the server limit is answered with the limit', async () => {
    const rec = l.record('boot/ipxe.efi');
    const r = await run('curl', ['-sS', '--tftp-blksize', '65464', '-o', join(out, 'curl-ipxe'), `tftp://${HOST}:${l.server.port}/boot/ipxe.efi`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(join(out, 'curl-ipxe')), l.files['boot/ipxe.efi']);
    assert.equal((await rec).options?.oack.blksize, '1468');
  });

  test('curl: a missing file is ERROR 1, curl\'s exit code 68 (CURLE_TFTP_NOTFOUND)', async () => {
    // curl 7.88 prints a misleading getpeername() message for it; tftpd-hpa gets the same.
    const r = await run('curl', ['-sS', '-o', join(out, 'curl-missing'), `tftp://${HOST}:${l.server.port}/nope.bin`]);
    assert.equal(r.code, 68, r.stderr);
  });

  test('atftp: windowsize 16 with blksize 1468 and tsize (RFC 7440)', async () => {
    const rec = l.record('big.bin');
    const r = await run('atftp', ['--option', 'windowsize 16', '--option', 'blksize 1468', '--option', 'tsize 0', '-g', '-r', 'big.bin', '-l', join(out, 'atftp-big'), HOST, String(l.server.port)]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(sha(readFileSync(join(out, 'atftp-big'))), sha(l.files['big.bin']!));
    const t = await rec;
    assert.deepEqual(t.options?.oack, { windowsize: '16', blksize: '1468', tsize: String(l.files['big.bin']!.length) });
    assert.equal(t.retransmits, 0);
  });

  test('atftp: a window larger than maxWindowsize is granted as maxWindowsize', async () => {
    const rec = l.record('boot/ipxe.efi');
    const r = await run('atftp', ['--option', 'windowsize 64', '--option', 'blksize 1024', '-g', '-r', 'boot/ipxe.efi', '-l', join(out, 'atftp-ipxe'), HOST, String(l.server.port)]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(readFileSync(join(out, 'atftp-ipxe')), l.files['boot/ipxe.efi']);
    assert.equal((await rec).options?.windowsize, 16);
  });

  test('tftp-hpa: a write request is refused with ERROR 2', async () => {
    writeFileSync(join(out, 'upload'), 'x');
    const r = await run('tftp', ['-m', 'binary', HOST, String(l.server.port), '-c', 'put', join(out, 'upload'), 'upload']);
    assert.match(r.stdout + r.stderr, /Error code 2/);
    assert.equal(l.server.stats().refused['write-request'], 1);
  });

  test('roots: the first root holding the file wins; the second answers what the first lacks', async () => {
    const a = await tftpGet({ host: HOST, port: l.server.port, file: 'only-second.bin', keep: true });
    assert.ok(a.ok);
    assert.deepEqual(a.data, readFileSync(join(l.second, 'only-second.bin')));
    const b = await tftpGet({ host: HOST, port: l.server.port, file: 'big.bin', options: { blksize: '1468' } });
    assert.equal(b.sha256, sha(l.files['big.bin']!));
  });

  test('a file served a moment ago and then rewritten, re-pointed out of the root or made unreadable is looked at again', async () => {
    const file = join(l.root, 'changing.bin');
    const v1 = pseudoRandom(3000, 11);
    writeFileSync(file, v1);
    assert.equal((await tftpGet({ host: HOST, port: l.server.port, file: 'changing.bin' })).sha256, sha(v1));
    assert.equal((await tftpGet({ host: HOST, port: l.server.port, file: 'changing.bin' })).sha256, sha(v1));
    // Same size, new content: the recent resolution must not hand out the old bytes.
    const v2 = pseudoRandom(3000, 12);
    writeFileSync(file, v2);
    assert.equal((await tftpGet({ host: HOST, port: l.server.port, file: 'changing.bin' })).sha256, sha(v2));
    // Now a symlink out of the root, to a file with the same bytes as before.
    const outside = join(l.root, '..', 'outside.bin');
    writeFileSync(outside, v2);
    rmSync(file);
    symlinkSync(outside, file);
    const out = await tftpGet({ host: HOST, port: l.server.port, file: 'changing.bin' });
    assert.equal(out.ok, false);
    assert.deepEqual(out.error && typeof out.error === 'object' ? out.error.code : out.error, ERROR_CODES.accessViolation);
    rmSync(file);
    writeFileSync(file, v1);
    assert.equal((await tftpGet({ host: HOST, port: l.server.port, file: 'changing.bin' })).sha256, sha(v1));
    if (process.getuid?.() !== 0) {
      chmodSync(file, 0);
      const denied = await tftpGet({ host: HOST, port: l.server.port, file: 'changing.bin' });
      assert.equal(denied.ok, false);
    }
    rmSync(file);
    const gone = await tftpGet({ host: HOST, port: l.server.port, file: 'changing.bin' });
    assert.deepEqual(gone.error && typeof gone.error === 'object' ? gone.error.code : gone.error, ERROR_CODES.fileNotFound);
  });

  test('a symlink inside the root to a file inside it is served', async () => {
    const r = await tftpGet({ host: HOST, port: l.server.port, file: 'alias.bin', options: { blksize: '1468', windowsize: '8' } });
    assert.equal(r.sha256, sha(l.files['big.bin']!));
  });
});

describe('TFTP server refuses what it must not serve', () => {
  let l: Lab;
  let peer: RawPeer;
  before(async () => {
    l = await lab();
    peer = await new RawPeer().open();
  });
  after(async () => {
    peer.close();
    await l.close();
  });

  const cases: [string, string, number][] = [
    ['../ out of the root', '../secret.txt', ERROR_CODES.accessViolation],
    ['../ after a directory', 'boot/../../secret.txt', ERROR_CODES.accessViolation],
    ['..\\ with backslashes', '..\\secret.txt', ERROR_CODES.accessViolation],
    ['an absolute path is looked up under the root, not on the host', '/etc/passwd', ERROR_CODES.fileNotFound],
    ['a symlink to a file outside the root', 'escape.txt', ERROR_CODES.accessViolation],
    ['a path through a symlinked directory outside the root', 'up/secret.txt', ERROR_CODES.accessViolation],
    ['the root directory itself', '/', ERROR_CODES.accessViolation],
    ['a directory', 'boot', ERROR_CODES.accessViolation],
    ['a control character', 'big\u0007.bin', ERROR_CODES.accessViolation],
  ];
  for (const [what, filename, code] of cases) {
    test(`${what}: ${JSON.stringify(filename)} gets ERROR ${code}`, async () => {
      peer.send(rrq(filename), l.server.port);
      const a = await peer.next();
      assertError(a?.packet, code);
    });
  }

  test('NUL bytes: a request whose filename is cut by a NUL gets ERROR 4, never data', async () => {
    for (const raw of ['\0\x01secret\0../../etc/passwd\0octet\0', '\0\x01..\0/etc/passwd\0octet\0', '\0\x01big.bin\0\0octet\0']) {
      peer.send(Buffer.from(raw, 'latin1'), l.server.port);
      assertError((await peer.next())?.packet, ERROR_CODES.illegalOperation);
    }
    assert.equal(l.server.stats().malformed['unknown-mode'], 3);
  });

  test('a write request gets ERROR 2 and writes nothing', async () => {
    peer.send({ op: 'wrq', filename: 'new.bin', mode: 'octet', options: [] }, l.server.port);
    assertError((await peer.next())?.packet, ERROR_CODES.accessViolation);
    assert.throws(() => readFileSync(join(l.root, 'new.bin')));
  });

  test('mail mode gets ERROR 4', async () => {
    peer.send({ op: 'rrq', filename: 'hello.txt', mode: 'mail', options: [] }, l.server.port);
    assertError((await peer.next())?.packet, ERROR_CODES.illegalOperation);
  });

  test('the refusals are counted by reason', () => {
    const s = l.server.stats();
    assert.equal(s.refused['dot-dot'], 3);
    assert.equal(s.refused['outside-root'], 2);
    assert.equal(s.refused['not-found'], 1);
    assert.equal(s.refused['write-request'], 1);
    assert.equal(s.active, 0);
  });
});

describe('TFTP server under loss, duplicates, strangers and garbage', () => {
  let l: Lab;
  before(async () => {
    // Short timeouts so that lost packets are recovered quickly.
    l = await lab({ timeoutMs: 100, maxTimeoutMs: 400, maxRetries: 6, cacheMaxFileBytes: 256 * 1024 });
  });
  after(() => l.close());

  test('lock-step: every 13th DATA lost and every ACK sent twice; file intact, no sorcerer\'s apprentice', async () => {
    const file = l.files['boot/ipxe.efi']!;
    const blocks = Math.floor(file.length / 512) + 1;
    const r = await tftpGet({ host: HOST, port: l.server.port, file: 'boot/ipxe.efi', timeoutMs: 1000, retries: 10, ackCopies: 2, dropData: (_b, n) => n % 13 === 0 });
    assert.ok(r.ok, JSON.stringify(r.error));
    assert.equal(r.sha256, sha(file));
    // Each loss costs one resend. With the apprentice bug, every block after the first
    // duplicate ACK would arrive twice: ~2 × blocks.
    assert.ok(r.dataReceived <= blocks + 2 * r.dropped + 2, `${r.dataReceived} DATA for ${blocks} blocks with ${r.dropped} dropped`);
  });

  test('windowsize 8: DATA lost at random; file intact, each loss costs at most two windows', async () => {
    const file = l.files['big.bin']!;
    const blocks = Math.floor(file.length / 1468) + 1;
    const rnd = mulberry32(42);
    const r = await tftpGet({ host: HOST, port: l.server.port, file: 'big.bin', options: { blksize: '1468', windowsize: '8' }, timeoutMs: 1000, retries: 10, dropData: () => rnd() < 0.02 });
    assert.ok(r.ok, JSON.stringify(r.error));
    assert.equal(r.sha256, sha(file));
    assert.ok(r.dropped > 5);
    // A loss: the rest of its window arrives and is discarded (≤ 7), the window after the gap
    // is resent (≤ 8); a lost window end costs one timeout resend of ≤ 8.
    assert.ok(r.dataReceived <= blocks + 16 * r.dropped, `${r.dataReceived} DATA for ${blocks} blocks with ${r.dropped} dropped`);
  });

  test('windowsize 8: every ACK duplicated on the way; each window goes out at most twice, never more', async () => {
    const file = l.files['big.bin']!;
    const blocks = Math.floor(file.length / 1468) + 1;
    const r = await tftpGet({ host: HOST, port: l.server.port, file: 'big.bin', options: { blksize: '1468', windowsize: '8' }, timeoutMs: 1000, retries: 10, ackCopies: 2 });
    assert.ok(r.ok, JSON.stringify(r.error));
    assert.equal(r.sha256, sha(file));
    // A duplicate of a window's ACK may stand for a lost first block of the next window, so
    // transfer.ts resends that window once (RFC 7440 §4); the copies it causes are never
    // ACKed again, so nothing snowballs: at most 2 × blocks, where the apprentice bug grows.
    assert.ok(r.dataReceived <= 2 * blocks, `${r.dataReceived} DATA for ${blocks} blocks`);
  });

  test('a file larger than the cache is read from disk per window, intact under loss', async () => {
    const file = l.files['big.bin']!;
    const rnd = mulberry32(7);
    const before = l.server.stats().cache.misses;
    const r = await tftpGet({ host: HOST, port: l.server.port, file: 'big.bin', options: { blksize: '1024', windowsize: '16' }, timeoutMs: 1000, retries: 10, dropData: () => rnd() < 0.01 });
    assert.ok(r.ok, JSON.stringify(r.error));
    assert.equal(r.sha256, sha(file));
    assert.equal(l.server.stats().cache.misses, before, 'the 1 MiB file bypassed the 256 KiB cache');
  });

  test('a packet from a wrong transfer id gets ERROR 5 and does not disturb the transfer', async () => {
    const client = await new RawPeer().open();
    const stranger = await new RawPeer().open();
    try {
      client.send(rrq('exact.bin'), l.server.port);
      const d1 = await client.next();
      assert.equal(d1?.packet.op, 'data');
      const tid = d1.port;
      assert.notEqual(tid, l.server.port, 'the transfer has its own port');
      stranger.send({ op: 'ack', block: 1 }, tid);
      assertError((await stranger.next())?.packet, ERROR_CODES.unknownTransferId);
      // The stranger's ACK 1 did not advance the transfer: no DATA 2 was sent for it.
      const early = await client.next(50);
      assert.equal(early, undefined, 'the stranger moved the transfer on');
      const got: Buffer[] = [Buffer.from((d1.packet).data)];
      for (let block = 1; ; block++) {
        client.send({ op: 'ack', block }, tid);
        if (got[got.length - 1]!.length < 512) break;
        const d = await client.next();
        assert.equal(d?.packet.op, 'data');
        assert.equal(d.port, tid);
        got.push(Buffer.from((d.packet).data));
      }
      assert.deepEqual(Buffer.concat(got), l.files['exact.bin']);
      assert.ok(l.server.stats().wrongTid >= 1);
    } finally {
      client.close();
      stranger.close();
    }
  });

  test('a client that never ACKs: the OACK is resent with backoff, then the transfer fails with a timeout', async () => {
    const client = await new RawPeer().open();
    try {
      const rec = l.record('hello.txt');
      client.send(rrq('hello.txt', { tsize: '0' }), l.server.port);
      const seen: Packet[] = [];
      for (;;) {
        const p = await client.next(5000);
        assert.ok(p, 'the server went silent without an ERROR');
        seen.push(p.packet);
        if (p.packet.op === 'error') break;
      }
      assert.equal(seen.filter((p) => p.op === 'oack').length, 1 + 6, 'first OACK and maxRetries resends');
      const t = await rec;
      assert.equal(t.ok, false);
      assert.equal(t.reason, 'timeout');
    } finally {
      client.close();
    }
  });

  test('a client that aborts after the OACK (EDK2 tsize probe) ends the transfer at once', async () => {
    const client = await new RawPeer().open();
    try {
      const rec = l.record('boot/ipxe.efi');
      client.send(rrq('boot/ipxe.efi', { tsize: '0', blksize: '1468' }), l.server.port);
      const o = await client.next();
      assert.equal(o?.packet.op, 'oack');
      client.send({ op: 'error', code: ERROR_CODES.optionNegotiation, message: 'Aborted' }, o.port);
      const t = await rec;
      assert.equal(t.reason, 'peer-error');
      assert.match(t.detail ?? '', /Aborted/);
      assert.equal(l.server.stats().active, 0);
    } finally {
      client.close();
    }
  });

  test('fuzz: 3000 random datagrams to the listening port and to a transfer, then transfers still work', async () => {
    const rnd = mulberry32(2024);
    const fuzzer = await new RawPeer().open();
    const blob = (): Buffer => {
      const b = pseudoRandom(Math.floor(rnd() * 600), Math.floor(rnd() * 1e9));
      // Most start with a real opcode, so the decoder gets past the first check.
      if (b.length >= 2 && rnd() < 0.8) b.writeUInt16BE(1 + Math.floor(rnd() * 6), 0);
      return b;
    };
    try {
      const before = l.server.stats();
      for (let i = 0; i < 3000; i++) {
        fuzzer.send(blob(), l.server.port);
        if (i % 100 === 0) await new Promise((r) => setImmediate(r));
      }
      // And garbage into a live transfer from its own client port.
      const client = await new RawPeer().open();
      client.send(rrq('exact.bin'), l.server.port);
      const d1 = await client.next();
      assert.equal(d1?.packet.op, 'data');
      for (let i = 0; i < 200; i++) client.send(Buffer.from([0, 4, i]), d1.port);
      // An ACK after the garbage: its answer shows the garbage was taken in and dropped.
      client.send({ op: 'ack', block: 1 }, d1.port);
      assert.equal((await client.next())?.packet.op, 'data');
      client.close();
      const r = await tftpGet({ host: HOST, port: l.server.port, file: 'boot/ipxe.efi', options: { blksize: '1468', windowsize: '4' } });
      assert.ok(r.ok);
      assert.equal(r.sha256, sha(l.files['boot/ipxe.efi']!));
      const s = l.server.stats();
      const dropped = Object.values(s.malformed).reduce((a, b) => a + (b ?? 0), 0) - Object.values(before.malformed).reduce((a, b) => a + (b ?? 0), 0);
      assert.ok(dropped > 1000, `${dropped} datagrams counted as malformed`);
      assert.ok(s.droppedOnTransfers >= 1);
    } finally {
      fuzzer.close();
      // Drain whatever the fuzz started: requests that happened to decode open transfers.
      await new Promise((r) => setTimeout(r, 10));
    }
  });

  test('200 concurrent clients with mixed options all get intact files', async () => {
    const modes: Record<string, string>[] = [{}, { blksize: '1468' }, { blksize: '1468', windowsize: '16', tsize: '0' }, { blksize: '1024', windowsize: '4' }];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => tftpGet({ host: HOST, port: l.server.port, file: i % 2 ? 'boot/ipxe.efi' : 'hello.txt', options: modes[i % modes.length]!, timeoutMs: 2000 })),
    );
    for (const [i, r] of results.entries()) {
      assert.ok(r.ok, `client ${i}: ${JSON.stringify(r.error)}`);
      assert.equal(r.sha256, sha(l.files[i % 2 ? 'boot/ipxe.efi' : 'hello.txt']!), `client ${i}`);
    }
  });
});

describe('TFTP server caps concurrent transfers', () => {
  test('beyond maxTransfers a request gets "server busy"; a slot frees when a transfer ends', async () => {
    const l = await lab({ maxTransfers: 2, timeoutMs: 50, maxTimeoutMs: 50, maxRetries: 1 });
    const peers = await Promise.all([0, 1, 2, 3].map(() => new RawPeer().open()));
    try {
      // Two clients that never ACK hold both slots.
      for (const p of peers.slice(0, 2)) {
        p.send(rrq('big.bin'), l.server.port);
        assert.equal((await p.next())?.packet.op, 'data');
      }
      peers[2]!.send(rrq('big.bin'), l.server.port);
      const busy = (await peers[2]!.next())?.packet;
      assertError(busy, ERROR_CODES.notDefined);
      assert.match(busy.message, /busy/i);
      assert.equal(l.server.stats().refused.busy, 1);
      // They time out (their clients get an ERROR), and the next request is served.
      for (const p of peers.slice(0, 2)) while ((await p.next())?.packet.op !== 'error');
      const r = await tftpGet({ host: HOST, port: l.server.port, file: 'exact.bin' });
      assert.ok(r.ok);
      assert.equal(l.server.stats().failed.timeout, 2);
    } finally {
      for (const p of peers) p.close();
      await l.close();
    }
  });
});

describe('TFTP server reuses the sockets of completed transfers', () => {
  let l: Lab;
  before(async () => {
    l = await lab();
  });
  after(async () => {
    await l.close();
  });

  /** One whole transfer of a file of a single block; the server's transfer id. */
  async function fetchOneBlock(peer: RawPeer, file: string): Promise<number> {
    peer.send(rrq(file), l.server.port);
    const d = await peer.next();
    assert.equal(d?.packet.op, 'data');
    const done = l.record(file);
    peer.send({ op: 'ack', block: 1 }, d.port);
    assert.ok((await done).ok);
    return d.port;
  }

  test('never to the client it last served, and a late packet from that client gets ERROR 5 without touching the new transfer', async () => {
    const a = await new RawPeer().open();
    const b = await new RawPeer().open();
    try {
      const first = await fetchOneBlock(a, 'hello.txt');
      await new Promise((r) => setTimeout(r, 700));
      const second = await fetchOneBlock(a, 'hello.txt');
      assert.notEqual(second, first, 'a client got the socket of its own previous transfer back');
      await new Promise((r) => setTimeout(r, 700));
      b.send(rrq('exact.bin'), l.server.port);
      const d1 = await b.next();
      assert.equal(d1?.packet.op, 'data');
      assert.equal(d1.port, first, 'the oldest idle socket was not reused');
      // A's old transfer on this port is over; its stray ACK must not move B's transfer on.
      a.send({ op: 'ack', block: 1 }, first);
      assertError((await a.next())?.packet, ERROR_CODES.unknownTransferId);
      assert.equal(await b.next(50), undefined, 'the late packet moved the new transfer on');
      const got: Buffer[] = [Buffer.from(d1.packet.data)];
      for (let block = 1; ; block++) {
        b.send({ op: 'ack', block }, first);
        if (got[got.length - 1]!.length < 512) break;
        const d = await b.next();
        assert.equal(d?.packet.op, 'data');
        got.push(Buffer.from(d.packet.data));
      }
      assert.deepEqual(Buffer.concat(got), l.files['exact.bin']);
    } finally {
      a.close();
      b.close();
    }
  });
});
