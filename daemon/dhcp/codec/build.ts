// Options a server writes, built from typed values. Inputs come from validated config and
// from the request being answered, so a bad one (an address that is not one) is a
// programming error and throws RangeError; nothing here runs on untrusted bytes.
import { encodeIpxeOptions } from './ipxe.ts';
import type { DhcpOption } from './options.ts';
import { encodePxeVendorOptions } from './pxe.ts';
import { MESSAGE_TYPES, type MessageType } from './standard.ts';
import { encodeUserClass } from './user-class.ts';
import { concat, latin1Bytes, parseIpv4, u16, u32 } from './wire.ts';

function ip(text: string): Uint8Array {
  const b = parseIpv4(text);
  if (!b) throw new RangeError(`"${text}" is not a dotted-quad IPv4 address`);
  return b;
}

function text(code: number, value: string): DhcpOption {
  const b = latin1Bytes(value);
  if (!b || b.length === 0) throw new RangeError(`option ${code}: "${value}" must be 1 or more Latin-1 characters`);
  return { code, data: b };
}

function seconds(code: number, n: number): DhcpOption {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`option ${code}: ${n} is not a 32-bit number of seconds`);
  return { code, data: u32(n) };
}

function ipList(code: number, list: readonly string[]): DhcpOption {
  if (list.length === 0) throw new RangeError(`option ${code}: at least one address`);
  return { code, data: concat(list.map(ip)) };
}

/** RFC 2132 option builders, named as in KnownOptions (known.ts). */
export const option = {
  messageType: (t: MessageType): DhcpOption => ({ code: 53, data: Uint8Array.of(MESSAGE_TYPES[t]) }),
  serverId: (addr: string): DhcpOption => ({ code: 54, data: ip(addr) }),
  subnetMask: (mask: string): DhcpOption => ({ code: 1, data: ip(mask) }),
  routers: (list: readonly string[]): DhcpOption => ipList(3, list),
  dnsServers: (list: readonly string[]): DhcpOption => ipList(6, list),
  hostname: (name: string): DhcpOption => text(12, name),
  domainName: (name: string): DhcpOption => text(15, name),
  broadcastAddress: (addr: string): DhcpOption => ({ code: 28, data: ip(addr) }),
  requestedIp: (addr: string): DhcpOption => ({ code: 50, data: ip(addr) }),
  leaseTime: (s: number): DhcpOption => seconds(51, s),
  renewalTime: (s: number): DhcpOption => seconds(58, s),
  rebindingTime: (s: number): DhcpOption => seconds(59, s),
  parameterRequestList: (codes: readonly number[]): DhcpOption => ({ code: 55, data: Uint8Array.from(codes) }),
  message: (t: string): DhcpOption => text(56, t),
  maxMessageSize: (n: number): DhcpOption => ({ code: 57, data: u16(n) }),
  /** "PXEClient" in a PXE reply (PXE spec 2.1 §2.2.5), "HTTPClient" in a UEFI HTTP boot reply. */
  vendorClass: (t: string): DhcpOption => text(60, t),
  tftpServerName: (name: string): DhcpOption => text(66, name),
  bootfileName: (name: string): DhcpOption => text(67, name),
  userClass: (classes: readonly string[]): DhcpOption => ({ code: 77, data: encodeUserClass(classes) }),
  pxe: (o: Parameters<typeof encodePxeVendorOptions>[0]): DhcpOption => ({ code: 43, data: encodePxeVendorOptions(o) }),
  ipxe: (o: Parameters<typeof encodeIpxeOptions>[0]): DhcpOption => ({ code: 175, data: encodeIpxeOptions(o) }),
} as const;
