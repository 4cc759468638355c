import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DECODE_REASONS,
  MAX_BLKSIZE,
  MAX_FILENAME_BYTES,
  MAX_OPTIONS,
  MAX_REQUEST_BYTES,
  decode,
  encode,
  type DecodeReason,
  type Packet,
} from '../../daemon/tftp/codec/index.ts';
import { FIXTURES, fixture, udpDatagrams } from '../fixtures/tftp/fixtures.ts';
import { mulberry32 } from '../helpers/prng.ts';

/** Bytes from parts: a string is its Latin-1 bytes, a number array is raw bytes. */
function bytes(...parts: (string | ArrayLike<number>)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'string') for (let i = 0; i < p.length; i++) out.push(p.charCodeAt(i));
    else out.push(...Array.from(p));
  }
  return new Uint8Array(out);
}
/** | 00 op | s1 | 0 | s2 | 0 | … */
const pkt = (op: number, ...strings: string[]): Uint8Array => bytes([0, op], ...strings.flatMap((s) => [s, [0]]));

function decoded(buf: Uint8Array): Packet {
  const r = decode(buf);
  assert.ok(r.ok, r.ok ? '' : `decode failed: ${r.reason}`);
  return r.packet;
}

const opts = (...pairs: [string, string][]): { name: string; value: string }[] => pairs.map(([name, value]) => ({ name, value }));

const prng = mulberry32;

