import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, encode, type RequestPacket, type TftpOption } from '../../daemon/tftp/codec/index.ts';
import { blksizeForMtu, negotiate, type ServerLimits } from '../../daemon/tftp/negotiate.ts';
import { fixture } from '../fixtures/tftp/fixtures.ts';

const limits: ServerLimits = { maxBlksize: 1468, maxWindowsize: 16, maxWindowBytes: 64 * 1024 };
const opts = (...pairs: [string, string][]): TftpOption[] => pairs.map(([name, value]) => ({ name, value }));

function request(file: string): RequestPacket {
  const r = decode(fixture(file));
  assert.ok(r.ok && r.packet.op === 'rrq', file);
  return r.packet;
}

/** The OACK our negotiation would send, as bytes. */
function oackBytes(options: TftpOption[]): Uint8Array {
  return encode({ op: 'oack', options });
}

describe('negotiate: real requests give the answers real servers gave', () => {
  test('curl (tsize 0, blksize 512, timeout 6) → the same OACK as tftp-hpa', () => {
    const n = negotiate(request('curl-rrq-options.bin').options, limits, 700);
    assert.deepEqual(oackBytes(n.oack), fixture('tftpd-hpa-oack.bin'));
    assert.deepEqual([n.blksize, n.windowsize, n.timeoutMs], [512, 1, 6000]);
  });

  test('curl --tftp-blksize 1428 → the same OACK as tftp-hpa', () => {
    const n = negotiate(request('curl-rrq-blksize1428.bin').options, limits, 700);
    assert.deepEqual(oackBytes(n.oack), fixture('tftpd-hpa-oack-blksize1428.bin'));
  });

  test('blksize 65464: granted when the server allows it (as tftp-hpa did), clamped to the MTU otherwise', () => {
    const req = request('curl-rrq-blksize65464.bin').options;
    assert.deepEqual(oackBytes(negotiate(req, { ...limits, maxBlksize: 65464 }, 3000).oack), fixture('tftpd-hpa-oack-blksize65464.bin'));
    const n = negotiate(req, limits, 3000);
    assert.deepEqual(n.oack, opts(['tsize', '3000'], ['blksize', '1468'], ['timeout', '6']));
    assert.equal(n.blksize, 1468);
  });

  test('iPXE blksize 1432 against a 1428 limit → the OACK qemu answered', () => {
    const n = negotiate(request('ipxe-rrq.bin').options, { ...limits, maxBlksize: 1428 }, 3000);
    assert.deepEqual(oackBytes(n.oack), fixture('qemu-slirp-oack-blksize1428.bin'));
  });

  test('atftp windowsize 4 → the OACK atftpd answered', () => {
    const n = negotiate(request('atftp-rrq-windowsize.bin').options, limits, 3000);
    assert.deepEqual(oackBytes(n.oack), fixture('atftpd-oack-windowsize.bin'));
    assert.deepEqual([n.blksize, n.windowsize, n.timeoutMs], [512, 4, 2000]);
  });

  test('windowing off → windowsize left out, as tftp-hpa 5.2 (no RFC 7440) answered', () => {
    const n = negotiate(request('atftp-rrq-four-options.bin').options, { ...limits, maxWindowsize: 1 }, 3000);
    assert.deepEqual(oackBytes(n.oack), fixture('tftpd-hpa-oack-no-windowsize.bin'));
    assert.deepEqual(n.ignored, [{ name: 'windowsize', value: '4', why: 'no-windowing' }]);
    assert.equal(n.windowsize, 1);
  });

  test('EDK2 size probe: tsize, blksize 1468, windowsize 4 all granted', () => {
    const n = negotiate(request('edk2-rrq-tsize-probe.bin').options, limits, 3000);
    assert.deepEqual(n.oack, opts(['tsize', '3000'], ['blksize', '1468'], ['windowsize', '4']));
    assert.deepEqual([n.blksize, n.windowsize, n.timeoutMs], [1468, 4, undefined]);
  });

  test('blksize 7: ignored, so no OACK and DATA 1 follows (tftp-hpa 5.2 refused the whole request with ERROR 8)', () => {
    const n = negotiate(request('atftp-rrq-blksize7.bin').options, limits, 700);
    assert.deepEqual(n.oack, []);
    assert.equal(n.blksize, 512);
    assert.deepEqual(n.ignored, [{ name: 'blksize', value: '7', why: 'out-of-range' }]);
  });

  test('a request without options: no OACK', () => {
    const n = negotiate(request('tftp-hpa-rrq-octet.bin').options, limits, 700);
    assert.deepEqual(n, { oack: [], blksize: 512, windowsize: 1, timeoutMs: undefined, ignored: [] });
  });
});

