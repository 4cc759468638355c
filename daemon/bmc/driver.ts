// The power-driver interface: one shape for every BMC protocol (IPMI v2.0 lanplus, Redfish).
// Callers (CLI, API, the lifecycle reconciler) only ever see this file's types; a driver's
// wire details stay in its own folder (bmc/ipmi/, bmc/redfish/).
//
// Every operation is an "ensure": repeating it is safe and reports whether it changed anything.
// Every operation is bounded in time by the driver (retries × per-try timeout) and fails with a
// BmcError whose code is stable (see errors.ts, IB_ERR_BMC_*).
import { IronbayError, type ErrorCode } from '../errors.ts';

export type DriverName = 'ipmi' | 'redfish';
export type PowerState = 'on' | 'off';

/**
 * What the next boot should use. `none` = no override (the BIOS order applies); `other` = an
 * override the BMC reports that ironbay does not set (CD, floppy, a vendor target).
 */
export type BootDevice = 'pxe' | 'disk' | 'bios' | 'none' | 'other';
export type SettableBootDevice = 'pxe' | 'disk' | 'bios';

export interface BootSetting {
  device: BootDevice;
  /** true: every boot; false: the next boot only (then the BMC clears it). */
  persistent: boolean;
  /** true: UEFI boot; false: legacy BIOS. */
  efi: boolean;
  /** What the BMC literally reported, for operators comparing with vendor tools. */
  raw?: string;
  /**
   * After a set: the device was applied but a flag was not (a BMC that drops the EFI or
   * persistent bit, or reports the override as not valid). The machine still boots the device.
   */
  warnings?: string[];
}

export interface BootOptions {
  persistent?: boolean; // default false: one-time, as MAAS does before each provisioning power-on
  efi?: boolean; // default false
}

export interface PowerResult {
  /** Whether this call changed anything on the BMC (false: it was already so). */
  changed: boolean;
  /** The power state right after the call as far as the driver knows it. */
  power: PowerState;
}

export interface BmcStatus {
  power: PowerState;
  /** Chassis faults the BMC reports (IPMI: power overload, fault, interlock; Redfish: Status.Health). */
  faults: string[];
}

/** What probe() learned; recorded per machine so later calls skip the learning. */
export interface BmcProbe {
  driver: DriverName;
  /** IPMI: cipher suites the BMC offers, and the one chosen. */
  cipherSuites?: number[];
  cipherSuite?: number;
  /** IPMI: Get Device ID; Redfish: Manager's Model/FirmwareVersion. */
  manufacturer?: string;
  product?: string;
  firmware?: string;
  /** Boot targets the BMC accepts (Redfish AllowableValues; IPMI: what boot flags it took). */
  bootDevices?: string[];
  /** Boot modes the BMC can set: legacy and/or efi. */
  bootModes?: ('legacy' | 'efi')[];
  /** Redfish ResetType@Redfish.AllowableValues, or the IPMI chassis controls. */
  resetTypes?: string[];
  /** Is there a Redfish service at the same address (learned by the IPMI probe too, if asked). */
  redfish?: boolean;
  /** IPMI: the BMC answers an ASF presence ping (some firmware does not, and that is allowed). */
  asfPresence?: boolean;
}

export interface PowerDriver {
  readonly driver: DriverName;
  /** host:port — for messages and logs. */
  readonly endpoint: string;
  status(): Promise<BmcStatus>;
  on(): Promise<PowerResult>;
  /** Hard power off. */
  off(): Promise<PowerResult>;
  /** ACPI soft shutdown request; does not wait for the OS to finish. */
  softOff(): Promise<PowerResult>;
  /** Power cycle; a machine that is off is powered on (the result is the same: a fresh boot). */
  cycle(): Promise<PowerResult>;
  /** Warm reset; a machine that is off is powered on. */
  reset(): Promise<PowerResult>;
  /**
   * Sets the next boot device, then reads it back. A BMC that accepted the setting but reports
   * something else fails with IB_ERR_BMC_BOOTDEV_NOT_APPLIED.
   */
  setBootDevice(device: SettableBootDevice, options?: BootOptions): Promise<BootSetting>;
  getBootDevice(): Promise<BootSetting>;
  probe(): Promise<BmcProbe>;
  /** Ends the session (IPMI Close Session, Redfish DELETE session). Safe to call twice. */
  close(): Promise<void>;
}

/** The power operations by the names operators type (CLI, API, events: `power.soft-off`). */
export const POWER_ACTIONS = ['status', 'on', 'off', 'soft-off', 'cycle', 'reset'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

/** Runs one named power operation: status reads, the rest are ensures. */
export async function powerAction(d: PowerDriver, action: PowerAction): Promise<{ power: PowerState; changed?: boolean; faults?: string[] }> {
  switch (action) {
    case 'status':
      return d.status();
    case 'on':
      return d.on();
    case 'off':
      return d.off();
    case 'soft-off':
      return d.softOff();
    case 'cycle':
      return d.cycle();
    case 'reset':
      return d.reset();
  }
}

/** Where a BMC is and how to log in; the password is already resolved from file/env. */
export interface BmcTarget {
  driver: DriverName;
  host: string;
  port?: number;
  username: string;
  password: string;
  /** IPMI: a fixed cipher suite (otherwise: 17 if offered, else 3). */
  cipherSuite?: number;
  /** IPMI: accept suite 0 (no authentication). Off unless set per machine. */
  allowCipherSuiteZero?: boolean;
  /** Redfish: accept a certificate that does not chain to a trusted CA. */
  insecureTls?: boolean;
  /** Redfish: sha256 fingerprint of the expected certificate ("AB:CD:…" or hex); implies pinning. */
  tlsFingerprint?: string;
  /** Per-try timeout and tries; the whole call is bounded by roughly their product. */
  timeoutMs?: number;
  retries?: number;
}

export type BmcErrorCode = Extract<ErrorCode, `IB_ERR_BMC_${string}`>;

export class BmcError extends IronbayError {
  declare readonly code: BmcErrorCode;
  /** host:port of the BMC concerned. */
  readonly endpoint: string;

  constructor(code: BmcErrorCode, endpoint: string, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(code, `BMC ${endpoint}: ${message}`, options);
    this.name = 'BmcError';
    this.endpoint = endpoint;
  }
}

export function isBmcError(e: unknown, code?: BmcErrorCode): e is BmcError {
  return e instanceof BmcError && (code === undefined || e.code === code);
}
