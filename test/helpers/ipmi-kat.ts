// Known-answer check of one captured RMCP+ session (another implementation on at least one
// end): from the captured Open Session and RAKP messages and the password the client used,
// ironbay's codec must reproduce both sides' RAKP codes, RAKP 4's ICV and K1/K2 good enough to
// verify every later packet's AuthCode and open its AES payload; re-encoding each packet with
// its own IV must give the captured bytes. Used on fixtures and on live captures.
import assert from 'node:assert/strict';
import {
  additionalKeys, decodeOpenSessionRequest, decodeOpenSessionResponse, decodeRakp1, decodeRakp2, decodeRakp3, decodeRakp4, decodeRequest, decodeResponse,
  decodeRmcp, decodeSession, encodeOpenSessionRequest, encodeOpenSessionResponse, encodeRakp1, encodeV2, PAYLOAD, rakp2AuthCode, rakp3AuthCode, rakp4Icv,
  rakp4IcvLength, sessionIntegrityKey, SUITES, type RakpValues, type SessionKeys, type V15Packet, type V2Packet,
} from '../../daemon/bmc/ipmi/codec/index.ts';

export interface CapturedSession {
  tool: string;
  cipherSuite: number | null;
  username: string;
  password: string;
  packets: { dir: 'c2s' | 's2c'; hex: string }[];
}

export type Packet = { dir: 'c2s' | 's2c'; raw: Buffer; p: V15Packet | V2Packet };

/**
 * Decodes the packets up to RAKP 4 (unauthenticated by definition); the ones after it are
 * session packets, which wait for the keys (with suite 1 they are unauthenticated too).
 */
export function handshake(f: CapturedSession): { open: Packet[]; rest: { dir: 'c2s' | 's2c'; raw: Buffer }[] } {
  const open: Packet[] = [];
  const rest: { dir: 'c2s' | 's2c'; raw: Buffer }[] = [];
  let established = false;
  for (const { dir, hex } of f.packets) {
    const raw = Buffer.from(hex, 'hex');
    const r = decodeRmcp(raw);
    assert.ok(r.ok, `${f.tool}: ${hex}`);
    if (established) {
      rest.push({ dir, raw });
      continue;
    }
    const s = decodeSession(r.value.body);
    assert.ok(s.ok, `${f.tool}: ${hex}: ${s.ok ? '' : s.reason}`);
    open.push({ dir, raw, p: s.value });
    if (s.value.format === 'v2.0' && s.value.payloadType === PAYLOAD.rakp4) established = true;
  }
  return { open, rest };
}

export const byType = (ps: Packet[], t: number): Packet | undefined => ps.find((x) => x.p.format === 'v2.0' && x.p.payloadType === t);

/** Runs every check; returns how many session packets were verified. */
export function verifySession(f: CapturedSession): number {
  const suite = SUITES.get(f.cipherSuite!)!;
  const { open, rest } = handshake(f);
  const osReq = decodeOpenSessionRequest(byType(open, PAYLOAD.openSessionRequest)!.p.payload);
  const osRes = decodeOpenSessionResponse(byType(open, PAYLOAD.openSessionResponse)!.p.payload);
  const r1 = decodeRakp1(byType(open, PAYLOAD.rakp1)!.p.payload);
  const r2 = decodeRakp2(byType(open, PAYLOAD.rakp2)!.p.payload);
  const r3 = decodeRakp3(byType(open, PAYLOAD.rakp3)!.p.payload);
  const r4 = decodeRakp4(byType(open, PAYLOAD.rakp4)!.p.payload);
  assert.ok(osReq.ok && osRes.ok && r1.ok && r2.ok && r3.ok && r4.ok);
  assert.deepEqual([osRes.value.auth, osRes.value.integrity, osRes.value.confidentiality], [suite.auth, suite.integrity, suite.confidentiality]);
  // Our encoders produce the peers' bytes for the same values.
  assert.deepEqual(encodeOpenSessionRequest(osReq.value), byType(open, PAYLOAD.openSessionRequest)!.p.payload);
  assert.deepEqual(encodeOpenSessionResponse(osRes.value), byType(open, PAYLOAD.openSessionResponse)!.p.payload);
  assert.deepEqual(encodeRakp1(r1.value), byType(open, PAYLOAD.rakp1)!.p.payload);

  const v: RakpValues = {
    auth: suite.auth,
    consoleSessionId: osReq.value.consoleSessionId,
    bmcSessionId: osRes.value.bmcSessionId,
    consoleRandom: r1.value.consoleRandom,
    bmcRandom: r2.value.bmcRandom,
    bmcGuid: r2.value.bmcGuid,
    role: r1.value.role,
    username: Buffer.from(f.username),
    password: Buffer.from(f.password),
  };
  assert.deepEqual(rakp2AuthCode(v), r2.value.authCode, 'RAKP 2 code');
  assert.deepEqual(rakp3AuthCode(v), r3.value.authCode, `RAKP 3 code (made by ${f.tool})`);
  const sik = sessionIntegrityKey(v);
  assert.deepEqual(rakp4Icv(v, sik).subarray(0, rakp4IcvLength(suite.auth)), r4.value.icv, 'RAKP 4 ICV');
  const { k1, k2 } = additionalKeys(suite.auth, sik);
  const keys: SessionKeys = { integrity: suite.integrity, confidentiality: suite.confidentiality, k1, aesKey: k2.subarray(0, 16) };

  for (const { dir, raw } of rest) {
    const d = decodeSession(raw.subarray(4), keys);
    assert.ok(d.ok, `${dir} ${raw.toString('hex')}: ${d.ok ? '' : d.reason}`);
    assert.equal(d.value.format, 'v2.0');
    if (d.value.format !== 'v2.0') continue;
    assert.equal(d.value.sessionId, dir === 'c2s' ? osRes.value.bmcSessionId : osReq.value.consoleSessionId);
    const m = dir === 'c2s' ? decodeRequest(d.value.payload) : decodeResponse(d.value.payload);
    assert.ok(m.ok, `${dir}: the opened payload is an IPMI message with good checksums`);
    const iv = d.value.encrypted ? raw.subarray(16, 32) : undefined;
    const again = encodeV2({ payloadType: d.value.payloadType, sessionId: d.value.sessionId, sequence: d.value.sequence, payload: d.value.payload, keys, ...(iv && { iv }) });
    assert.deepEqual(again, raw, `${dir}: re-encoded with the same IV`);
  }
  return rest.length;
}
