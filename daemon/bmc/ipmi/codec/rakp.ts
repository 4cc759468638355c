// RMCP+ session establishment payloads (IPMI v2.0 §13.17–13.23): Open Session Request/Response
// and RAKP messages 1–4. Encoders and decoders for both ends, so the in-repo test BMC and the
// client share one definition of the layout.
import { type Decoded, fail, ok } from './result.ts';

/** RMCP+ status codes (Table 13-15); 0 = no errors. */
export const RMCP_STATUS: Readonly<Record<number, string>> = {
  0x01: 'insufficient resources to create a session',
  0x02: 'invalid session ID',
  0x03: 'invalid payload type',
  0x04: 'invalid authentication algorithm',
  0x05: 'invalid integrity algorithm',
  0x06: 'no matching authentication payload',
  0x07: 'no matching integrity payload',
  0x08: 'inactive session ID',
  0x09: 'invalid role',
  0x0a: 'unauthorized role or privilege level requested',
  0x0b: 'insufficient resources to create a session at the requested role',
  0x0c: 'invalid name length',
  0x0d: 'unauthorized name',
  0x0e: 'unauthorized GUID',
  0x0f: 'invalid integrity check value',
  0x10: 'invalid confidentiality algorithm',
  0x11: 'no cipher suite match with proposed security algorithms',
  0x12: 'illegal or unrecognized parameter',
};

export const rmcpStatusText = (s: number): string => RMCP_STATUS[s] ?? `RMCP+ status 0x${s.toString(16).padStart(2, '0')}`;

/** Privilege levels (§6.8). */
export const PRIVILEGE = { callback: 1, user: 2, operator: 3, administrator: 4, oem: 5 } as const;

const need = (b: Uint8Array, n: number, what: string): string | undefined => (b.length < n ? `${what}-short` : undefined);
const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export interface Algorithms {
  auth: number;
  integrity: number;
  confidentiality: number;
}

export interface OpenSessionRequest extends Algorithms {
  tag: number;
  /** 0 = the highest level matching the proposed algorithms. */
  maxPrivilege: number;
  consoleSessionId: number;
}

/*
 * Open Session Request (§13.17, Table 13-9):
 *   tag | max privilege | reserved (2) | console session ID (4) |
 *   auth payload (8) | integrity payload (8) | confidentiality payload (8)
 * Each algorithm payload: type (0/1/2) | reserved (2) | length = 8 | algorithm | reserved (3).
 */
export function encodeOpenSessionRequest(r: OpenSessionRequest): Buffer {
  const b = Buffer.alloc(32);
  b[0] = r.tag;
  b[1] = r.maxPrivilege;
  b.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  writeAlgorithms(b, 8, r);
  return b;
}

function writeAlgorithms(b: Buffer, at: number, a: Algorithms): void {
  [a.auth, a.integrity, a.confidentiality].forEach((alg, i) => {
    const o = at + i * 8;
    b[o] = i;
    b[o + 3] = 8;
    b[o + 4] = alg & 0x3f;
  });
}

function readAlgorithms(b: Buffer, at: number): Decoded<Algorithms> {
  const out: number[] = [];
  for (let i = 0; i < 3; i++) {
    const o = at + i * 8;
    if (b[o] !== i) return fail('algorithm-payload-type');
    // A length of 0 would mean "any algorithm": only a request may say so, and ironbay never does.
    if (b[o + 3] !== 8) return fail('algorithm-payload-length');
    out.push(b[o + 4]! & 0x3f);
  }
  return ok({ auth: out[0]!, integrity: out[1]!, confidentiality: out[2]! });
}

export function decodeOpenSessionRequest(p: Uint8Array): Decoded<OpenSessionRequest> {
  const short = need(p, 32, 'open-session-request');
  if (short) return fail(short);
  const b = buf(p);
  const algs = readAlgorithms(b, 8);
  if (!algs.ok) return algs;
  return ok({ tag: b[0]!, maxPrivilege: b[1]! & 0x0f, consoleSessionId: b.readUInt32LE(4), ...algs.value });
}

