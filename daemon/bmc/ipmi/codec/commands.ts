// The IPMI commands ironbay sends: request data builders and response data parsers, each citing
// its section. Parsers take a response's data (after the completion code) and never throw.
import { type Decoded, fail, ok } from './result.ts';
import { NETFN } from './message.ts';

export interface Command {
  netFn: number;
  cmd: number;
  data: Uint8Array;
}

const cmd = (netFn: number, c: number, data: number[] | Uint8Array = []): Command => ({ netFn, cmd: c, data: Uint8Array.from(data) });

/** "This channel": the one the request arrived on (§6.3). */
const CURRENT_CHANNEL = 0x0e;

// ---- Get Channel Authentication Capabilities (§22.13, App 38h) --------------------------------

/** Bit 7 of the channel byte asks for IPMI v2.0 extended data (§22.13, Table 22-15). */
export const getChannelAuthCapabilities = (privilege: number): Command => cmd(NETFN.app, 0x38, [0x80 | CURRENT_CHANNEL, privilege]);

export interface AuthCapabilities {
  channel: number;
  /** The BMC speaks IPMI v2.0 / RMCP+. */
  ipmi20: boolean;
  /** Anonymous (null user, null password) login is enabled: worth a warning. */
  anonymousLogin: boolean;
  nullUsernames: boolean;
  nonNullUsernames: boolean;
  /** Two-key login (Kg) is required. */
  kgRequired: boolean;
  oemId: number;
}

export function parseAuthCapabilities(d: Uint8Array): Decoded<AuthCapabilities> {
  if (d.length < 8) return fail('auth-capabilities-short');
  return ok({
    channel: d[0]!,
    // Byte 2 bit 7 says the extended byte 4 is valid; byte 4 bit 1 says "IPMI v2.0 supported".
    ipmi20: (d[1]! & 0x80) !== 0 && (d[3]! & 0x02) !== 0,
    anonymousLogin: (d[2]! & 0x01) !== 0,
    nullUsernames: (d[2]! & 0x02) !== 0,
    nonNullUsernames: (d[2]! & 0x04) !== 0,
    kgRequired: (d[2]! & 0x20) !== 0,
    oemId: d[4]! | (d[5]! << 8) | (d[6]! << 16),
  });
}

// ---- Get Channel Cipher Suites (§22.15, App 54h) ----------------------------------------------

/** Bit 7 of the index byte: list by cipher suite (§22.15, Table 22-18). */
export const getChannelCipherSuites = (index: number): Command => cmd(NETFN.app, 0x54, [CURRENT_CHANNEL, 0x00, 0x80 | (index & 0x3f)]);

/** Each response carries up to 16 bytes of the record list; fewer means it was the last. */
export const CIPHER_SUITE_CHUNK = 16;

/** Response data: channel | up to 16 bytes of cipher suite records. */
export function parseCipherSuiteChunk(d: Uint8Array): Decoded<Uint8Array> {
  if (d.length < 1) return fail('cipher-suites-short');
  return ok(d.subarray(1));
}

/*
 * Records (§22.15.1, Table 22-19): C0h suiteId algs… (standard) or C1h suiteId IANA(3) algs…
 * (OEM); each algorithm byte is tagged in bits 7:6 (00 auth, 01 integrity, 10 confidentiality).
 */
export function parseCipherSuiteRecords(records: Uint8Array): number[] {
  const ids: number[] = [];
  let i = 0;
  while (i < records.length) {
    const start = records[i]!;
    if (start !== 0xc0 && start !== 0xc1) {
      i++; // an algorithm byte of the previous record
      continue;
    }
    if (i + 1 >= records.length) break;
    if (start === 0xc0) ids.push(records[i + 1]!);
    i += start === 0xc0 ? 2 : 5;
  }
  return ids;
}

// ---- Session management (§22.18, §22.19) -------------------------------------------------------

export const setSessionPrivilegeLevel = (privilege: number): Command => cmd(NETFN.app, 0x3b, [privilege]);

export function closeSession(bmcSessionId: number): Command {
  const d = Buffer.alloc(4);
  d.writeUInt32LE(bmcSessionId >>> 0);
  return cmd(NETFN.app, 0x3c, d);
}

// ---- Get Device ID (§20.1, App 01h) -------------------------------------------------------------

export const getDeviceId = (): Command => cmd(NETFN.app, 0x01);

export interface DeviceId {
  deviceId: number;
  firmware: string;
  ipmiVersion: string;
  manufacturerId: number;
  productId: number;
}

