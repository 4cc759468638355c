// What network-boot firmware says about itself and what a PXE server answers: vendor class
// 60 (PXE spec 2.1 §2.2, UEFI 2.x §24.7 for HTTP boot), client architecture 93, network
// interface 94, machine identifier 97 (RFC 4578 §2.1–2.3), and the PXE sub-options in
// vendor-specific option 43 (PXE spec 2.1 §2.2.6 / Table 2-1).
import { encodeSubOptions, parsed, parseSubOptions, problem, type Parsed, type SubOption } from './suboptions.ts';
import { concat, hex, latin1, latin1Bytes, parseIpv4, readIpv4, readU16, u16 } from './wire.ts';

export interface VendorClass {
  text: string;
  /** Set when the text is a PXE ("PXEClient") or UEFI HTTP boot ("HTTPClient") class. */
  boot?: 'PXEClient' | 'HTTPClient';
  /** Client architecture from ":Arch:xxxxx" (decimal, RFC 4578 §2.1 numbers). */
  arch?: number;
  /** UNDI version from ":UNDI:yyyzzz" (major yyy, minor zzz). */
  undi?: { major: number; minor: number };
}

/**
 * "PXEClient:Arch:00000:UNDI:002001" from PXE firmware, "HTTPClient:Arch:00016:UNDI:003000"
 * from UEFI HTTP boot, bare "PXEClient"/"HTTPClient" in server replies. A class that starts
 * with the prefix but has another tail still counts as that kind; the parts that do not
 * follow the pattern are left out.
 */
export function parseVendorClass(text: string): VendorClass {
  const boot = text.startsWith('PXEClient') ? 'PXEClient' : text.startsWith('HTTPClient') ? 'HTTPClient' : undefined;
  if (!boot) return { text };
  const out: VendorClass = { text, boot };
  const arch = /:Arch:(\d{5})(?::|$)/.exec(text);
  if (arch) out.arch = Number(arch[1]);
  const undi = /:UNDI:(\d{3})(\d{3})$/.exec(text);
  if (undi) out.undi = { major: Number(undi[1]), minor: Number(undi[2]) };
  return out;
}

export function decodeVendorClass(data: Uint8Array): Parsed<VendorClass> {
  return data.length ? parsed(parseVendorClass(latin1(data))) : problem('empty');
}

/**
 * IANA "Processor Architecture Types" (RFC 4578 §2.1 and later registrations). RFC 4578's
 * own table had 7 as "EFI BC" and 9 as "EFI x86-64"; the registry corrected it to 7 = x64
 * UEFI, 9 = EBC. EDK2 sends 7 (captured); some older firmware sends 9 for x64.
 */
export const CLIENT_ARCHITECTURES: Readonly<Record<number, string>> = {
  0: 'x86 BIOS',
  2: 'Itanium',
  6: 'x86 UEFI',
  7: 'x64 UEFI',
  9: 'EBC (x64 UEFI in RFC 4578)',
  10: 'ARM 32-bit UEFI',
  11: 'ARM 64-bit UEFI',
  15: 'x86 UEFI HTTP',
  16: 'x64 UEFI HTTP',
  18: 'ARM 32-bit UEFI HTTP',
  19: 'ARM 64-bit UEFI HTTP',
  20: 'x86 BIOS HTTP',
  25: 'RISC-V 32-bit UEFI',
  27: 'RISC-V 64-bit UEFI',
  28: 'RISC-V 64-bit UEFI HTTP',
};

/** Option 93: a list of 16-bit architecture types, at least one (RFC 4578 §2.1). */
export function decodeClientArch(data: Uint8Array): Parsed<number[]> {
  if (data.length === 0 || data.length % 2 !== 0) return problem(`${data.length} bytes, not a positive multiple of 2`);
  const out: number[] = [];
  for (let i = 0; i < data.length; i += 2) out.push(readU16(data, i));
  return parsed(out);
}

export interface ClientNdi {
  /** 1 = UNDI. */
  type: number;
  major: number;
  minor: number;
}

