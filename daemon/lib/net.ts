// Address arithmetic for inventory validation. IPv4 and IPv6 share one representation
// (a bigint and a family) so containment and overlap checks are written once.
import { isIPv6 } from 'node:net';

export type Family = 4 | 6;

export interface Ip {
  family: Family;
  value: bigint;
}

export interface Cidr {
  family: Family;
  network: bigint;
  prefix: number;
}

/** An address with its prefix length, as written on an interface (`203.0.113.5/24`). */
export interface Interface extends Ip {
  prefix: number;
}

const bits = (f: Family): number => (f === 4 ? 32 : 128);

/**
 * MAC in the lower-case colon form used everywhere inside ironbay. Accepts the spellings
 * operators paste from BMC pages and switch CLIs: `AA:BB:…`, `aa-bb-…`, `aabb.ccdd.eeff`
 * and bare hex.
 */
export function normalizeMac(input: string): string | undefined {
  // Most inventories already use the canonical form; skip the rewriting for those.
  if (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(input)) return input;
  const hex = input.trim().toLowerCase();
  let digits: string;
  if (/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/.test(hex)) digits = hex.replace(/[:-]/g, '');
  else if (/^[0-9a-f]{4}(\.[0-9a-f]{4}){2}$/.test(hex)) digits = hex.replace(/\./g, '');
  else if (/^[0-9a-f]{12}$/.test(hex)) digits = hex;
  else return undefined;
  return digits.match(/../g)!.join(':');
}

export function parseIp(text: string): Ip | undefined {
  // node:net accepts an IPv6 zone (`fe80::1%eth0`); it means nothing in an inventory and
  // parseV6 would misread it, so it is not an address here.
  if (text.includes('%')) return undefined;
  const v4 = parseV4(text);
  if (v4 !== undefined) return { family: 4, value: BigInt(v4) };
  if (isIPv6(text)) return { family: 6, value: parseV6(text) };
  return undefined;
}

/**
 * Dotted-quad IPv4 in strict form (four decimal octets, no leading zeros — what node:net
 * accepts), as a number. Hand-written: it runs for every address of a 10,000-machine
 * inventory, and the regular-expression check plus split cost several times more.
 */
function parseV4(text: string): number | undefined {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return undefined;
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return undefined; // leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return n * 256 + octet;
}

function parseV6(text: string): bigint {
  let s = text.toLowerCase();
  // Embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const n = parseIp(v4[1]!)!.value;
    s = s.slice(0, -v4[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function formatIp(ip: Ip): string {
  if (ip.family === 4) {
    const n = Number(ip.value);
    return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const groups = Array.from({ length: 8 }, (_, i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // RFC 5952 §4.2: compress the longest run (>1) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function parsePrefixed(text: string): Interface | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const p = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > bits(ip.family)) return undefined;
  return { ...ip, prefix };
}

const maskTable = (width: number): bigint[] =>
  Array.from({ length: width + 1 }, (_, p) => ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - p)) - 1n));
// Built once: masks are taken for every address of a large inventory.
const MASKS: Record<Family, bigint[]> = { 4: maskTable(32), 6: maskTable(128) };

export function mask(family: Family, prefix: number): bigint {
  return MASKS[family][prefix]!;
}

export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: string };

/** A subnet. Host bits set (`192.0.2.5/24`) is refused: it is usually a typo for an address. */
export function parseCidr(text: string): CidrParse {
  const i = parsePrefixed(text);
  if (!i) return { ok: false, reason: `"${text}" is not a subnet in CIDR notation (e.g. 192.0.2.0/24)` };
  const network = i.value & mask(i.family, i.prefix);
  if (network !== i.value) {
    const fixed = formatCidr({ family: i.family, network, prefix: i.prefix });
    return { ok: false, reason: `"${text}" has host bits set; the subnet is ${fixed}` };
  }
  return { ok: true, cidr: { family: i.family, network, prefix: i.prefix } };
}

export function parseInterface(text: string): Interface | undefined {
  return parsePrefixed(text);
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.network })}/${c.prefix}`;
}

export function formatInterface(i: Interface): string {
  return `${formatIp(i)}/${i.prefix}`;
}

export function cidrContains(c: Cidr, ip: Ip): boolean {
  return c.family === ip.family && (ip.value & mask(c.family, c.prefix)) === c.network;
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const p = Math.min(a.prefix, b.prefix);
  const m = mask(a.family, p);
  return (a.network & m) === (b.network & m);
}

/** Canonical spelling of an address (`::FFFF:0:1` → `::ffff:0:1`, leading zeros dropped). */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : undefined;
}

/** A dotted quad as an unsigned 32-bit number; the caller has validated the text. Hot paths (DHCP) use these, not bigint. */
export function ip4(text: string): number {
  const p = text.split('.');
  return ((Number(p[0]) << 24) >>> 0) + (Number(p[1]) << 16) + (Number(p[2]) << 8) + Number(p[3]);
}

export function fromIp4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}
