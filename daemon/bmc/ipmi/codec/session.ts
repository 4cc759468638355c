// The session wrappers around an IPMI payload (IPMI v2.0 §13.6, Table 13-8): the v1.5 header
// (used before a session exists, for Get Channel Authentication Capabilities and Get Channel
// Cipher Suites) and the RMCP+ header with its integrity trailer and AES-CBC-128 payload.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Decoded, fail, ok } from './result.ts';
import { RMCP_CLASS, rmcpHeader } from './rmcp.ts';
import { CONFIDENTIALITY, INTEGRITY, integrityShape } from './suites.ts';

export const AUTH_TYPE_NONE = 0x00;
export const AUTH_TYPE_RMCP_PLUS = 0x06;

/** Payload types (Table 13-16). */
export const PAYLOAD = {
  ipmi: 0x00,
  sol: 0x01,
  oemExplicit: 0x02,
  openSessionRequest: 0x10,
  openSessionResponse: 0x11,
  rakp1: 0x12,
  rakp2: 0x13,
  rakp3: 0x14,
  rakp4: 0x15,
} as const;

/** Next Header in the integrity trailer is always 0x07 (§13.6, Table 13-8). */
const NEXT_HEADER = 0x07;
const AES_BLOCK = 16;
/** IPMI messages are small; 1 KiB covers any payload ironbay sends or expects (§13.6: ≤ 65535 in theory). */
export const MAX_PAYLOAD = 1024;

/** The negotiated algorithms and keys of an active session (absent before RAKP 4). */
export interface SessionKeys {
  integrity: number;
  confidentiality: number;
  /** K1, the integrity key. */
  k1: Uint8Array;
  /** The first 16 bytes of K2: the AES-CBC-128 key. */
  aesKey: Uint8Array;
}

export interface V15Packet {
  format: 'v1.5';
  authType: number;
  sequence: number;
  sessionId: number;
  payload: Buffer;
}

export interface V2Packet {
  format: 'v2.0';
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  sequence: number;
  payload: Buffer;
}

/*
 * v1.5 session header, unauthenticated:
 *   auth type (1) = 0 | sequence (4, LE) | session ID (4, LE) | message length (1) | message
 */
export function encodeV15(payload: Uint8Array, sessionId = 0, sequence = 0): Buffer {
  if (payload.length > 255) throw new RangeError(`v1.5 message of ${payload.length} bytes is longer than its 1-byte length field`);
  const b = Buffer.alloc(4 + 10 + payload.length);
  rmcpHeader(RMCP_CLASS.ipmi).copy(b);
  b[4] = AUTH_TYPE_NONE;
  b.writeUInt32LE(sequence >>> 0, 5);
  b.writeUInt32LE(sessionId >>> 0, 9);
  b[13] = payload.length;
  Buffer.from(payload).copy(b, 14);
  return b;
}

export interface EncodeV2 {
  payloadType: number;
  sessionId: number;
  sequence: number;
  payload: Uint8Array;
  /** The keys of the active session: the packet is then authenticated and encrypted as they say. */
  keys?: SessionKeys;
  /** Fixed IV for known-answer tests; random otherwise (§13.29 asks for a fresh IV per packet). */
  iv?: Uint8Array;
}

/*
 * RMCP+ session header (Table 13-8):
 *   auth type (1) = 6 | payload type (1: bit 7 encrypted, bit 6 authenticated) |
 *   session ID (4, LE) | sequence (4, LE) | payload length (2, LE) | payload |
 *   [integrity pad 0xff… | pad length (1) | next header 0x07 | AuthCode]  when authenticated
 * The AuthCode covers everything from the auth type up to next header.
 */
export function encodeV2(p: EncodeV2): Buffer {
  const keys = p.keys;
  const encrypt = keys !== undefined && keys.confidentiality === CONFIDENTIALITY.aesCbc128;
  const integrity = keys ? integrityShape(keys.integrity) : undefined;
  const body = encrypt ? aesEncrypt(keys.aesKey, p.payload, p.iv ?? randomBytes(AES_BLOCK)) : Buffer.from(p.payload);
  if (body.length > 0xffff) throw new RangeError(`payload of ${body.length} bytes does not fit its 2-byte length`);
  const head = 12; // auth type through payload length
  const pad = integrity ? (4 - ((head + body.length + 2) % 4)) % 4 : 0;
  const trailer = integrity ? pad + 2 + integrity.length : 0;
  const b = Buffer.alloc(4 + head + body.length + trailer);
  rmcpHeader(RMCP_CLASS.ipmi).copy(b);
  b[4] = AUTH_TYPE_RMCP_PLUS;
  b[5] = (p.payloadType & 0x3f) | (encrypt ? 0x80 : 0) | (integrity ? 0x40 : 0);
  b.writeUInt32LE(p.sessionId >>> 0, 6);
  b.writeUInt32LE(p.sequence >>> 0, 10);
  b.writeUInt16LE(body.length, 14);
  body.copy(b, 16);
  if (integrity && keys) {
    let at = 16 + body.length;
    b.fill(0xff, at, at + pad);
    at += pad;
    b[at++] = pad;
    b[at++] = NEXT_HEADER;
    createHmac(integrity.hash, keys.k1).update(b.subarray(4, at)).digest().copy(b, at, 0, integrity.length);
  }
  return b;
}

