// A BOOTP/DHCPv4 message (RFC 2131 §2) as a typed object, and the bytes for it. decode()
// never throws: every byte is checked before it is read and each refusal has a reason
// (reasons.ts). encode() returns a result too, so a serve loop needs no try/catch.
//
//   0      op     htype   hlen   hops            RFC 2131 §2 Figure 1
//   4      xid (4)
//   8      secs (2)       flags (2)              flags: B (broadcast) + 15 bits MBZ
//   12     ciaddr  16 yiaddr  20 siaddr  24 giaddr
//   28     chaddr (16)    44 sname (64)    108 file (128)
//   236    magic cookie 99.130.83.99    240 options … END, PAD to the end
import {
  BOOTP_MIN_LENGTH,
  CHADDR_LENGTH,
  FILE_LENGTH,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  MAX_MESSAGE_LENGTH,
  MIN_DHCP_LENGTH,
  OFFSET,
  SNAME_LENGTH,
} from './limits.ts';
import { decodeOptions, encodedLength, OVERLOAD_FILE, OVERLOAD_SNAME, writeOptions, type DhcpOption, type OptionFraming } from './options.ts';
import { reject, type Rejection } from './reasons.ts';
import { cString, copy, hex, latin1Bytes, parseIpv4, readIpv4, readU16, readU32 } from './wire.ts';

export type Op = 'BOOTREQUEST' | 'BOOTREPLY';

/** ARP hardware type for Ethernet (RFC 1700 / IANA "Hardware Types"): the only one with a MAC. */
export const HTYPE_ETHERNET = 1;

export interface DhcpMessage {
  op: Op;
  htype: number;
  hlen: number;
  hops: number;
  /** Transaction ID, unsigned 32-bit. */
  xid: number;
  secs: number;
  /** The B flag: the client cannot receive unicast before it has an address (RFC 2131 §4.1). */
  broadcast: boolean;
  /** The other 15 flag bits. MBZ (RFC 2131 §2) but kept, so re-encoding gives the same bytes. */
  reservedFlags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** All 16 bytes of the field as sent; the address is the first `hlen`. */
  chaddr: Uint8Array;
  /**
   * The MAC (lower-case colon form) when htype is Ethernet and hlen 6; derived from chaddr
   * by decode, and not read by encode (chaddr is what is written).
   */
  mac: string | undefined;
  /** Server host name: text up to the first NUL; '' when the field carries options. */
  sname: string;
  /** Boot file name: text up to the first NUL; '' when the field carries options. */
  file: string;
  /**
   * Every option but PAD, END and 52 (overload), in order of first appearance, each code
   * once with all its instances joined (RFC 3396). Unknown codes are kept as they came.
   */
  options: DhcpOption[];
}

export type Decoded = { ok: true; message: DhcpMessage; framing: OptionFraming } | Rejection;

export function decode(buf: Uint8Array): Decoded {
  if (buf.length < HEADER_LENGTH) return reject('too-short', `${buf.length} bytes; the BOOTP header alone is ${HEADER_LENGTH}`);
  if (buf.length > MAX_MESSAGE_LENGTH) return reject('too-long', `${buf.length} bytes; at most ${MAX_MESSAGE_LENGTH} fit an Ethernet frame`);
  const opByte = buf[OFFSET.op]!;
  if (opByte !== 1 && opByte !== 2) return reject('bad-op', `op ${opByte}`);
  const htype = buf[OFFSET.htype]!;
  const hlen = buf[OFFSET.hlen]!;
  if (htype === 0) return reject('bad-htype', 'htype 0');
  if (hlen > CHADDR_LENGTH) return reject('bad-hlen', `hlen ${hlen} exceeds the ${CHADDR_LENGTH}-byte chaddr field`);
  if (htype === HTYPE_ETHERNET && hlen !== 6) return reject('bad-hlen', `hlen ${hlen} for Ethernet, whose addresses are 6 bytes`);
  if (buf.length < MIN_DHCP_LENGTH) {
    return reject('no-magic-cookie', `${buf.length} bytes: the header ends before the 4-byte magic cookie (plain BOOTP is not served)`);
  }
  for (let i = 0; i < MAGIC_COOKIE.length; i++) {
    if (buf[OFFSET.cookie + i] !== MAGIC_COOKIE[i]) {
      return reject('no-magic-cookie', `found ${Array.from(buf.subarray(OFFSET.cookie, OFFSET.options)).join('.')}`);
    }
  }
  const opts = decodeOptions(buf);
  if (!opts.ok) return opts;
  const flags = readU16(buf, OFFSET.flags);
  const chaddr = copy(buf, OFFSET.chaddr, OFFSET.chaddr + CHADDR_LENGTH);
  const overload = opts.framing.overload;
  const message: DhcpMessage = {
    op: opByte === 1 ? 'BOOTREQUEST' : 'BOOTREPLY',
    htype,
    hlen,
    hops: buf[OFFSET.hops]!,
    xid: readU32(buf, OFFSET.xid),
    secs: readU16(buf, OFFSET.secs),
    broadcast: (flags & 0x8000) !== 0,
    reservedFlags: flags & 0x7fff,
    ciaddr: readIpv4(buf, OFFSET.ciaddr),
    yiaddr: readIpv4(buf, OFFSET.yiaddr),
    siaddr: readIpv4(buf, OFFSET.siaddr),
    giaddr: readIpv4(buf, OFFSET.giaddr),
    chaddr,
    mac: htype === HTYPE_ETHERNET ? hex(chaddr.subarray(0, 6)) : undefined,
    sname: overload & OVERLOAD_SNAME ? '' : cString(buf.subarray(OFFSET.sname, OFFSET.sname + SNAME_LENGTH)),
    file: overload & OVERLOAD_FILE ? '' : cString(buf.subarray(OFFSET.file, OFFSET.file + FILE_LENGTH)),
    options: opts.options,
  };
  return { ok: true, message, framing: opts.framing };
}

