// The IPMI v2.0 codec: layouts by the spec's tables, round trips both ways (the client and the
// in-repo test BMC share it), the integrity trailer and AES padding against tampering, and
// decoders fed garbage and truncations that must never throw.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import {
  additionalKeys, aesDecrypt, aesEncrypt, AUTH, CONFIDENTIALITY, decodeAsf, decodeOpenSessionRequest, decodeOpenSessionResponse, decodeRakp1, decodeRakp2,
  decodeRakp3, decodeRakp4, decodeRequest, decodeResponse, decodeRmcp, decodeSession, encodeAsfPing, encodeAsfPong, encodeOpenSessionRequest,
  encodeOpenSessionResponse, encodeRakp1, encodeRakp2, encodeRakp3, encodeRakp4, encodeRequest, encodeResponse, encodeV15, encodeV2, INTEGRITY,
  parseBootFlags, parseChassisStatus, parseCipherSuiteRecords, parseDeviceId, PAYLOAD, rakp2AuthCode, setBootFlags, SUITES, type SessionKeys,
} from '../../daemon/bmc/ipmi/codec/index.ts';
import { ReplayWindow } from '../../daemon/bmc/ipmi/replay.ts';
import { mulberry32 } from '../helpers/prng.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const keys = (suite: number): SessionKeys => {
  const s = SUITES.get(suite)!;
  const { k1, k2 } = additionalKeys(s.auth, Buffer.alloc(s.auth === AUTH.hmacSha256 ? 32 : 20, 7));
  return { integrity: s.integrity, confidentiality: s.confidentiality, k1, aesKey: k2.subarray(0, 16) };
};

describe('RMCP and ASF', () => {
  test('presence ping is the 12 bytes DSP0136 §3.2.4.3 lays out', () => {
    assert.deepEqual(encodeAsfPing(0x2a), hex('06 00 ff 06 000011be 80 2a 00 00'));
  });
  test('pong round trip; IPMI bit read from supported entities', () => {
    const r = decodeRmcp(encodeAsfPong(9));
    assert.ok(r.ok);
    const p = decodeAsf(r.value.body);
    assert.deepEqual(p, { ok: true, value: { tag: 9, iana: 4542, ipmi: true } });
  });
  test('wrong version, ACK class, unknown class and short datagrams are named', () => {
    assert.deepEqual(decodeRmcp(hex('05 00 ff 07')), { ok: false, reason: 'rmcp-version' });
    assert.deepEqual(decodeRmcp(hex('06 00 ff 87')), { ok: false, reason: 'rmcp-ack' });
    assert.deepEqual(decodeRmcp(hex('06 00 ff 08')), { ok: false, reason: 'rmcp-class' });
    assert.deepEqual(decodeRmcp(hex('06 00')), { ok: false, reason: 'rmcp-short' });
  });
});

describe('IPMI LAN messages', () => {
  test('Get Chassis Status request: both checksums make their bytes sum to zero', () => {
    const b = encodeRequest({ netFn: 0x00, cmd: 0x01, seq: 5, data: new Uint8Array() });
    assert.deepEqual(b, hex('20 00 e0 81 14 01 6a'));
    assert.equal((b[0]! + b[1]! + b[2]!) & 0xff, 0);
    assert.equal([...b.subarray(3)].reduce((a, x) => a + x, 0) & 0xff, 0);
  });
  test('request and response round trip; a flipped byte fails the checksum', () => {
    const req = encodeRequest({ netFn: 0x06, cmd: 0x38, seq: 63, data: hex('8e 04') });
    const d = decodeRequest(req);
    assert.ok(d.ok);
    assert.deepEqual([d.value.netFn, d.value.cmd, d.value.seq, [...d.value.data]], [0x06, 0x38, 63, [0x8e, 0x04]]);
    const res = encodeResponse({ rqAddr: 0x81, rsAddr: 0x20, netFn: 0x07, cmd: 0x38, seq: 63, completionCode: 0, data: hex('01 80 04 02 000000 00') });
    const r = decodeResponse(res);
    assert.ok(r.ok);
    assert.equal(r.value.completionCode, 0);
    const bad = Buffer.from(res);
    bad[8]! ^= 1;
    assert.deepEqual(decodeResponse(bad), { ok: false, reason: 'message-checksum-2' });
    assert.deepEqual(decodeResponse(req), { ok: false, reason: 'message-not-a-response' });
  });
});