/** Decodes the IPMI-class body of a datagram (after the RMCP header). */
export function decodeSession(body: Uint8Array, keys?: SessionKeys): Decoded<V15Packet | V2Packet> {
  if (body.length < 1) return fail('session-short');
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const authType = b[0]! & 0x0f;
  return authType === AUTH_TYPE_RMCP_PLUS ? decodeV2(b, keys) : decodeV15(b, authType);
}

function decodeV15(b: Buffer, authType: number): Decoded<V15Packet> {
  // v1.5 auth types 1 (MD2), 2 (MD5), 4 (password), 5 (OEM) carry a 16-byte AuthCode.
  if (authType === 3 || authType > 5) return fail('auth-type');
  const code = authType === AUTH_TYPE_NONE ? 0 : 16;
  if (b.length < 10 + code) return fail('v15-short');
  const len = b[9 + code]!;
  if (b.length < 10 + code + len) return fail('v15-length');
  return ok({
    format: 'v1.5',
    authType,
    sequence: b.readUInt32LE(1),
    sessionId: b.readUInt32LE(5),
    payload: Buffer.from(b.subarray(10 + code, 10 + code + len)),
  });
}

function decodeV2(b: Buffer, keys: SessionKeys | undefined): Decoded<V2Packet> {
  if (b.length < 12) return fail('v2-short');
  const encrypted = (b[1]! & 0x80) !== 0;
  const authenticated = (b[1]! & 0x40) !== 0;
  const payloadType = b[1]! & 0x3f;
  // OEM explicit payloads add IANA + payload ID; ironbay never negotiates one.
  if (payloadType === PAYLOAD.oemExplicit) return fail('v2-oem-payload');
  const sessionId = b.readUInt32LE(2);
  const sequence = b.readUInt32LE(6);
  const len = b.readUInt16LE(10);
  if (len > MAX_PAYLOAD) return fail('v2-payload-too-long');
  if (b.length < 12 + len) return fail('v2-length');
  if (authenticated) {
    const shape = keys ? integrityShape(keys.integrity) : undefined;
    if (!keys || !shape) return fail('v2-unexpected-authentication');
    const tail = b.length - 12 - len; // pad + pad length + next header + AuthCode
    if (tail < 2 + shape.length) return fail('v2-trailer-short');
    const end = b.length - shape.length;
    const pad = b[end - 2]!;
    if (b[end - 1] !== NEXT_HEADER) return fail('v2-next-header');
    if (pad !== tail - 2 - shape.length || pad > 3) return fail('v2-integrity-pad');
    const want = createHmac(shape.hash, keys.k1).update(b.subarray(0, end)).digest().subarray(0, shape.length);
    if (!timingSafeEqual(want, b.subarray(end))) return fail('v2-authcode');
  } else if (b.length !== 12 + len) {
    return fail('v2-trailing-bytes');
  }
  let payload: Buffer = Buffer.from(b.subarray(12, 12 + len));
  if (encrypted) {
    if (!keys || keys.confidentiality !== CONFIDENTIALITY.aesCbc128) return fail('v2-unexpected-encryption');
    const plain = aesDecrypt(keys.aesKey, payload);
    if (!plain.ok) return plain;
    payload = plain.value;
  }
  return ok({ format: 'v2.0', payloadType, encrypted, authenticated, sessionId, sequence, payload });
}

/*
 * AES-CBC-128 payload (§13.29, Table 13-20):
 *   IV (16) | E(payload | pad 0x01 0x02 … 0xNN | pad length N)
 * IPMI's own padding, not PKCS#7: the pad bytes count up from 1; N may be 0.
 */
export function aesEncrypt(key: Uint8Array, plain: Uint8Array, iv: Uint8Array): Buffer {
  const pad = (AES_BLOCK - ((plain.length + 1) % AES_BLOCK)) % AES_BLOCK;
  const padded = Buffer.alloc(plain.length + pad + 1);
  Buffer.from(plain).copy(padded);
  for (let i = 0; i < pad; i++) padded[plain.length + i] = i + 1;
  padded[padded.length - 1] = pad;
  const c = createCipheriv('aes-128-cbc', key.subarray(0, 16), iv).setAutoPadding(false);
  return Buffer.concat([Buffer.from(iv), c.update(padded), c.final()]);
}

export function aesDecrypt(key: Uint8Array, data: Uint8Array): Decoded<Buffer> {
  if (data.length < 2 * AES_BLOCK || data.length % AES_BLOCK !== 0) return fail('aes-length');
  const d = createDecipheriv('aes-128-cbc', key.subarray(0, 16), data.subarray(0, AES_BLOCK)).setAutoPadding(false);
  const plain = Buffer.concat([d.update(data.subarray(AES_BLOCK)), d.final()]);
  const pad = plain[plain.length - 1]!;
  if (pad >= AES_BLOCK) return fail('aes-pad-length');
  const end = plain.length - 1 - pad;
  for (let i = 0; i < pad; i++) if (plain[end + i] !== i + 1) return fail('aes-pad-bytes');
  return ok(plain.subarray(0, end));
}

/** Does an active session with these keys demand the authenticated and encrypted bits? */
export function required(keys: SessionKeys): { authenticated: boolean; encrypted: boolean } {
  return { authenticated: keys.integrity !== INTEGRITY.none, encrypted: keys.confidentiality !== CONFIDENTIALITY.none };
}
