// The power driver over IPMI v2.0 lanplus: the PowerDriver "ensure" operations as chassis
// commands (§28) on a session from the shared IpmiClient.
import { BmcError, type BmcProbe, type BmcStatus, type BmcTarget, type BootDevice, type BootOptions, type BootSetting, type PowerDriver, type PowerResult, type SettableBootDevice } from '../driver.ts';
import {
  BOOT_SELECTOR, CHASSIS_CONTROL, chassisControl, clearBootInfoAcknowledge, getBootFlags, getChassisStatus, getDeviceId, parseBootFlags,
  parseChassisStatus, parseDeviceId, setBootFlags, setInProgress, type Command,
} from './codec/index.ts';
import type { IpmiClient, IpmiEndpoint } from './client.ts';
import type { IpmiSession } from './session.ts';
import { completionError } from './errors.ts';
import { manufacturerName } from './manufacturers.ts';

const SELECTOR_OF: Record<SettableBootDevice, number> = { pxe: BOOT_SELECTOR.pxe, disk: BOOT_SELECTOR.disk, bios: BOOT_SELECTOR.bios };

const SELECTOR_NAME: Record<number, string> = {
  0x0: 'none', 0x1: 'pxe', 0x2: 'disk', 0x3: 'disk (safe mode)', 0x4: 'diagnostic partition', 0x5: 'cdrom', 0x6: 'bios',
  0x7: 'remote floppy', 0x8: 'remote cdrom', 0x9: 'remote media', 0xb: 'remote disk', 0xf: 'floppy',
};

export function bootSettingOf(flags: { valid: boolean; persistent: boolean; efi: boolean; selector: number }): BootSetting {
  const raw = `${SELECTOR_NAME[flags.selector] ?? `selector 0x${flags.selector.toString(16)}`}${flags.valid ? '' : ' (flags not valid)'}${flags.persistent ? ', persistent' : ''}${flags.efi ? ', efi' : ''}`;
  // The device is read from the selector even without the valid bit, as ipmitool shows it:
  // ipmi_sim, and BMCs that hand the device to their host firmware at once, report it so.
  let device: BootDevice = 'other';
  if (flags.selector === BOOT_SELECTOR.none) device = 'none';
  else if (flags.selector === BOOT_SELECTOR.pxe) device = 'pxe';
  else if (flags.selector === BOOT_SELECTOR.disk || flags.selector === BOOT_SELECTOR.diskSafe) device = 'disk';
  else if (flags.selector === BOOT_SELECTOR.bios) device = 'bios';
  return { device, persistent: flags.persistent, efi: flags.efi, raw };
}

export class IpmiDriver implements PowerDriver {
  readonly driver = 'ipmi' as const;
  readonly endpoint: string;
  private readonly client: IpmiClient;
  private readonly target: IpmiEndpoint;

  constructor(target: BmcTarget, client: IpmiClient) {
    this.client = client;
    this.target = target;
    this.endpoint = `${target.host}:${target.port ?? 623}`;
  }

  private with<T>(fn: (s: IpmiSession) => Promise<T>): Promise<T> {
    return this.client.with(this.target, fn);
  }