/** Option 94: type, major, minor — 3 bytes (RFC 4578 §2.2). */
export function decodeClientNdi(data: Uint8Array): Parsed<ClientNdi> {
  if (data.length !== 3) return problem(`${data.length} bytes, not 3`);
  return parsed({ type: data[0]!, major: data[1]!, minor: data[2]! });
}

export interface ClientMachineId {
  /** The 16 GUID bytes as sent. */
  guid: Uint8Array;
  /** Those bytes in order, as a UUID string. */
  uuid: string;
  /**
   * The same bytes read as an SMBIOS UUID, whose first three fields are little-endian
   * (SMBIOS 2.6+ §7.2.1): this is the UUID dmidecode and BMCs show when the firmware copied
   * the SMBIOS bytes as they are — EDK2 does (captured: qemu -uuid 00112233-4455-…
   * arrives as 33 22 11 00 55 44 …). Match an inventory UUID against both.
   */
  smbiosUuid: string;
}

/** Option 97: type 0 and a 16-byte GUID, 17 bytes (RFC 4578 §2.3). */
export function decodeClientMachineId(data: Uint8Array): Parsed<ClientMachineId> {
  if (data.length !== 17) return problem(`${data.length} bytes, not 17`);
  if (data[0] !== 0) return problem(`identifier type ${data[0]}, only type 0 (GUID) is defined`);
  const guid = data.slice(1);
  const swapped = Uint8Array.of(guid[3]!, guid[2]!, guid[1]!, guid[0]!, guid[5]!, guid[4]!, guid[7]!, guid[6]!, ...guid.subarray(8));
  return parsed({ guid, uuid: uuidText(guid), smbiosUuid: uuidText(swapped) });
}