describe('TFTP codec: captured packets', () => {
  test('every .bin fixture is the datagram its table entry names in the capture', () => {
    for (const f of FIXTURES) {
      const d = udpDatagrams(f.pcap)[f.index];
      assert.ok(d, `${f.pcap} #${f.index}`);
      assert.deepEqual(fixture(f.file), d.payload, f.file);
    }
  });

  // What each capture holds, field by field. DATA payloads are checked by length and content.
  const expected: Record<string, Packet> = {
    'curl-rrq-options.bin': { op: 'rrq', filename: 'hello.txt', mode: 'octet', options: opts(['tsize', '0'], ['blksize', '512'], ['timeout', '6']) },
    'tftpd-hpa-oack.bin': { op: 'oack', options: opts(['tsize', '700'], ['blksize', '512'], ['timeout', '6']) },
    'curl-ack-0.bin': { op: 'ack', block: 0 },
    'curl-ack-1.bin': { op: 'ack', block: 1 },
    'curl-rrq-blksize1428.bin': { op: 'rrq', filename: 'hello.txt', mode: 'octet', options: opts(['tsize', '0'], ['blksize', '1428'], ['timeout', '6']) },
    'tftpd-hpa-oack-blksize1428.bin': { op: 'oack', options: opts(['tsize', '700'], ['blksize', '1428'], ['timeout', '6']) },
    'curl-rrq-blksize65464.bin': { op: 'rrq', filename: 'boot/pxelinux.0', mode: 'octet', options: opts(['tsize', '0'], ['blksize', '65464'], ['timeout', '6']) },
    'tftpd-hpa-oack-blksize65464.bin': { op: 'oack', options: opts(['tsize', '3000'], ['blksize', '65464'], ['timeout', '6']) },
    'tftp-hpa-rrq-octet.bin': { op: 'rrq', filename: 'hello.txt', mode: 'octet', options: [] },
    'tftp-hpa-rrq-netascii.bin': { op: 'rrq', filename: 'hello.txt', mode: 'netascii', options: [] },
    'tftp-hpa-ack-3.bin': { op: 'ack', block: 3 },
    'tftp-hpa-rrq-missing.bin': { op: 'rrq', filename: 'missing.bin', mode: 'octet', options: [] },
    'tftpd-hpa-error-not-found.bin': { op: 'error', code: 1, message: 'File not found' },
    'tftp-hpa-ack-after-error.bin': { op: 'ack', block: 1 },
    'tftp-hpa-rrq-dotdot.bin': { op: 'rrq', filename: '../etc/passwd', mode: 'octet', options: [] },
    'tftp-hpa-rrq-leading-slash.bin': { op: 'rrq', filename: '/boot/pxelinux.0', mode: 'octet', options: [] },
    'tftp-hpa-wrq.bin': { op: 'wrq', filename: 'upload.txt', mode: 'octet', options: [] },
    'tftp-hpa-wrq-existing.bin': { op: 'wrq', filename: 'hello.txt', mode: 'octet', options: [] },
    'tftpd-hpa-error-wrq-access.bin': { op: 'error', code: 2, message: 'File must have global write permissions' },
    'atftp-rrq-windowsize.bin': { op: 'rrq', filename: 'boot/pxelinux.0', mode: 'octet', options: opts(['tsize', '0'], ['timeout', '2'], ['windowsize', '4']) },
    'atftpd-oack-windowsize.bin': { op: 'oack', options: opts(['tsize', '3000'], ['timeout', '2'], ['windowsize', '4']) },
    'atftp-ack-4-end-of-window.bin': { op: 'ack', block: 4 },
    'atftp-rrq-four-options.bin': { op: 'rrq', filename: 'boot/pxelinux.0', mode: 'octet', options: opts(['tsize', '0'], ['timeout', '2'], ['blksize', '1024'], ['windowsize', '4']) },
    'tftpd-hpa-oack-no-windowsize.bin': { op: 'oack', options: opts(['tsize', '3000'], ['timeout', '2'], ['blksize', '1024']) },
    'atftp-rrq-blksize7.bin': { op: 'rrq', filename: 'hello.txt', mode: 'octet', options: opts(['blksize', '7']) },
    'tftpd-hpa-error-option-negotiation.bin': { op: 'error', code: 8, message: 'Unsupported option(s) requested' },
    'ipxe-rrq.bin': { op: 'rrq', filename: 'boot/pxelinux.0', mode: 'octet', options: opts(['blksize', '1432'], ['tsize', '0']) },
    'qemu-slirp-oack-blksize1428.bin': { op: 'oack', options: opts(['blksize', '1428'], ['tsize', '3000']) },
    'edk2-rrq-tsize-probe.bin': { op: 'rrq', filename: 'boot/pxelinux.0', mode: 'octet', options: opts(['tsize', '0'], ['blksize', '1468'], ['windowsize', '4']) },
    'qemu-slirp-oack-tsize.bin': { op: 'oack', options: opts(['tsize', '3000'], ['blksize', '1428']) },
    'edk2-error-abort-after-oack.bin': { op: 'error', code: 8, message: 'User aborted the transfer' },
    'edk2-rrq.bin': { op: 'rrq', filename: 'boot/pxelinux.0', mode: 'octet', options: opts(['blksize', '1468'], ['windowsize', '4']) },
  };
  const dataFixtures: Record<string, { block: number; length: number; starts: string }> = {
    'tftpd-hpa-data-1.bin': { block: 1, length: 512, starts: 'ironbay tftp fixture line 000\n' },
    'tftpd-hpa-data-2-last.bin': { block: 2, length: 188, starts: 'onbay tftp fixture line 017\n' },
    'tftpd-hpa-data-1-of-3000.bin': { block: 1, length: 3000, starts: '\x00\x07\x0e\x15' },
    // netascii: tftp-hpa turned each LF into CR LF, so 700 bytes became 723 = 512 + 211.
    'tftpd-hpa-data-2-netascii.bin': { block: 2, length: 211, starts: 'ture line 016\r\n' },
    'tftpd-hpa-data-3-empty.bin': { block: 3, length: 0, starts: '' },
  };

  test('the table covers every fixture', () => {
    assert.deepEqual(new Set([...Object.keys(expected), ...Object.keys(dataFixtures)]), new Set(FIXTURES.map((f) => f.file)));
  });

  for (const [file, want] of Object.entries(expected)) {
    test(`${file} decodes to its fields and re-encodes to the same bytes`, () => {
      const raw = fixture(file);
      assert.deepEqual(decoded(raw), want);
      assert.deepEqual(encode(decoded(raw)), raw);
    });
  }
  for (const [file, want] of Object.entries(dataFixtures)) {
    test(`${file} is DATA block ${want.block} with ${want.length} bytes`, () => {
      const raw = fixture(file);
      const p = decoded(raw);
      assert.equal(p.op, 'data');
      if (p.op !== 'data') return;
      assert.equal(p.block, want.block);
      assert.equal(p.data.length, want.length);
      assert.equal(String.fromCharCode(...p.data.subarray(0, want.starts.length)), want.starts);
      assert.deepEqual(encode(p), raw);
    });
  }

  test('the 3000-byte DATA carries the file tftp-hpa was serving (byte i = 7i mod 256)', () => {
    const p = decoded(fixture('tftpd-hpa-data-1-of-3000.bin'));
    assert.ok(p.op === 'data');
    assert.ok(p.data.every((b, i) => b === ((i * 7) & 0xff)));
  });
});

