// The two neighbour-discovery messages the boot plane speaks (RFC 4861): it reads Router
// Solicitations and writes a Router Advertisement that configures nothing — no prefix, no
// M/O flags, router lifetime 0 (not a default router). Its only purpose: firmware that
// waits for IPv6 autoconfiguration (iPXE waits ~13 s for a router that never answers on a
// boot VLAN without IPv6) learns at once that there is none to wait for.
//
// Pure. The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets (RFC 3542 §3.1), so
// the checksum field is written as zero.

export const ICMP6_ROUTER_SOLICIT = 133;
export const ICMP6_ROUTER_ADVERT = 134;
/** RFC 4861 §4.6.1 option type: source link-layer address. */
const OPT_SOURCE_LLADDR = 1;

export type Icmp6Read = { ok: true; type: number; code: number } | { ok: false; reason: string };

/** The type and code of an ICMPv6 message, or why the bytes are not one. */
export function readIcmp6(buf: Uint8Array): Icmp6Read {
  if (buf.length < 4) return { ok: false, reason: `${buf.length} bytes: an ICMPv6 header is 4` };
  return { ok: true, type: buf[0]!, code: buf[1]! };
}

/** RFC 4861 §6.1.1: a router silently discards a solicitation that is malformed. */
export function isRouterSolicitation(buf: Uint8Array): boolean {
  const r = readIcmp6(buf);
  return r.ok && r.type === ICMP6_ROUTER_SOLICIT && r.code === 0 && buf.length >= 8;
}

/** A Router Advertisement with no configuration; `mac` adds the source link-layer option. */
export function encodeEmptyRouterAdvertisement(mac?: string): Uint8Array {
  const macBytes = mac ? macToBytes(mac) : undefined;
  const out = new Uint8Array(16 + (macBytes ? 8 : 0));
  out[0] = ICMP6_ROUTER_ADVERT;
  // [1] code 0, [2..3] checksum (kernel), [4] cur hop limit 0 = unspecified,
  // [5] flags M=0 O=0, [6..7] router lifetime 0, [8..11] reachable 0, [12..15] retrans 0.
  if (macBytes) {
    out[16] = OPT_SOURCE_LLADDR;
    out[17] = 1; // length in units of 8 bytes
    out.set(macBytes, 18);
  }
  return out;
}

function macToBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new RangeError(`"${mac}" is not a MAC address`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}
