// RAKP key exchange arithmetic: IPMI v2.0 §13.31 (RAKP message authentication codes),
// §13.32 (SIK, K1, K2). Pure functions of the values both sides exchanged; the known-answer
// tests recompute what ipmitool and ipmi_sim computed in captured sessions.
import { createHmac } from 'node:crypto';
import { authHash } from './suites.ts';

/** What both ends know after RAKP 2, in the spec's names (m = console, c = managed system). */
export interface RakpValues {
  auth: number;
  /** Remote console session ID (SIDm) and managed system session ID (SIDc). */
  consoleSessionId: number;
  bmcSessionId: number;
  consoleRandom: Uint8Array; // Rm, 16 bytes
  bmcRandom: Uint8Array; // Rc, 16 bytes
  bmcGuid: Uint8Array; // GUIDc, 16 bytes
  /** ROLEm: the whole byte sent in RAKP 1 (privilege plus the name-only lookup bit). */
  role: number;
  username: Uint8Array;
  /** Kuid: the user's password; HMAC pads it with zeros as the spec's 20-byte key field does. */
  password: Uint8Array;
  /** Kg, the BMC key for two-key logins; absent = Kuid is used (§13.31). */
  kg?: Uint8Array;
}

const u32le = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

function hmac(auth: number, key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const hash = authHash(auth);
  if (!hash) return Buffer.alloc(0); // RAKP-none: no codes at all
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

const nameTail = (v: RakpValues): Buffer => Buffer.concat([Buffer.from([v.role, v.username.length]), v.username]);

/** RAKP 2 key exchange auth code (§13.21): HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm). */
export function rakp2AuthCode(v: RakpValues): Buffer {
  return hmac(v.auth, v.password, u32le(v.consoleSessionId), u32le(v.bmcSessionId), v.consoleRandom, v.bmcRandom, v.bmcGuid, nameTail(v));
}

/** RAKP 3 key exchange auth code (§13.22): HMAC_Kuid(Rc, SIDm, ROLEm, ULENGTHm, UNAMEm). */
export function rakp3AuthCode(v: RakpValues): Buffer {
  return hmac(v.auth, v.password, v.bmcRandom, u32le(v.consoleSessionId), nameTail(v));
}

/** Session integrity key (§13.31): HMAC_Kg(Rm, Rc, ROLEm, ULENGTHm, UNAMEm), Kg defaulting to Kuid. */
export function sessionIntegrityKey(v: RakpValues): Buffer {
  return hmac(v.auth, v.kg ?? v.password, v.consoleRandom, v.bmcRandom, nameTail(v));
}

/** RAKP 4 integrity check value (§13.23), before truncation: HMAC_SIK(Rm, SIDc, GUIDc). */
export function rakp4Icv(v: RakpValues, sik: Uint8Array): Buffer {
  return hmac(v.auth, sik, v.consoleRandom, u32le(v.bmcSessionId), v.bmcGuid);
}

// §13.32: K1 and K2 are keyed with the SIK over 20 constant bytes, whatever the hash (the
// constants are 20 bytes long for SHA-256 too; ipmitool and OpenBMC agree).
const CONST_1 = Buffer.alloc(20, 0x01);
const CONST_2 = Buffer.alloc(20, 0x02);

/** Additional keys: K1 keys the integrity HMAC, the first 16 bytes of K2 the AES key. */
export function additionalKeys(auth: number, sik: Uint8Array): { k1: Buffer; k2: Buffer } {
  if (!authHash(auth)) return { k1: Buffer.from(CONST_1), k2: Buffer.from(CONST_2) };
  return { k1: hmac(auth, sik, CONST_1), k2: hmac(auth, sik, CONST_2) };
}