describe('TFTP codec: accepted variations', () => {
  test('mode and option names in any case; names come out lower-case, values untouched', () => {
    assert.deepEqual(decoded(pkt(1, 'f', 'OcTeT', 'BlkSize', '1024', 'TSIZE', '0', 'x-Vendor', 'MiXeD')), {
      op: 'rrq',
      filename: 'f',
      mode: 'octet',
      options: opts(['blksize', '1024'], ['tsize', '0'], ['x-vendor', 'MiXeD']),
    });
    assert.equal((decoded(pkt(2, 'f', 'NETASCII')) as { mode: string }).mode, 'netascii');
    assert.equal((decoded(pkt(1, 'f', 'Mail')) as { mode: string }).mode, 'mail');
  });

  test('filename case is kept', () => {
    assert.equal((decoded(pkt(1, 'Boot/BCD', 'octet')) as { filename: string }).filename, 'Boot/BCD');
  });

  test('trailing NUL padding after the mode or the options is accepted', () => {
    assert.deepEqual(decoded(bytes(pkt(1, 'f', 'octet'), [0, 0, 0, 0])), { op: 'rrq', filename: 'f', mode: 'octet', options: [] });
    assert.deepEqual(decoded(bytes(pkt(1, 'f', 'octet', 'tsize', '0'), [0, 0])), { op: 'rrq', filename: 'f', mode: 'octet', options: opts(['tsize', '0']) });
  });

  test('an option with an empty value is kept (negotiation ignores it)', () => {
    assert.deepEqual((decoded(pkt(1, 'f', 'octet', 'blksize', '')) as { options: unknown }).options, opts(['blksize', '']));
  });

  test('bytes above 0x7F survive decode → encode unchanged', () => {
    const raw = bytes([0, 1], 'caf', [0xe9, 0xff, 0x80], [0], 'octet', [0]);
    const p = decoded(raw);
    assert.equal((p as { filename: string }).filename, 'caf\u00e9\u00ff\u0080');
    assert.deepEqual(encode(p), raw);
  });

  test('a request of exactly 512 bytes, with a filename of the longest possible 504 bytes', () => {
    const name = 'a'.repeat(MAX_FILENAME_BYTES);
    const raw = pkt(1, name, 'mail');
    assert.equal(raw.length, MAX_REQUEST_BYTES);
    assert.equal((decoded(raw) as { filename: string }).filename, name);
  });

  test(`${MAX_OPTIONS} options are accepted`, () => {
    const pairs = Array.from({ length: MAX_OPTIONS }, (_, i) => [`o${i}`, '1']).flat();
    assert.equal((decoded(pkt(1, 'f', 'octet', ...pairs)) as { options: readonly unknown[] }).options.length, MAX_OPTIONS);
  });

  test('DATA from empty to 65464 bytes', () => {
    assert.deepEqual(decoded(bytes([0, 3, 0, 9])), { op: 'data', block: 9, data: new Uint8Array(0) });
    const full = decoded(bytes([0, 3, 0xff, 0xff], Array<number>(MAX_BLKSIZE).fill(7)));
    assert.ok(full.op === 'data' && full.block === 65535 && full.data.length === MAX_BLKSIZE);
  });

  test('ACK block numbers use all 16 bits', () => {
    assert.deepEqual(decoded(bytes([0, 4, 0xff, 0xfe])), { op: 'ack', block: 65534 });
  });

  test('ERROR: a message without its NUL runs to the end; bytes after the NUL are ignored; unknown codes kept', () => {
    assert.deepEqual(decoded(bytes([0, 5, 0, 0], 'no terminator')), { op: 'error', code: 0, message: 'no terminator' });
    assert.deepEqual(decoded(bytes([0, 5, 0, 1], 'msg', [0], 'junk')), { op: 'error', code: 1, message: 'msg' });
    assert.deepEqual(decoded(bytes([0, 5, 0x12, 0x34])), { op: 'error', code: 0x1234, message: '' });
  });
});