export interface OpenSessionResponse extends Algorithms {
  tag: number;
  status: number;
  maxPrivilege: number;
  consoleSessionId: number;
  bmcSessionId: number;
}

/*
 * Open Session Response (§13.18, Table 13-10):
 *   tag | status | max privilege | reserved | console session ID (4) | BMC session ID (4) |
 *   auth (8) | integrity (8) | confidentiality (8)
 * On a non-zero status the BMC may stop after the console session ID.
 */
export function encodeOpenSessionResponse(r: OpenSessionResponse): Buffer {
  if (r.status !== 0) {
    const e = Buffer.alloc(8);
    e[0] = r.tag;
    e[1] = r.status;
    e.writeUInt32LE(r.consoleSessionId >>> 0, 4);
    return e;
  }
  const b = Buffer.alloc(36);
  b[0] = r.tag;
  b[2] = r.maxPrivilege;
  b.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  b.writeUInt32LE(r.bmcSessionId >>> 0, 8);
  writeAlgorithms(b, 12, r);
  return b;
}

export function decodeOpenSessionResponse(p: Uint8Array): Decoded<OpenSessionResponse> {
  const short = need(p, 2, 'open-session-response');
  if (short) return fail(short);
  const b = buf(p);
  const status = b[1]!;
  if (status !== 0) {
    return ok({ tag: b[0]!, status, maxPrivilege: 0, consoleSessionId: b.length >= 8 ? b.readUInt32LE(4) : 0, bmcSessionId: 0, auth: 0, integrity: 0, confidentiality: 0 });
  }
  if (b.length < 36) return fail('open-session-response-short');
  const algs = readAlgorithms(b, 12);
  if (!algs.ok) return algs;
  return ok({ tag: b[0]!, status, maxPrivilege: b[2]! & 0x0f, consoleSessionId: b.readUInt32LE(4), bmcSessionId: b.readUInt32LE(8), ...algs.value });
}

export interface Rakp1 {
  tag: number;
  bmcSessionId: number;
  consoleRandom: Uint8Array;
  /** ROLEm: privilege in bits 3:0, bit 4 = name-only lookup (§13.20). */
  role: number;
  username: Uint8Array;
}

/** User names are at most 16 bytes (§13.20, Table 13-11). */
export const MAX_USERNAME = 16;

/*
 * RAKP Message 1 (§13.20, Table 13-11):
 *   tag | reserved (3) | BMC session ID (4) | Rm (16) | ROLEm | reserved (2) | name length | name
 */
export function encodeRakp1(r: Rakp1): Buffer {
  if (r.username.length > MAX_USERNAME) throw new RangeError(`user name of ${r.username.length} bytes is longer than IPMI's ${MAX_USERNAME}`);
  const b = Buffer.alloc(28 + r.username.length);
  b[0] = r.tag;
  b.writeUInt32LE(r.bmcSessionId >>> 0, 4);
  Buffer.from(r.consoleRandom).copy(b, 8);
  b[24] = r.role;
  b[27] = r.username.length;
  Buffer.from(r.username).copy(b, 28);
  return b;
}

export function decodeRakp1(p: Uint8Array): Decoded<Rakp1> {
  const short = need(p, 28, 'rakp1');
  if (short) return fail(short);
  const b = buf(p);
  const len = b[27]!;
  if (len > MAX_USERNAME) return fail('rakp1-name-length');
  if (b.length < 28 + len) return fail('rakp1-short');
  return ok({ tag: b[0]!, bmcSessionId: b.readUInt32LE(4), consoleRandom: Buffer.from(b.subarray(8, 24)), role: b[24]!, username: Buffer.from(b.subarray(28, 28 + len)) });
}