describe('session establishment payloads', () => {
  test('Open Session Request carries the three algorithm payloads of Table 13-9', () => {
    const b = encodeOpenSessionRequest({ tag: 1, maxPrivilege: 3, consoleSessionId: 0xa0a1a2a3, auth: 3, integrity: 4, confidentiality: 1 });
    assert.deepEqual(b, hex('01 03 0000 a3a2a1a0 00 0000 08 03 000000 01 0000 08 04 000000 02 0000 08 01 000000'));
    assert.deepEqual(decodeOpenSessionRequest(b), { ok: true, value: { tag: 1, maxPrivilege: 3, consoleSessionId: 0xa0a1a2a3, auth: 3, integrity: 4, confidentiality: 1 } });
  });
  test('responses, RAKP 1–4 round trip; error statuses decode from their short forms', () => {
    const osr = { tag: 7, status: 0, maxPrivilege: 4, consoleSessionId: 1, bmcSessionId: 2, auth: 1, integrity: 1, confidentiality: 1 };
    assert.deepEqual(decodeOpenSessionResponse(encodeOpenSessionResponse(osr)), { ok: true, value: osr });
    assert.equal((decodeOpenSessionResponse(encodeOpenSessionResponse({ ...osr, status: 0x11 })) as { value: { status: number } }).value.status, 0x11);
    const r1 = { tag: 1, bmcSessionId: 9, consoleRandom: Buffer.alloc(16, 1), role: 0x14, username: Buffer.from('admin') };
    assert.deepEqual(decodeRakp1(encodeRakp1(r1)), { ok: true, value: r1 });
    const r2 = { tag: 2, status: 0, consoleSessionId: 3, bmcRandom: Buffer.alloc(16, 2), bmcGuid: Buffer.alloc(16, 3), authCode: Buffer.alloc(32, 4) };
    assert.deepEqual(decodeRakp2(encodeRakp2(r2)), { ok: true, value: r2 });
    assert.equal((decodeRakp2(encodeRakp2({ ...r2, status: 0x0d })) as { value: { status: number } }).value.status, 0x0d);
    const r3 = { tag: 3, status: 0, bmcSessionId: 9, authCode: Buffer.alloc(20, 5) };
    assert.deepEqual(decodeRakp3(encodeRakp3(r3)), { ok: true, value: r3 });
    const r4 = { tag: 4, status: 0, consoleSessionId: 3, icv: Buffer.alloc(12, 6) };
    assert.deepEqual(decodeRakp4(encodeRakp4(r4)), { ok: true, value: r4 });
  });
  test('a user name longer than 16 bytes is refused both ways', () => {
    assert.throws(() => encodeRakp1({ tag: 0, bmcSessionId: 1, consoleRandom: Buffer.alloc(16), role: 4, username: Buffer.alloc(17, 0x61) }), RangeError);
    const b = encodeRakp1({ tag: 0, bmcSessionId: 1, consoleRandom: Buffer.alloc(16), role: 4, username: Buffer.alloc(16, 0x61) });
    b[27] = 17;
    assert.deepEqual(decodeRakp1(Buffer.concat([b, Buffer.from('a')])), { ok: false, reason: 'rakp1-name-length' });
  });
  test('RAKP 2 auth code with RAKP-none is empty; with SHA-256 it is 32 bytes', () => {
    const v = { consoleSessionId: 1, bmcSessionId: 2, consoleRandom: Buffer.alloc(16), bmcRandom: Buffer.alloc(16), bmcGuid: Buffer.alloc(16), role: 0x14, username: Buffer.from('u'), password: Buffer.from('p') };
    assert.equal(rakp2AuthCode({ ...v, auth: AUTH.none }).length, 0);
    assert.equal(rakp2AuthCode({ ...v, auth: AUTH.hmacSha256 }).length, 32);
    assert.equal(rakp2AuthCode({ ...v, auth: AUTH.hmacSha1 }).length, 20);
  });
});

