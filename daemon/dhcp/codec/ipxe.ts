// Option 175, iPXE's encapsulated options (iPXE include/ipxe/dhcp.h "DHCP_EB_*",
// include/ipxe/features.h). In a request iPXE lists the features it was built with (one
// sub-option per feature, its value a version byte) and its bus/device; in a reply a
// server sets behaviour — 175.176 "no-pxedhcp" = 1 stops iPXE waiting ~3 s for ProxyDHCP.
import { encodeSubOptions, parsed, parseSubOptions, problem, type Parsed, type SubOption } from './suboptions.ts';
import { readU16 } from './wire.ts';

export const IPXE = {
  PRIORITY: 1,
  KEEP_SAN: 8,
  SKIP_SAN_BOOT: 9,
  NO_PXEDHCP: 176,
  BUS_ID: 177,
  USE_CACHED: 178,
  BIOS_DRIVE: 189,
  VERSION: 235,
} as const;

/** Feature markers, 0x10–0x4f (dhcp.h reserves that range; features.h names these), by name. */
export const IPXE_FEATURES: Readonly<Record<number, string>> = {
  0x10: 'pxeext',
  0x11: 'iscsi',
  0x12: 'aoe',
  0x13: 'http',
  0x14: 'https',
  0x15: 'tftp',
  0x16: 'ftp',
  0x17: 'dns',
  0x18: 'bzimage',
  0x19: 'multiboot',
  0x1a: 'slam',
  0x1b: 'srp',
  0x20: 'nbi',
  0x21: 'pxe',
  0x22: 'elf',
  0x23: 'comboot',
  0x24: 'efi',
  0x25: 'fcoe',
  0x26: 'vlan',
  0x27: 'menu',
  0x28: 'sdi',
  0x29: 'nfs',
};

/** Bus types of 175.177 (iPXE include/ipxe/device.h BUS_TYPE_*). */
export const IPXE_BUS_TYPES: Readonly<Record<number, string>> = {
  1: 'pci',
  2: 'isapnp',
  3: 'eisa',
  4: 'mca',
  5: 'isa',
  6: 'tap',
  7: 'efi',
  8: 'xen',
  9: 'hyperv',
  10: 'usb',
};

export interface IpxeOptions {
  /** Feature markers present, by name (unnamed ones as "0xNN"), each with its version byte. */
  features: Record<string, number>;
  priority?: number;
  keepSan?: number;
  skipSanBoot?: number;
  noPxeDhcp?: boolean;
  /** 175.177: bus type, then for PCI the vendor and device IDs (5 bytes). */
  busId?: { bus: string; vendor?: number; device?: number };
  useCached?: boolean;
  biosDrive?: number;
  /** 175.235: major.minor.patch. */
  version?: string;
  /** Sub-options not decoded above, as they came. */
  other: SubOption[];
}

export function decodeIpxeOptions(data: Uint8Array): Parsed<IpxeOptions> {
  const subs = parseSubOptions(data, true);
  if (!subs.ok) return subs;
  const out: IpxeOptions = { features: {}, other: [] };
  for (const s of subs.value) {
    const d = s.data;
    const one = d.length === 1 ? d[0]! : undefined;
    if (s.code >= 0x10 && s.code <= 0x4f && one !== undefined) {
      out.features[IPXE_FEATURES[s.code] ?? `0x${s.code.toString(16)}`] = one;
    } else if (s.code === IPXE.PRIORITY && one !== undefined) out.priority = one > 127 ? one - 256 : one; // signed
    else if (s.code === IPXE.KEEP_SAN && one !== undefined) out.keepSan = one;
    else if (s.code === IPXE.SKIP_SAN_BOOT && one !== undefined) out.skipSanBoot = one;
    else if (s.code === IPXE.NO_PXEDHCP && one !== undefined) out.noPxeDhcp = one !== 0;
    else if (s.code === IPXE.USE_CACHED && one !== undefined) out.useCached = one !== 0;
    else if (s.code === IPXE.BIOS_DRIVE && one !== undefined) out.biosDrive = one;
    else if (s.code === IPXE.BUS_ID) {
      if (d.length < 1) return problem('175.177 (bus id) is empty');
      const bus = IPXE_BUS_TYPES[d[0]!] ?? `bus-${d[0]}`;
      out.busId = d.length === 5 ? { bus, vendor: readU16(d, 1), device: readU16(d, 3) } : { bus };
    } else if (s.code === IPXE.VERSION && d.length === 3) out.version = `${d[0]}.${d[1]}.${d[2]}`;
    else out.other.push(s);
  }
  return parsed(out);
}

/** What a server sets in 175 (END included); flags written as one byte 1/0. */
export function encodeIpxeOptions(o: { noPxeDhcp?: boolean; priority?: number; useCached?: boolean; other?: SubOption[] }): Uint8Array {
  const subs: SubOption[] = [];
  if (o.priority !== undefined) subs.push({ code: IPXE.PRIORITY, data: Uint8Array.of(o.priority & 0xff) });
  if (o.noPxeDhcp !== undefined) subs.push({ code: IPXE.NO_PXEDHCP, data: Uint8Array.of(o.noPxeDhcp ? 1 : 0) });
  if (o.useCached !== undefined) subs.push({ code: IPXE.USE_CACHED, data: Uint8Array.of(o.useCached ? 1 : 0) });
  subs.push(...(o.other ?? []));
  return encodeSubOptions(subs, true);
}