export type Encoded = { ok: true; bytes: Uint8Array } | { ok: false; reason: string };

export interface EncodeLimits {
  /**
   * Longest message to produce. Replies use maxReplyLength(request) (reply.ts); the
   * default is the decoder's own bound, so whatever encode writes, decode reads.
   */
  maxLength?: number;
}

/**
 * The options in the order encode writes them. 53 first: clients look for the message type
 * before anything else. In a reply 54 next, as dnsmasq (captured) and ISC dhcpd write it.
 * 82 last (RFC 3046 §2.1). The rest, and a request's 54, stay as given —
 * udhcpc sends 50 before 54, and a request re-encoded keeps its client's order.
 */
export function wireOrder(options: readonly DhcpOption[], op: Op): DhcpOption[] {
  const first = op === 'BOOTREPLY' ? [53, 54] : [53];
  const head = first.flatMap((c) => options.filter((o) => o.code === c));
  const rest = options.filter((o) => o.code !== 82 && !first.includes(o.code));
  return [...head, ...rest, ...options.filter((o) => o.code === 82)];
}

/**
 * Writes a message. It never uses option overload (52): the options go in the options
 * field only, and sname/file always hold their text. PXE ROMs read the boot file from the
 * `file` field and some never look at option 67, old clients mishandle overloading (the
 * reason dnsmasq has --dhcp-no-override), and a boot reply is far from the 312 option bytes
 * every client accepts (the captured dnsmasq PXE OFFER uses 92). A reply that does not fit
 * is refused with its size, for the server to log, rather than sent in a form a firmware
 * may misread.
 */
export function encode(m: Omit<DhcpMessage, 'mac'>, limits: EncodeLimits = {}): Encoded {
  const maxLength = limits.maxLength ?? MAX_MESSAGE_LENGTH;
  const fail = (reason: string): Encoded => ({ ok: false, reason });
  const byte = (name: string, v: number, max = 255): string | undefined =>
    Number.isInteger(v) && v >= 0 && v <= max ? undefined : `${name} ${v} is not an integer 0–${max}`;
  const bad =
    byte('htype', m.htype) ??
    byte('hlen', m.hlen, CHADDR_LENGTH) ??
    byte('hops', m.hops) ??
    byte('xid', m.xid, 0xffffffff) ??
    byte('secs', m.secs, 0xffff) ??
    byte('reservedFlags', m.reservedFlags, 0x7fff);
  if (bad) return fail(bad);
  if (m.op !== 'BOOTREQUEST' && m.op !== 'BOOTREPLY') return fail(`op ${String(m.op)}`);
  if (m.chaddr.length > CHADDR_LENGTH) return fail(`chaddr is ${m.chaddr.length} bytes; the field holds ${CHADDR_LENGTH}`);
  const addrs: [number, Uint8Array][] = [];
  for (const f of ['ciaddr', 'yiaddr', 'siaddr', 'giaddr'] as const) {
    const ip = parseIpv4(m[f]);
    if (!ip) return fail(`${f} "${m[f]}" is not a dotted-quad IPv4 address`);
    addrs.push([OFFSET[f], ip]);
  }
  const sname = text('sname', m.sname, SNAME_LENGTH);
  if (typeof sname === 'string') return fail(sname);
  const file = text('file', m.file, FILE_LENGTH);
  if (typeof file === 'string') return fail(file);
  for (const o of m.options) {
    if (!Number.isInteger(o.code) || o.code < 1 || o.code > 254) return fail(`option code ${o.code} is not 1–254`);
    if (o.code === 52) return fail('option 52 (overload) is written by encode alone, and it does not overload');
  }
  if (new Set(m.options.map((o) => o.code)).size !== m.options.length) {
    return fail('an option code appears twice; give each code once with its whole value');
  }

  const length = Math.max(BOOTP_MIN_LENGTH, MIN_DHCP_LENGTH + encodedLength(m.options) + 1);
  if (length > maxLength) {
    return fail(`message needs ${length} bytes with its options, more than the ${maxLength} allowed (option overload is not used)`);
  }
  const out = new Uint8Array(length); // zero-filled: the PAD after END is already there
  out[OFFSET.op] = m.op === 'BOOTREQUEST' ? 1 : 2;
  out[OFFSET.htype] = m.htype;
  out[OFFSET.hlen] = m.hlen;
  out[OFFSET.hops] = m.hops;
  const dv = new DataView(out.buffer);
  dv.setUint32(OFFSET.xid, m.xid);
  dv.setUint16(OFFSET.secs, m.secs);
  dv.setUint16(OFFSET.flags, (m.broadcast ? 0x8000 : 0) | m.reservedFlags);
  for (const [at, ip] of addrs) out.set(ip, at);
  out.set(m.chaddr, OFFSET.chaddr);
  out.set(sname, OFFSET.sname);
  out.set(file, OFFSET.file);
  out.set(MAGIC_COOKIE, OFFSET.cookie);
  writeOptions(out, OFFSET.options, wireOrder(m.options, m.op));
  return { ok: true, bytes: out };
}

/** sname/file text as bytes, leaving room for the NUL that firmware reads up to. */
function text(field: string, value: string, size: number): Uint8Array | string {
  const bytes = latin1Bytes(value);
  if (!bytes) return `${field} has a character outside Latin-1`;
  if (bytes.includes(0)) return `${field} contains a NUL`;
  if (bytes.length >= size) return `${field} is ${bytes.length} bytes; the field holds ${size - 1} and a NUL`;
  return bytes;
}