describe('TFTP codec: every rejection has its own reason', () => {
  const bad: Record<DecodeReason, Uint8Array> = {
    'too-short': bytes([0]),
    'unknown-opcode': bytes([0, 7, 0, 0]),
    'request-too-long': pkt(1, 'a'.repeat(MAX_FILENAME_BYTES + 1), 'mail'),
    'filename-unterminated': bytes([0, 1], 'file'),
    'filename-empty': pkt(1, '', 'octet'),
    'mode-missing': pkt(1, 'file'),
    'mode-unterminated': bytes([0, 1], 'file', [0], 'octet'),
    'unknown-mode': pkt(1, 'file', 'binary'),
    'option-name-unterminated': bytes(pkt(1, 'f', 'octet'), 'blksize'),
    'option-value-missing': pkt(1, 'f', 'octet', 'blksize'),
    'option-value-unterminated': bytes(pkt(1, 'f', 'octet', 'blksize'), '1024'),
    'option-duplicate': pkt(1, 'f', 'octet', 'blksize', '1024', 'BLKSIZE', '512'),
    'too-many-options': pkt(1, 'f', 'octet', ...Array.from({ length: MAX_OPTIONS + 1 }, (_, i) => [`o${i}`, '1']).flat()),
    'junk-after-padding': bytes(pkt(1, 'f', 'octet'), [0], 'tsize', [0], '0', [0]),
    'oack-empty': bytes([0, 6]),
    'data-truncated': bytes([0, 3, 0]),
    'data-too-long': bytes([0, 3, 0, 1], Array<number>(MAX_BLKSIZE + 1).fill(0)),
    'ack-length': bytes([0, 4, 0, 1, 0]),
    'error-truncated': bytes([0, 5, 0]),
  };

  test('the table covers every reason in DECODE_REASONS', () => {
    assert.deepEqual(Object.keys(bad).sort(), Object.keys(DECODE_REASONS).sort());
  });

  for (const [reason, buf] of Object.entries(bad)) {
    test(reason, () => assert.deepEqual(decode(buf), { ok: false, reason }));
  }

  test('more cases that share a reason', () => {
    const cases: [Uint8Array, DecodeReason][] = [
      [new Uint8Array(0), 'too-short'],
      [bytes([0, 0]), 'unknown-opcode'],
      [bytes([1, 1], 'f', [0], 'octet', [0]), 'unknown-opcode'], // opcode is 16 bits: 0x0101
      [bytes([0, 1]), 'filename-unterminated'],
      [bytes([0, 2], 'f', [0], 'oct'), 'mode-unterminated'],
      [pkt(1, 'f', ''), 'unknown-mode'],
      [pkt(1, 'f', 'octet\u00e9'), 'unknown-mode'],
      [bytes([0, 4, 0]), 'ack-length'],
      [bytes([0, 4]), 'ack-length'],
      [bytes([0, 6], 'tsize'), 'option-name-unterminated'],
      [pkt(6, 'tsize', '1', 'TSize', '2'), 'option-duplicate'],
      [bytes([0, 6, 0, 0]), 'oack-empty'], // padding only
      [bytes([0, 5]), 'error-truncated'],
    ];
    for (const [buf, reason] of cases) assert.deepEqual(decode(buf), { ok: false, reason }, `${JSON.stringify([...buf].slice(0, 16))} → ${reason}`);
  });
});