function uuidText(b: Uint8Array): string {
  const h = hex(b, '');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** PXE spec 2.1 Table 2-1 sub-option codes inside option 43. */
export const PXE = {
  DISCOVERY_CONTROL: 6,
  DISCOVERY_MCAST_ADDR: 7,
  BOOT_SERVERS: 8,
  BOOT_MENU: 9,
  MENU_PROMPT: 10,
  BOOT_ITEM: 71,
} as const;

/** Bits of sub-option 6 (PXE spec 2.1 Table 2-1). */
export const DISCOVERY_CONTROL = {
  NO_BROADCAST: 1,
  NO_MULTICAST: 2,
  ONLY_LISTED_SERVERS: 4,
  /** Boot the file named in the DHCP reply without boot-server discovery. */
  USE_BOOTFILE: 8,
} as const;

export interface PxeVendorOptions {
  discoveryControl?: number;
  multicastDiscoveryAddress?: string;
  bootServers?: { type: number; addresses: string[] }[];
  bootMenu?: { type: number; description: string }[];
  /** Seconds to show the prompt; 0 boots the first item at once, 255 waits for a choice. */
  menuPrompt?: { timeout: number; prompt: string };
  bootItem?: { type: number; layer: number };
  /** Sub-options not listed above (MTFTP 1–5, credentials, vendor ones), as they came. */
  other: SubOption[];
}

/** Option 43 of a PXE exchange. Call it only when option 60 says PXEClient: 43's format belongs to the vendor class. */
export function decodePxeVendorOptions(data: Uint8Array): Parsed<PxeVendorOptions> {
  const subs = parseSubOptions(data, true);
  if (!subs.ok) return subs;
  const out: PxeVendorOptions = { other: [] };
  for (const s of subs.value) {
    const d = s.data;
    const bad = (why: string): Parsed<PxeVendorOptions> => problem(`43.${s.code}: ${why}`);
    switch (s.code) {
      case PXE.DISCOVERY_CONTROL:
        if (d.length !== 1) return bad(`${d.length} bytes, not 1`);
        out.discoveryControl = d[0]!;
        break;
      case PXE.DISCOVERY_MCAST_ADDR:
        if (d.length !== 4) return bad(`${d.length} bytes, not 4`);
        out.multicastDiscoveryAddress = readIpv4(d, 0);
        break;
      case PXE.BOOT_SERVERS: {
        // type (2) + count (1) + count × IPv4, repeated
        const list: { type: number; addresses: string[] }[] = [];
        for (let i = 0; i < d.length; ) {
          if (i + 3 > d.length) return bad(`boot server entry at byte ${i} is cut short`);
          const n = d[i + 2]!;
          if (i + 3 + 4 * n > d.length) return bad(`boot server entry at byte ${i} lists ${n} addresses, the data ends first`);
          const addresses: string[] = [];
          for (let k = 0; k < n; k++) addresses.push(readIpv4(d, i + 3 + 4 * k));
          list.push({ type: readU16(d, i), addresses });
          i += 3 + 4 * n;
        }
        out.bootServers = list;
        break;
      }
      case PXE.BOOT_MENU: {
        // type (2) + length (1) + description, repeated
        const list: { type: number; description: string }[] = [];
        for (let i = 0; i < d.length; ) {
          if (i + 3 > d.length) return bad(`menu entry at byte ${i} is cut short`);
          const n = d[i + 2]!;
          if (i + 3 + n > d.length) return bad(`menu entry at byte ${i} has a ${n}-byte description, the data ends first`);
          list.push({ type: readU16(d, i), description: latin1(d.subarray(i + 3, i + 3 + n)) });
          i += 3 + n;
        }
        out.bootMenu = list;
        break;
      }
      case PXE.MENU_PROMPT:
        if (d.length < 1) return bad('empty');
        out.menuPrompt = { timeout: d[0]!, prompt: latin1(d.subarray(1)) };
        break;
      case PXE.BOOT_ITEM:
        if (d.length !== 4) return bad(`${d.length} bytes, not 4`);
        out.bootItem = { type: readU16(d, 0), layer: readU16(d, 2) };
        break;
      default:
        out.other.push(s);
    }
  }
  return parsed(out);
}

/** Option 43's value for a PXE reply, END included. Throws RangeError on a malformed input (a programming error: inputs come from validated config). */
export function encodePxeVendorOptions(o: Omit<PxeVendorOptions, 'other'> & { other?: SubOption[] }): Uint8Array {
  const subs: SubOption[] = [];
  const text = (t: string): Uint8Array => {
    const b = latin1Bytes(t);
    if (!b) throw new RangeError(`"${t}" has a character outside Latin-1`);
    return b;
  };
  const ip = (t: string): Uint8Array => {
    const b = parseIpv4(t);
    if (!b) throw new RangeError(`"${t}" is not an IPv4 address`);
    return b;
  };
  if (o.discoveryControl !== undefined) subs.push({ code: PXE.DISCOVERY_CONTROL, data: Uint8Array.of(o.discoveryControl) });
  if (o.multicastDiscoveryAddress !== undefined) subs.push({ code: PXE.DISCOVERY_MCAST_ADDR, data: ip(o.multicastDiscoveryAddress) });
  if (o.bootServers) {
    const parts = o.bootServers.flatMap((s) => [u16(s.type), Uint8Array.of(s.addresses.length), ...s.addresses.map(ip)]);
    subs.push({ code: PXE.BOOT_SERVERS, data: concat(parts) });
  }
  if (o.bootMenu) {
    const parts = o.bootMenu.flatMap((m) => {
      const d = text(m.description);
      return [u16(m.type), Uint8Array.of(d.length), d];
    });
    subs.push({ code: PXE.BOOT_MENU, data: concat(parts) });
  }
  if (o.menuPrompt) subs.push({ code: PXE.MENU_PROMPT, data: concat([Uint8Array.of(o.menuPrompt.timeout), text(o.menuPrompt.prompt)]) });
  if (o.bootItem) subs.push({ code: PXE.BOOT_ITEM, data: concat([u16(o.bootItem.type), u16(o.bootItem.layer)]) });
  subs.push(...(o.other ?? []));
  return encodeSubOptions(subs, true);
}