describe('RMCP+ session packets', () => {
  for (const suite of [0, 1, 2, 3, 16, 17]) {
    test(`suite ${suite}: encode → decode for payloads of 0–40 bytes`, () => {
      const k = keys(suite);
      for (let n = 0; n <= 40; n++) {
        const payload = Buffer.alloc(n, n);
        const b = encodeV2({ payloadType: PAYLOAD.ipmi, sessionId: 0x11223344, sequence: n + 1, payload, keys: k });
        // Integrity covers auth type … next header: a multiple of 4 (§13.28.4).
        if (k.integrity !== INTEGRITY.none) assert.equal((b.length - 4 - (k.integrity === INTEGRITY.hmacSha1_96 ? 12 : 16)) % 4, 0);
        const r = decodeRmcp(b);
        assert.ok(r.ok);
        const d = decodeSession(r.value.body, k);
        assert.ok(d.ok, `${n}: ${d.ok ? '' : d.reason}`);
        assert.equal(d.value.format, 'v2.0');
        if (d.value.format !== 'v2.0') return;
        assert.deepEqual([d.value.sessionId, d.value.sequence, d.value.encrypted, d.value.authenticated], [0x11223344, n + 1, k.confidentiality !== 0, k.integrity !== 0]);
        assert.deepEqual(d.value.payload, payload);
      }
    });
  }
  test('a changed byte anywhere under the AuthCode is caught', () => {
    const k = keys(17);
    const b = encodeV2({ payloadType: PAYLOAD.ipmi, sessionId: 1, sequence: 1, payload: Buffer.from('hello'), keys: k });
    for (let i = 4; i < b.length; i++) {
      const t = Buffer.from(b);
      t[i]! ^= 0x01;
      const d = decodeSession(t.subarray(4), k);
      assert.equal(d.ok, false, `flip at ${i} accepted`);
    }
  });
  test('an authenticated packet before any keys exist is refused, not trusted', () => {
    const b = encodeV2({ payloadType: PAYLOAD.ipmi, sessionId: 1, sequence: 1, payload: Buffer.from('x'), keys: keys(3) });
    assert.deepEqual(decodeSession(b.subarray(4)), { ok: false, reason: 'v2-unexpected-authentication' });
  });
  test('v1.5 wrapper: length byte and zero session', () => {
    const b = encodeV15(hex('20 18 c8 81 04 38 8e 04 b5'));
    assert.deepEqual(b, hex('06 00 ff 07 00 00000000 00000000 09 20 18 c8 81 04 38 8e 04 b5'));
    const d = decodeSession(b.subarray(4));
    assert.ok(d.ok && d.value.format === 'v1.5' && d.value.payload.length === 9);
  });
});

describe('AES-CBC-128 with IPMI padding (§13.29)', () => {
  test('agrees with OpenSSL: same ciphertext for the same key, IV and padded plaintext', () => {
    const key = hex('000102030405060708090a0b0c0d0e0f');
    const iv = hex('f0e0d0c0b0a090807060504030201000');
    const plain = Buffer.from('IPMI v2.0 payload');
    const ours = aesEncrypt(key, plain, iv);
    // IPMI pads with 01 02 … N then N; hand OpenSSL that exact block and no padding of its own.
    const pad = (16 - ((plain.length + 1) % 16)) % 16;
    const padded = Buffer.concat([plain, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1)), Buffer.from([pad])]);
    const theirs = execFileSync('openssl', ['enc', '-aes-128-cbc', '-nopad', '-K', key.toString('hex'), '-iv', iv.toString('hex')], { input: padded });
    assert.deepEqual(ours.subarray(16), theirs);
    assert.deepEqual(ours.subarray(0, 16), iv);
  });
  test('bad pad bytes, a pad length ≥ 16 and a ragged length are refused', () => {
    const key = Buffer.alloc(16, 1);
    const enc = (block: Buffer): Buffer => Buffer.concat([Buffer.alloc(16), execFileSync('openssl', ['enc', '-aes-128-cbc', '-nopad', '-K', key.toString('hex'), '-iv', '00'.repeat(16)], { input: block })]);
    assert.deepEqual(aesDecrypt(key, enc(Buffer.from('0123456789ab0102030405'.slice(0, 12) + '\x01\x03\x03\x03', 'latin1'))), { ok: false, reason: 'aes-pad-bytes' });
    assert.deepEqual(aesDecrypt(key, enc(Buffer.alloc(16, 0x10))), { ok: false, reason: 'aes-pad-length' });
    assert.deepEqual(aesDecrypt(key, Buffer.alloc(33)), { ok: false, reason: 'aes-length' });
  });
});