export function parseDeviceId(d: Uint8Array): Decoded<DeviceId> {
  if (d.length < 11) return fail('device-id-short');
  const minor = d[3]!; // BCD
  return ok({
    deviceId: d[0]!,
    firmware: `${d[2]! & 0x7f}.${(minor >> 4).toString()}${(minor & 0x0f).toString()}`,
    ipmiVersion: `${d[4]! & 0x0f}.${d[4]! >> 4}`,
    manufacturerId: d[6]! | (d[7]! << 8) | ((d[8]! & 0x0f) << 16),
    productId: d[9]! | (d[10]! << 8),
  });
}

// ---- Chassis (§28) ------------------------------------------------------------------------------

export const getChassisStatus = (): Command => cmd(NETFN.chassis, 0x01);

export interface ChassisStatus {
  powerOn: boolean;
  faults: string[];
}

/** Current power state byte (§28.2, Table 28-3). */
export function parseChassisStatus(d: Uint8Array): Decoded<ChassisStatus> {
  if (d.length < 3) return fail('chassis-status-short');
  const s = d[0]!;
  const faults: string[] = [];
  if (s & 0x02) faults.push('power overload');
  if (s & 0x04) faults.push('interlock');
  if (s & 0x08) faults.push('power fault');
  if (s & 0x10) faults.push('power control fault');
  const misc = d[2]!;
  if (misc & 0x04) faults.push('drive fault');
  if (misc & 0x08) faults.push('cooling/fan fault');
  return ok({ powerOn: (s & 0x01) !== 0, faults });
}

/** Chassis Control (§28.3, Table 28-4). */
export const CHASSIS_CONTROL = { powerDown: 0, powerUp: 1, powerCycle: 2, hardReset: 3, diagnosticInterrupt: 4, softShutdown: 5 } as const;
export const chassisControl = (control: number): Command => cmd(NETFN.chassis, 0x02, [control]);

// ---- System boot options (§28.12, §28.13, Table 28-14) -------------------------------------------

export const BOOT_PARAM = { setInProgress: 0, infoAcknowledge: 4, bootFlags: 5 } as const;

/** Parameter 0: 0 = set complete, 1 = set in progress. */
export const setInProgress = (inProgress: boolean): Command => cmd(NETFN.chassis, 0x08, [BOOT_PARAM.setInProgress, inProgress ? 1 : 0]);

/**
 * Parameter 4, write mask 01h with data 01h: tell the BIOS the flags are unread. ipmitool sends
 * the same before every boot-device change; some BMCs ignore new flags otherwise.
 */
export const clearBootInfoAcknowledge = (): Command => cmd(NETFN.chassis, 0x08, [BOOT_PARAM.infoAcknowledge, 0x01, 0x01]);

/** Boot device selector, boot flags data 2 bits 5:2 (Table 28-14). */
export const BOOT_SELECTOR = { none: 0x0, pxe: 0x1, disk: 0x2, diskSafe: 0x3, diagnostic: 0x4, cdrom: 0x5, bios: 0x6, remoteFloppy: 0x7, remoteCdrom: 0x8, remoteMedia: 0x9, remoteDisk: 0xb, floppy: 0xf } as const;

export interface BootFlags {
  valid: boolean;
  persistent: boolean;
  efi: boolean;
  selector: number;
}

/*
 * Boot flags (parameter 5), 5 bytes:
 *   1: bit 7 valid | bit 6 persistent (0 = next boot only) | bit 5 EFI (0 = legacy)
 *   2: bit 7 CMOS clear | bit 6 lock keyboard | bits 5:2 device | bit 1 blank screen | bit 0 lock reset
 *   3–5: console redirection, BIOS verbosity, mux: left 0 ("system default")
 */
export function setBootFlags(f: BootFlags): Command {
  const b1 = (f.valid ? 0x80 : 0) | (f.persistent ? 0x40 : 0) | (f.efi ? 0x20 : 0);
  return cmd(NETFN.chassis, 0x08, [BOOT_PARAM.bootFlags, b1, (f.selector & 0x0f) << 2, 0, 0, 0]);
}

export const getBootFlags = (): Command => cmd(NETFN.chassis, 0x09, [BOOT_PARAM.bootFlags, 0, 0]);

/** Get System Boot Options response: version | valid/param | parameter data (§28.13). */
export function parseBootFlags(d: Uint8Array): Decoded<BootFlags> {
  if (d.length < 4) return fail('boot-flags-short');
  if ((d[1]! & 0x7f) !== BOOT_PARAM.bootFlags) return fail('boot-flags-wrong-parameter');
  const b1 = d[2]!;
  return ok({ valid: (b1 & 0x80) !== 0, persistent: (b1 & 0x40) !== 0, efi: (b1 & 0x20) !== 0, selector: (d[3]! >> 2) & 0x0f });
}

/** Completion code 80h on boot options: "parameter not supported" (§28.12). */
export const PARAMETER_NOT_SUPPORTED = 0x80;