describe('TFTP codec: encode refuses what cannot go on the wire', () => {
  const refused: [string, Packet][] = [
    ['block above 16 bits', { op: 'ack', block: 65536 }],
    ['negative block', { op: 'data', block: -1, data: new Uint8Array(0) }],
    ['fractional code', { op: 'error', code: 1.5, message: '' }],
    ['DATA longer than 65464', { op: 'data', block: 1, data: new Uint8Array(MAX_BLKSIZE + 1) }],
    ['NUL inside a filename', { op: 'rrq', filename: 'a\0b', mode: 'octet', options: [] }],
    ['character past U+00FF', { op: 'error', code: 0, message: 'snow \u2603' }],
    ['empty filename', { op: 'rrq', filename: '', mode: 'octet', options: [] }],
    ['request over 512 bytes', { op: 'rrq', filename: 'a'.repeat(MAX_FILENAME_BYTES), mode: 'octet', options: [] }],
    ['OACK without options', { op: 'oack', options: [] }],
    ['option with empty name', { op: 'oack', options: opts(['', '1']) }],
  ];
  for (const [what, p] of refused) test(what, () => assert.throws(() => encode(p), RangeError));

  test('encodes each kind as RFC 1350 / 2347 lay it out', () => {
    assert.deepEqual(encode({ op: 'ack', block: 0x1234 }), bytes([0, 4, 0x12, 0x34]));
    assert.deepEqual(encode({ op: 'data', block: 65535, data: bytes('hi') }), bytes([0, 3, 0xff, 0xff], 'hi'));
    assert.deepEqual(encode({ op: 'error', code: 2, message: 'Access violation' }), bytes([0, 5, 0, 2], 'Access violation', [0]));
    assert.deepEqual(encode({ op: 'error', code: 0, message: '' }), bytes([0, 5, 0, 0, 0]));
    assert.deepEqual(encode({ op: 'oack', options: opts(['blksize', '1428']) }), pkt(6, 'blksize', '1428'));
    assert.deepEqual(encode({ op: 'wrq', filename: 'f', mode: 'netascii', options: opts(['tsize', '5']) }), pkt(2, 'f', 'netascii', 'tsize', '5'));
  });
});

describe('TFTP codec: hostile input never throws', () => {
  /** decode must not throw; when it accepts, encode → decode must give the same packet. */
  function check(buf: Uint8Array): void {
    const r = decode(buf);
    if (!r.ok) {
      assert.ok(r.reason in DECODE_REASONS);
      return;
    }
    assert.deepEqual(decode(encode(r.packet)), r);
  }

  test('every fixture truncated at every offset', () => {
    for (const f of FIXTURES) {
      const raw = fixture(f.file);
      for (let n = 0; n <= raw.length; n++) check(raw.subarray(0, n));
    }
  });

  test('20,000 random datagrams (seeded), biased towards valid opcodes and NULs', () => {
    const rnd = prng(0x7f7f);
    for (let i = 0; i < 20_000; i++) {
      const len = Math.floor(rnd() * (rnd() < 0.1 ? 700 : 64));
      const buf = new Uint8Array(len);
      for (let j = 0; j < len; j++) buf[j] = rnd() < 0.25 ? 0 : rnd() < 0.5 ? 0x61 + Math.floor(rnd() * 26) : Math.floor(rnd() * 256);
      if (len >= 2) buf[0] = 0;
      if (len >= 2 && rnd() < 0.9) buf[1] = 1 + Math.floor(rnd() * 6);
      check(buf);
    }
  });

  test('20,000 mutations of real packets (seeded): flipped, inserted, deleted bytes', () => {
    const rnd = prng(0xb007);
    const originals = FIXTURES.map((f) => fixture(f.file)).filter((b) => b.length < 1000);
    for (let i = 0; i < 20_000; i++) {
      const bytesOf = [...originals[Math.floor(rnd() * originals.length)]!];
      for (let m = 1 + Math.floor(rnd() * 4); m > 0; m--) {
        const at = Math.floor(rnd() * (bytesOf.length + 1));
        const kind = rnd();
        if (kind < 0.4 && at < bytesOf.length) bytesOf[at] = rnd() < 0.3 ? 0 : Math.floor(rnd() * 256);
        else if (kind < 0.7) bytesOf.splice(at, 0, rnd() < 0.5 ? 0 : Math.floor(rnd() * 256));
        else bytesOf.splice(at, 1);
      }
      check(new Uint8Array(bytesOf));
    }
  });
});