  private async power(s: IpmiSession): Promise<BmcStatus> {
    const r = await s.command(getChassisStatus(), 'Get Chassis Status');
    const st = parseChassisStatus(r.data);
    if (!st.ok) throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, `Get Chassis Status: ${st.reason}`);
    return { power: st.value.powerOn ? 'on' : 'off', faults: st.value.faults };
  }

  status(): Promise<BmcStatus> {
    return this.with((s) => this.power(s));
  }

  /** Reads the power state, then sends `control` unless `skipWhen` already holds. */
  private ensure(what: string, skipWhen: 'on' | 'off', control: number, after: 'on' | 'off', fromOff?: number): Promise<PowerResult> {
    return this.with(async (s) => {
      const { power } = await this.power(s);
      if (power === skipWhen && fromOff === undefined) return { changed: false, power };
      // Cycle and reset of a machine that is off mean "boot it": BMCs answer D5h to a cycle
      // when off (§28.3), so send power up instead.
      const c = power === 'off' && fromOff !== undefined ? fromOff : control;
      await s.command(chassisControl(c), `Chassis Control (${what})`);
      return { changed: true, power: after };
    });
  }

  on(): Promise<PowerResult> {
    return this.ensure('power up', 'on', CHASSIS_CONTROL.powerUp, 'on');
  }

  off(): Promise<PowerResult> {
    return this.ensure('power down', 'off', CHASSIS_CONTROL.powerDown, 'off');
  }

  /** ACPI soft shutdown: the OS decides when the power goes; the state is still on right after. */
  softOff(): Promise<PowerResult> {
    return this.ensure('soft shutdown', 'off', CHASSIS_CONTROL.softShutdown, 'on');
  }

  cycle(): Promise<PowerResult> {
    return this.ensure('power cycle', 'off', CHASSIS_CONTROL.powerCycle, 'on', CHASSIS_CONTROL.powerUp);
  }

  reset(): Promise<PowerResult> {
    return this.ensure('hard reset', 'off', CHASSIS_CONTROL.hardReset, 'on', CHASSIS_CONTROL.powerUp);
  }

  /**
   * Set System Boot Options in the order BMCs expect (what ipmitool and FreeIPMI send):
   * set-in-progress, clear the boot info acknowledge, the boot flags, set complete. Parameters 0
   * and 4 are optional in the spec and refused by some BMCs (ipmi_sim answers CCh to set in
   * progress; ipmitool carries on too): only the boot flags themselves must be accepted, and
   * the read-back decides.
   */
  setBootDevice(device: SettableBootDevice, options: BootOptions = {}): Promise<BootSetting> {
    const want = { valid: true, persistent: options.persistent ?? false, efi: options.efi ?? false, selector: SELECTOR_OF[device] };
    return this.with(async (s) => {
      const optional = async (c: Command, what: string): Promise<boolean> => {
        const r = await s.commandRaw(c, what);
        if (r.completionCode === 0xd4) throw completionError(this.endpoint, what, r.completionCode);
        return r.completionCode === 0;
      };
      const inProgress = await optional(setInProgress(true), 'Set System Boot Options (set in progress)');
      try {
        await optional(clearBootInfoAcknowledge(), 'Set System Boot Options (boot info acknowledge)');
        await s.command(setBootFlags(want), `Set System Boot Options (boot flags: ${device})`);
      } finally {
        if (inProgress) await optional(setInProgress(false), 'Set System Boot Options (set complete)').catch(() => undefined);
      }
      const { setting: got, valid } = await this.readBootFlags(s);
      const asked = bootSettingOf(want);
      if (got.device !== asked.device) {
        throw new BmcError('IB_ERR_BMC_BOOTDEV_NOT_APPLIED', this.endpoint, `boot device set to ${asked.raw} but the BMC reports ${got.raw ?? got.device}`, { details: { asked, got } });
      }
      const warnings: string[] = [];
      if (!valid) warnings.push('the BMC reports the boot flags as not valid');
      if (got.persistent !== asked.persistent) warnings.push(`asked ${asked.persistent ? 'persistent' : 'next boot only'}, the BMC keeps ${got.persistent ? 'persistent' : 'next boot only'}`);
      if (got.efi !== asked.efi) warnings.push(`asked ${asked.efi ? 'EFI' : 'legacy'} boot, the BMC keeps ${got.efi ? 'EFI' : 'legacy'}`);
      return warnings.length ? { ...got, warnings } : got;
    });
  }

  private async readBootFlags(s: IpmiSession): Promise<{ setting: BootSetting; valid: boolean }> {
    const r = await s.command(getBootFlags(), 'Get System Boot Options (boot flags)');
    const f = parseBootFlags(r.data);
    if (!f.ok) throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, `Get System Boot Options: ${f.reason}`);
    return { setting: bootSettingOf(f.value), valid: f.value.valid };
  }

  getBootDevice(): Promise<BootSetting> {
    return this.with(async (s) => (await this.readBootFlags(s)).setting);
  }

  probe(): Promise<BmcProbe> {
    return this.with(async (s) => {
      const pong = await s.ping();
      const r = await s.command(getDeviceId(), 'Get Device ID');
      const id = parseDeviceId(r.data);
      if (!id.ok) throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, `Get Device ID: ${id.reason}`);
      const boot = await s.commandRaw(getBootFlags(), 'Get System Boot Options (boot flags)');
      return {
        driver: 'ipmi',
        ...(s.offeredSuites ? { cipherSuites: s.offeredSuites } : {}),
        ...(s.suite !== undefined ? { cipherSuite: s.suite } : {}),
        manufacturer: manufacturerName(id.value.manufacturerId),
        product: `product 0x${id.value.productId.toString(16).padStart(4, '0')}`,
        firmware: `${id.value.firmware} (IPMI ${id.value.ipmiVersion})`,
        bootDevices: boot.completionCode === 0 ? ['pxe', 'disk', 'bios'] : [],
        bootModes: ['legacy', 'efi'],
        resetTypes: ['on', 'off', 'soft-off', 'cycle', 'reset'],
        asfPresence: pong !== undefined,
      };
    });
  }

  close(): Promise<void> {
    // Sessions belong to the shared client; it closes them when idle or at shutdown.
    return Promise.resolve();
  }
}
