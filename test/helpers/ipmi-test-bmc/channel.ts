// What the test BMC says about its LAN channel before any session (IPMI v2.0 §22.13, §22.15,
// §22.14): the authentication capabilities, the cipher suite records, the system GUID.
import { PRIVILEGE, SUITES } from '../../../daemon/bmc/ipmi/codec/index.ts';
import { CC, type Reply } from './machine.ts';

/** The LAN channel's number; requests may name it or say "this channel" (0Eh, §6.3). */
export const LAN_CHANNEL = 1;
const THIS_CHANNEL = 0x0e;

/** App commands (NetFn 06h) answered before a session exists (§13.14). */
export const APP_CMD = {
  getDeviceId: 0x01,
  getSystemGuid: 0x37,
  getChannelAuthCapabilities: 0x38,
  setSessionPrivilegeLevel: 0x3b,
  closeSession: 0x3c,
  getChannelCipherSuites: 0x54,
} as const;

const channelOk = (b: number): boolean => b === THIS_CHANNEL || b === LAN_CHANNEL;

/*
 * Get Channel Authentication Capabilities (§22.13, Tables 22-14/22-15).
 * Request: channel (bit 7: get IPMI v2.0 extended data) | requested maximum privilege.
 * Response: channel | v1.5 auth types (bit 7: extended data present) | login status
 *   (bit 2 non-null user names, bit 1 null user names) | extended capabilities (bit 1: IPMI v2.0
 *   connections) | OEM ID (3) | OEM auxiliary data.
 * This BMC takes no IPMI v1.5 sessions, so it lists no v1.5 authentication type.
 */
export function authCapabilities(d: Buffer, hasNullUser: boolean): Reply {
  if (d.length !== 2) return { cc: CC.lengthInvalid };
  if (!channelOk(d[0]! & 0x0f)) return { cc: CC.invalidData };
  const privilege = d[1]! & 0x0f;
  if (privilege < PRIVILEGE.callback || privilege > PRIVILEGE.oem) return { cc: CC.invalidData };
  const extended = (d[0]! & 0x80) !== 0;
  const login = 0x04 | (hasNullUser ? 0x02 : 0);
  return { cc: CC.ok, data: [LAN_CHANNEL, extended ? 0x80 : 0x00, login, extended ? 0x02 : 0x00, 0, 0, 0, 0] };
}

/*
 * Cipher suite records (§22.15.1, Table 22-19), one per suite:
 *   C0h (standard record) | suite ID | auth algorithm (tag 00b) | integrity (tag 01b) | confidentiality (tag 10b)
 * or, listed by algorithm (Table 22-18 bit 7 = 0): each supported algorithm byte once, tagged.
 */
export function cipherSuiteRecords(suites: readonly number[], bySuite: boolean): Buffer {
  const out: number[] = [];
  for (const id of suites) {
    const s = SUITES.get(id)!;
    const algorithms = [s.auth, 0x40 | s.integrity, 0x80 | s.confidentiality];
    if (bySuite) out.push(0xc0, id, ...algorithms);
    else for (const a of algorithms) if (!out.includes(a)) out.push(a);
  }
  return Buffer.from(out);
}

/** Records are handed out 16 bytes per request (§22.15: "list index" selects the chunk). */
const CHUNK = 16;
/** Payload types whose suites are listed: IPMI (00h) and SOL (01h), which share them here. */
const LISTED_PAYLOADS = new Set([0x00, 0x01]);

/*
 * Get Channel Cipher Suites (§22.15, Tables 22-17/22-18).
 * Request: channel | payload type | list index (bit 7: list algorithms by cipher suite; bits 5:0 index).
 * Response: channel | records [index × 16, index × 16 + 16); fewer than 16 means the list ended.
 */
export function cipherSuites(d: Buffer, suites: readonly number[]): Reply {
  if (d.length !== 3) return { cc: CC.lengthInvalid };
  if (!channelOk(d[0]! & 0x0f)) return { cc: CC.invalidData };
  if (!LISTED_PAYLOADS.has(d[1]! & 0x3f)) return { cc: CC.invalidData };
  const index = d[2]! & 0x3f;
  const records = cipherSuiteRecords(suites, (d[2]! & 0x80) !== 0);
  return { cc: CC.ok, data: [LAN_CHANNEL, ...records.subarray(index * CHUNK, index * CHUNK + CHUNK)] };
}

/** Get System GUID (§22.14): the 16-byte GUID, the same one RAKP 2 carries as GUIDc. */
export function systemGuid(d: Buffer, guid: Uint8Array): Reply {
  return d.length !== 0 ? { cc: CC.lengthInvalid } : { cc: CC.ok, data: guid };
}