describe('negotiate: each option', () => {
  const one = (name: string, value: string, l: ServerLimits = limits, size = 1000): ReturnType<typeof negotiate> => negotiate(opts([name, value]), l, size);

  test('blksize: 8 is the smallest accepted, 7 and 0 are ignored', () => {
    assert.deepEqual(one('blksize', '8').oack, opts(['blksize', '8']));
    assert.equal(one('blksize', '8').blksize, 8);
    for (const v of ['7', '0']) assert.deepEqual(one('blksize', v).ignored, [{ name: 'blksize', value: v, why: 'out-of-range' }]);
  });

  test('blksize above the server limit, even above 65464, is answered with the limit', () => {
    for (const v of ['1469', '65464', '65465', '9999999']) assert.deepEqual(one('blksize', v).oack, opts(['blksize', '1468']), v);
  });

  test('timeout: 1–255 echoed unchanged (RFC 2349), 0 and 256 ignored', () => {
    assert.deepEqual(one('timeout', '1').oack, opts(['timeout', '1']));
    assert.equal(one('timeout', '255').timeoutMs, 255_000);
    for (const v of ['0', '256']) {
      const n = one('timeout', v);
      assert.deepEqual([n.oack, n.timeoutMs, n.ignored[0]?.why], [[], undefined, 'out-of-range']);
    }
  });

  test('tsize: the real size for "0" and for any other number; empty files report 0', () => {
    assert.deepEqual(one('tsize', '0', limits, 123456789).oack, opts(['tsize', '123456789']));
    assert.deepEqual(one('tsize', '42', limits, 7).oack, opts(['tsize', '7']));
    assert.deepEqual(one('tsize', '0', limits, 0).oack, opts(['tsize', '0']));
  });

  test('tsize: not answered when the size is not known beforehand (netascii)', () => {
    assert.deepEqual(negotiate(opts(['tsize', '0']), limits, undefined).ignored, [{ name: 'tsize', value: '0', why: 'size-unknown' }]);
  });

  test('windowsize: 1–65535 by RFC 7440; clamped by the server maximum', () => {
    assert.deepEqual(one('windowsize', '65535').oack, opts(['windowsize', '16']));
    assert.deepEqual(one('windowsize', '2').oack, opts(['windowsize', '2']));
    for (const v of ['0', '65536']) assert.equal(one('windowsize', v).ignored[0]?.why, 'out-of-range', v);
    assert.equal(one('windowsize', '1').ignored[0]?.why, 'no-windowing');
  });

  test('windowsize: clamped so one window stays under maxWindowBytes, whichever order blksize comes in', () => {
    const l = { ...limits, maxWindowBytes: 8 * 1024 };
    const a = negotiate(opts(['windowsize', '16'], ['blksize', '1024']), l, 1);
    const b = negotiate(opts(['blksize', '1024'], ['windowsize', '16']), l, 1);
    assert.deepEqual(a.oack, opts(['windowsize', '8'], ['blksize', '1024']));
    assert.deepEqual(b.oack, opts(['blksize', '1024'], ['windowsize', '8']));
    assert.equal(a.windowsize, 8);
    // A byte cap smaller than two blocks leaves one block per window: no windowing.
    assert.equal(negotiate(opts(['blksize', '1468'], ['windowsize', '4']), { ...limits, maxWindowBytes: 2000 }, 1).ignored[0]?.why, 'no-windowing');
  });

  test('values must be plain decimal digits', () => {
    for (const v of ['', '+512', '-1', ' 512', '512 ', '0x200', '1e3', '5.0', '٥١٢', '12345678901234567']) {
      assert.deepEqual(one('blksize', v).ignored, [{ name: 'blksize', value: v, why: 'not-a-number' }], JSON.stringify(v));
    }
    assert.deepEqual(one('blksize', '0001024').oack, opts(['blksize', '1024']), 'leading zeros are still decimal');
  });

  test('unknown and non-standard options are ignored (blksize2, utimeout, rollover, multicast, …)', () => {
    const n = negotiate(opts(['blksize2', '1024'], ['utimeout', '10000'], ['rollover', '0'], ['multicast', ''], ['x', 'y']), limits, 1);
    assert.deepEqual(n.oack, []);
    assert.deepEqual(
      n.ignored.map((i) => i.why),
      Array<string>(5).fill('unknown-option'),
    );
  });

  test('answers keep the request order and leave out ignored options', () => {
    const n = negotiate(opts(['windowsize', '4'], ['foo', '1'], ['tsize', '0'], ['blksize', '4'], ['timeout', '3']), limits, 99);
    assert.deepEqual(n.oack, opts(['windowsize', '4'], ['tsize', '99'], ['timeout', '3']));
  });
});

describe('negotiate: server limits', () => {
  test('blksizeForMtu: MTU − IP − UDP − TFTP headers, within RFC 2348', () => {
    assert.equal(blksizeForMtu(1500, 4), 1468);
    assert.equal(blksizeForMtu(1500, 6), 1448);
    assert.equal(blksizeForMtu(9000, 4), 8968);
    assert.equal(blksizeForMtu(576, 4), 544);
    assert.equal(blksizeForMtu(30, 4), 8);
    assert.equal(blksizeForMtu(70000, 4), 65464);
  });

  test('limits outside the RFC ranges are a configuration bug', () => {
    for (const bad of [
      { ...limits, maxBlksize: 7 },
      { ...limits, maxBlksize: 65465 },
      { ...limits, maxBlksize: 1468.5 },
      { ...limits, maxWindowsize: 0 },
      { ...limits, maxWindowsize: 65536 },
      { ...limits, maxWindowBytes: 0 },
    ]) {
      assert.throws(() => negotiate([], bad, 0), RangeError, JSON.stringify(bad));
    }
  });
});