export interface Rakp2 {
  tag: number;
  status: number;
  consoleSessionId: number;
  bmcRandom: Uint8Array;
  bmcGuid: Uint8Array;
  authCode: Uint8Array;
}

/*
 * RAKP Message 2 (§13.21, Table 13-12):
 *   tag | status | reserved (2) | console session ID (4) | Rc (16) | GUIDc (16) | auth code (0/16/20/32)
 */
export function encodeRakp2(r: Rakp2): Buffer {
  const b = Buffer.alloc(r.status !== 0 ? 8 : 40 + r.authCode.length);
  b[0] = r.tag;
  b[1] = r.status;
  b.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  if (r.status === 0) {
    Buffer.from(r.bmcRandom).copy(b, 8);
    Buffer.from(r.bmcGuid).copy(b, 24);
    Buffer.from(r.authCode).copy(b, 40);
  }
  return b;
}

export function decodeRakp2(p: Uint8Array): Decoded<Rakp2> {
  const short = need(p, 2, 'rakp2');
  if (short) return fail(short);
  const b = buf(p);
  const status = b[1]!;
  if (status !== 0) return ok({ tag: b[0]!, status, consoleSessionId: b.length >= 8 ? b.readUInt32LE(4) : 0, bmcRandom: Buffer.alloc(0), bmcGuid: Buffer.alloc(0), authCode: Buffer.alloc(0) });
  if (b.length < 40) return fail('rakp2-short');
  return ok({ tag: b[0]!, status, consoleSessionId: b.readUInt32LE(4), bmcRandom: Buffer.from(b.subarray(8, 24)), bmcGuid: Buffer.from(b.subarray(24, 40)), authCode: Buffer.from(b.subarray(40)) });
}

export interface Rakp3 {
  tag: number;
  status: number;
  bmcSessionId: number;
  authCode: Uint8Array;
}

/*
 * RAKP Message 3 (§13.22, Table 13-13):
 *   tag | status | reserved (2) | BMC session ID (4) | auth code
 * A console that rejects RAKP 2 sends RAKP 3 with a non-zero status, so the BMC frees the slot.
 */
export function encodeRakp3(r: Rakp3): Buffer {
  const b = Buffer.alloc(8 + r.authCode.length);
  b[0] = r.tag;
  b[1] = r.status;
  b.writeUInt32LE(r.bmcSessionId >>> 0, 4);
  Buffer.from(r.authCode).copy(b, 8);
  return b;
}

export function decodeRakp3(p: Uint8Array): Decoded<Rakp3> {
  const short = need(p, 8, 'rakp3');
  if (short) return fail(short);
  const b = buf(p);
  return ok({ tag: b[0]!, status: b[1]!, bmcSessionId: b.readUInt32LE(4), authCode: Buffer.from(b.subarray(8)) });
}

export interface Rakp4 {
  tag: number;
  status: number;
  consoleSessionId: number;
  icv: Uint8Array;
}

/*
 * RAKP Message 4 (§13.23, Table 13-14):
 *   tag | status | reserved (2) | console session ID (4) | integrity check value
 */
export function encodeRakp4(r: Rakp4): Buffer {
  const b = Buffer.alloc(8 + r.icv.length);
  b[0] = r.tag;
  b[1] = r.status;
  b.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  Buffer.from(r.icv).copy(b, 8);
  return b;
}

export function decodeRakp4(p: Uint8Array): Decoded<Rakp4> {
  const short = need(p, 2, 'rakp4');
  if (short) return fail(short);
  const b = buf(p);
  if (b[1] !== 0) return ok({ tag: b[0]!, status: b[1]!, consoleSessionId: b.length >= 8 ? b.readUInt32LE(4) : 0, icv: Buffer.alloc(0) });
  if (b.length < 8) return fail('rakp4-short');
  return ok({ tag: b[0]!, status: 0, consoleSessionId: b.readUInt32LE(4), icv: Buffer.from(b.subarray(8)) });
}
