// Value formats of the RFC 2132 options a boot server reads or writes, and the message
// types of option 53. Each decoder takes the option's joined value and returns the typed
// value or what is wrong with it (RFC 2132 gives each option's length rules).
import { parsed, problem, type Parsed } from './suboptions.ts';
import { hex, latin1, readIpv4, readU16, readU32 } from './wire.ts';

/** Option 53 values: RFC 2132 §9.6 (1–8), RFC 3203 (9), RFC 4388 (10–13), RFC 6926 (14–15), RFC 7724 (16–18). */
export const MESSAGE_TYPES = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
  FORCERENEW: 9,
  LEASEQUERY: 10,
  LEASEUNASSIGNED: 11,
  LEASEUNKNOWN: 12,
  LEASEACTIVE: 13,
  BULKLEASEQUERY: 14,
  LEASEQUERYDONE: 15,
  ACTIVELEASEQUERY: 16,
  LEASEQUERYSTATUS: 17,
  TLS: 18,
} as const;

export type MessageType = keyof typeof MESSAGE_TYPES;

const TYPE_NAMES = new Map(Object.entries(MESSAGE_TYPES).map(([name, n]) => [n as number, name as MessageType]));

export function decodeMessageType(data: Uint8Array): Parsed<MessageType> {
  if (data.length !== 1) return problem(`${data.length} bytes, not 1`);
  const name = TYPE_NAMES.get(data[0]!);
  return name ? parsed(name) : problem(`unknown message type ${data[0]}`);
}

export function decodeIp(data: Uint8Array): Parsed<string> {
  return data.length === 4 ? parsed(readIpv4(data, 0)) : problem(`${data.length} bytes, not 4`);
}

/** A list of addresses: at least one, so 4·n bytes with n ≥ 1 (RFC 2132 §3.5, §3.8). */
export function decodeIpList(data: Uint8Array): Parsed<string[]> {
  if (data.length === 0 || data.length % 4 !== 0) return problem(`${data.length} bytes, not a positive multiple of 4`);
  const out: string[] = [];
  for (let i = 0; i < data.length; i += 4) out.push(readIpv4(data, i));
  return parsed(out);
}

export function decodeU32(data: Uint8Array): Parsed<number> {
  return data.length === 4 ? parsed(readU32(data, 0)) : problem(`${data.length} bytes, not 4`);
}

export function decodeU16(data: Uint8Array): Parsed<number> {
  return data.length === 2 ? parsed(readU16(data, 0)) : problem(`${data.length} bytes, not 2`);
}

/**
 * Text options have a minimum length of 1 (RFC 2132 §3.14 and others). Trailing NULs are
 * dropped: RFC 2132 §2 says options are not NUL-terminated, but Windows and some firmware
 * terminate host names and vendor classes anyway. The raw value stays in message.options.
 */
export function decodeText(data: Uint8Array): Parsed<string> {
  if (data.length === 0) return problem('empty');
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  return parsed(latin1(data.subarray(0, end)));
}

/** Option 55: one code per byte, at least one (RFC 2132 §9.8). */
export function decodeCodeList(data: Uint8Array): Parsed<number[]> {
  return data.length ? parsed(Array.from(data)) : problem('empty');
}

/** Option 57: at least 576 (RFC 2132 §9.10); a smaller value is refused, so 576 applies. */
export function decodeMaxMessageSize(data: Uint8Array): Parsed<number> {
  const r = decodeU16(data);
  if (r.ok && r.value < 576) return problem(`${r.value} is below the minimum of 576`);
  return r;
}

export interface ClientId {
  /** Hardware type (1 = Ethernet), 0 for a non-hardware identifier, 255 for IAID + DUID (RFC 4361 §6.1). */
  type: number;
  id: Uint8Array;
  /** The MAC when type is 1 and the identifier is 6 bytes, as most clients send. */
  mac?: string;
}

/** Option 61: type + identifier, at least 2 bytes (RFC 2132 §9.14). */
export function decodeClientId(data: Uint8Array): Parsed<ClientId> {
  if (data.length < 2) return problem(`${data.length} byte(s); a client identifier has a type and at least one byte`);
  const id = data.slice(1);
  const type = data[0]!;
  return parsed(type === 1 && id.length === 6 ? { type, id, mac: hex(id) } : { type, id });
}