describe('command data', () => {
  test('boot flags: PXE, next boot only, EFI is a0 04 (Table 28-14), as ipmitool sends it', () => {
    assert.deepEqual(Buffer.from(setBootFlags({ valid: true, persistent: false, efi: true, selector: 1 }).data), hex('05 a0 04 00 00 00'));
    assert.deepEqual(parseBootFlags(hex('01 05 c0 08 00 00 00')), { ok: true, value: { valid: true, persistent: true, efi: false, selector: 2 } });
  });
  test('chassis status faults; device ID versions in BCD', () => {
    assert.deepEqual(parseChassisStatus(hex('0b 00 0c')), { ok: true, value: { powerOn: true, faults: ['power overload', 'power fault', 'drive fault', 'cooling/fan fault'] } });
    const id = parseDeviceId(hex('00 09 09 08 02 9f 91 12 00 02 0f'));
    assert.ok(id.ok);
    assert.deepEqual([id.value.firmware, id.value.ipmiVersion, id.value.manufacturerId, id.value.productId], ['9.08', '2.0', 0x1291, 0x0f02]);
  });
  test('cipher suite records: standard and OEM records, algorithm bytes skipped', () => {
    // ipmi_sim's first chunk (suites 0–3) followed by an OEM record for suite 0x40.
    const records = hex('c0 00 00 40 80  c0 01 01 40 80  c0 02 01 41 80  c0 03 01 41 81  c1 40 9f9100 03 44 81');
    assert.deepEqual(parseCipherSuiteRecords(records), [0, 1, 2, 3]);
  });
});

describe('replay window (§6.12.13)', () => {
  test('accepts each sequence once, tolerates reordering, refuses far behind and far ahead', () => {
    const w = new ReplayWindow();
    assert.equal(w.accept(0), false);
    assert.equal(w.accept(10), true);
    assert.equal(w.accept(10), false);
    assert.equal(w.accept(12), true);
    assert.equal(w.accept(11), true);
    assert.equal(w.accept(11), false);
    assert.equal(w.accept(12 + 33), false);
    assert.equal(w.accept(40), true);
    assert.equal(w.accept(8), false);
    assert.equal(w.accept(0xffffffff), false);
  });
});

describe('decoders never throw', () => {
  test('20,000 random and mutated datagrams, and every truncation of valid ones', () => {
    const rnd = mulberry32(0x1b41);
    const k = keys(17);
    const valid = [
      encodeV2({ payloadType: PAYLOAD.ipmi, sessionId: 5, sequence: 9, payload: encodeRequest({ netFn: 0, cmd: 1, seq: 1, data: new Uint8Array() }), keys: k }),
      encodeV2({ payloadType: PAYLOAD.rakp2, sessionId: 0, sequence: 0, payload: encodeRakp2({ tag: 1, status: 0, consoleSessionId: 3, bmcRandom: Buffer.alloc(16), bmcGuid: Buffer.alloc(16), authCode: Buffer.alloc(32) }) }),
      encodeV15(encodeRequest({ netFn: 6, cmd: 0x38, seq: 1, data: hex('8e 04') })),
      encodeAsfPong(1),
    ];
    const all = (b: Buffer): void => {
      const r = decodeRmcp(b);
      if (!r.ok) return;
      decodeAsf(r.value.body);
      for (const s of [decodeSession(r.value.body), decodeSession(r.value.body, k)]) {
        if (!s.ok) continue;
        const p = s.value.payload;
        for (const f of [decodeResponse, decodeRequest, decodeOpenSessionRequest, decodeOpenSessionResponse, decodeRakp1, decodeRakp2, decodeRakp3, decodeRakp4]) f(p);
      }
    };
    for (const v of valid) for (let i = 0; i <= v.length; i++) all(v.subarray(0, i));
    for (let n = 0; n < 20_000; n++) {
      const base = Buffer.from(valid[n % valid.length]!);
      if (n % 2) for (let i = 0; i < base.length; i++) base[i] = Math.floor(rnd() * 256);
      else base[Math.floor(rnd() * base.length)] = Math.floor(rnd() * 256);
      base[0] = 6; // keep most of them past the RMCP header
      all(base);
    }
    assert.equal(CONFIDENTIALITY.aesCbc128, 1);
  });
});
