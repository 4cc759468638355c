// The managed system behind the test BMC: chassis power and the system boot options (IPMI v2.0
// §28), and the commands a console sends about them in a session. No sockets: a request in, a
// completion code and data out; the clock is injected (a soft shutdown completes later).
import { BOOT_PARAM, CHASSIS_CONTROL, PARAMETER_NOT_SUPPORTED, PRIVILEGE, type BootFlags } from '../../../daemon/bmc/ipmi/codec/index.ts';
import type { TestBmcConfig } from './config.ts';

/** What a command handler answers: a completion code (§5.2) and the response data after it. */
export interface Reply {
  cc: number;
  data?: readonly number[] | Uint8Array;
}

export const CC = {
  ok: 0x00,
  nodeBusy: 0xc0,
  invalidCommand: 0xc1,
  lengthInvalid: 0xc7,
  outOfRange: 0xc9,
  invalidData: 0xcc,
  insufficientPrivilege: 0xd4,
  notInPresentState: 0xd5,
} as const;

/** Chassis commands (NetFn 00h, Appendix G). */
export const CHASSIS_CMD = { getStatus: 0x01, control: 0x02, setBootOptions: 0x08, getBootOptions: 0x09 } as const;

export interface BootFlagsState extends BootFlags {
  /** The five parameter-5 data bytes as stored (Table 28-14). */
  data: number[];
}

export interface BootRecord {
  how: 'power up' | 'power cycle' | 'hard reset';
  /** The boot flags the "BIOS" found when it started. */
  flags: BootFlagsState;
}

const decodeFlags = (d: Uint8Array): BootFlagsState => ({
  valid: (d[0]! & 0x80) !== 0,
  persistent: (d[0]! & 0x40) !== 0,
  efi: (d[0]! & 0x20) !== 0,
  selector: (d[1]! >> 2) & 0x0f,
  data: [...d],
});

/** Parameter data lengths of Set System Boot Options (Table 28-14). */
const SET_LENGTH: Readonly<Record<number, number>> = { [BOOT_PARAM.setInProgress]: 1, [BOOT_PARAM.infoAcknowledge]: 2, [BOOT_PARAM.bootFlags]: 5 };
/** Parameter version in every Get System Boot Options answer (§28.13). */
const PARAMETER_VERSION = 0x01;

export class Machine {
  private powered: boolean;
  private softOffAt: number | undefined;
  /** Parameter 5, five bytes. */
  private flags = Buffer.alloc(5);
  /** Parameter 0: 0 set complete, 1 set in progress. */
  private inProgress = 0;
  /** Parameter 4 data byte: boot initiator acknowledge (bit 0 BIOS/POST … bit 4 OEM). */
  private acknowledge = 0;
  readonly boots: BootRecord[] = [];
  private readonly config: TestBmcConfig;

  constructor(config: TestBmcConfig) {
    this.config = config;
    this.powered = config.power === 'on';
  }

  get power(): 'on' | 'off' {
    if (this.softOffAt !== undefined && this.config.now() >= this.softOffAt) {
      this.powered = false;
      this.softOffAt = undefined;
    }
    return this.powered ? 'on' : 'off';
  }

  /** Sets the power as if by hand (the front-panel button): no boot is recorded. */
  set power(p: 'on' | 'off') {
    this.powered = p === 'on';
    this.softOffAt = undefined;
  }

  get bootFlags(): BootFlagsState {
    return decodeFlags(this.flags);
  }

  /** Chassis commands; the privilege is the session's current level (Appendix G, Table G-1). */
  chassis(cmd: number, data: Buffer, privilege: number): Reply {
    const need = cmd === CHASSIS_CMD.getStatus ? PRIVILEGE.user : PRIVILEGE.operator;
    if (cmd !== CHASSIS_CMD.getStatus && cmd !== CHASSIS_CMD.control && cmd !== CHASSIS_CMD.setBootOptions && cmd !== CHASSIS_CMD.getBootOptions) {
      return { cc: CC.invalidCommand };
    }
    if (privilege < need) return { cc: CC.insufficientPrivilege };
    if (this.config.busy) return { cc: CC.nodeBusy };
    switch (cmd) {
      case CHASSIS_CMD.getStatus:
        return this.status();
      case CHASSIS_CMD.control:
        return data.length !== 1 ? { cc: CC.lengthInvalid } : this.control(data[0]! & 0x0f);
      case CHASSIS_CMD.setBootOptions:
        return this.setBootOption(data);
      default:
        return this.getBootOption(data);
    }
  }

  /*
   * Get Chassis Status response (§28.2, Table 28-3):
   *   current power state (bit 0 on; bits 6:5 restore policy, 01b "previous") | last power event |
   *   misc chassis state | front panel button capabilities
   */
  private status(): Reply {
    return { cc: CC.ok, data: [(this.power === 'on' ? 0x01 : 0x00) | 0x20, 0x00, 0x00, 0x00] };
  }

  /*
   * Chassis Control request (§28.3, Table 28-4): control (bits 3:0). Cycle, reset, the diagnostic
   * interrupt and the soft shutdown need a running host: D5h when it is off (§28.3 recommends
   * the console check the state first). Power up when on, or down when off, does nothing.
   */
  private control(c: number): Reply {
    const on = this.power === 'on';
    switch (c) {
      case CHASSIS_CONTROL.powerDown:
        this.power = 'off';
        return { cc: CC.ok };
      case CHASSIS_CONTROL.powerUp:
        if (!on) {
          this.powered = true;
          this.boot('power up');
        }
        return { cc: CC.ok };
      case CHASSIS_CONTROL.powerCycle:
      case CHASSIS_CONTROL.hardReset:
        if (!on) return { cc: CC.notInPresentState };
        this.softOffAt = undefined;
        this.boot(c === CHASSIS_CONTROL.powerCycle ? 'power cycle' : 'hard reset');
        return { cc: CC.ok };
      case CHASSIS_CONTROL.diagnosticInterrupt:
        return { cc: on ? CC.ok : CC.notInPresentState };
      case CHASSIS_CONTROL.softShutdown:
        if (!on) return { cc: CC.notInPresentState };
        // The OS shuts down by itself; a second request while it does changes nothing.
        if (this.config.softOffDelayMs <= 0) this.power = 'off';
        else this.softOffAt ??= this.config.now() + this.config.softOffDelayMs;
        return { cc: CC.ok };
      default:
        return { cc: CC.invalidData };
    }
  }

  /**
   * The host starts: its firmware reads the boot flags, and a one-time (non-persistent) override
   * is consumed — the valid bit and the device cleared, as BMCs report after the boot (§28.12,
   * boot flags data 1 bit 6: "options apply to next boot only").
   */
  private boot(how: BootRecord['how']): void {
    const flags = this.bootFlags;
    this.boots.push({ how, flags });
    if (flags.valid && !flags.persistent) {
      this.flags[0] = this.flags[0]! & ~0x80;
      this.flags[1] = this.flags[1]! & ~0x3c;
    }
    this.acknowledge = 0;
  }

  /*
   * Set System Boot Options request (§28.12): parameter valid (bit 7: mark invalid) and
   * selector (bits 6:0) | parameter data. Parameters 0 (set in progress: 1 byte), 4 (boot info
   * acknowledge: write mask, data) and 5 (boot flags: 5 bytes); any other is 80h.
   */
  private setBootOption(d: Buffer): Reply {
    if (d.length < 1) return { cc: CC.lengthInvalid };
    const param = d[0]! & 0x7f;
    const want = SET_LENGTH[param];
    if (want === undefined) return { cc: PARAMETER_NOT_SUPPORTED };
    if (d.length - 1 !== want) return { cc: CC.lengthInvalid };
    const value = d.subarray(1);
    if (param === BOOT_PARAM.setInProgress) {
      const v = value[0]! & 0x03;
      if (v === 3) return { cc: CC.invalidData };
      this.inProgress = v === 1 ? 1 : 0; // 2 = commit write: this BMC writes at once
      return { cc: CC.ok };
    }
    if (param === BOOT_PARAM.infoAcknowledge) {
      const mask = value[0]!;
      this.acknowledge = (this.acknowledge & ~mask) | (value[1]! & mask);
      return { cc: CC.ok };
    }
    if (this.config.ignoreBootFlags) return { cc: CC.ok };
    value.copy(this.flags);
    if (this.config.dropEfiBit) this.flags[0] = this.flags[0]! & ~0x20;
    return { cc: CC.ok };
  }

  /*
   * Get System Boot Options request (§28.13): parameter selector | set selector | block selector.
   * Response: parameter version | parameter valid (bit 7: 1 = invalid/locked) and selector | data.
   */
  private getBootOption(d: Buffer): Reply {
    if (d.length !== 3) return { cc: CC.lengthInvalid };
    const param = d[0]! & 0x7f;
    const head = [PARAMETER_VERSION, param];
    if (param === BOOT_PARAM.setInProgress) return { cc: CC.ok, data: [...head, this.inProgress] };
    if (param === BOOT_PARAM.infoAcknowledge) return { cc: CC.ok, data: [...head, 0x00, this.acknowledge] };
    if (param === BOOT_PARAM.bootFlags) return { cc: CC.ok, data: [...head, ...this.flags] };
    return { cc: PARAMETER_NOT_SUPPORTED };
  }

  /*
   * Get Device ID response (§20.1, Table 20-2):
   *   device ID | device revision | firmware major (bit 7: update in progress) | firmware minor (BCD) |
   *   IPMI version (BCD, 02h = 2.0) | additional device support | manufacturer (3, LE) | product (2, LE)
   */
  deviceId(): Reply {
    const [major, minor] = this.config.firmware.split('.').map(Number) as [number, number];
    const m = this.config.manufacturerId;
    const bcd = ((Math.floor(minor / 10) & 0x0f) << 4) | (minor % 10);
    return { cc: CC.ok, data: [0x20, 0x01, major & 0x7f, bcd, 0x02, 0x80, m & 0xff, (m >> 8) & 0xff, (m >> 16) & 0x0f, this.config.productId & 0xff, (this.config.productId >> 8) & 0xff] };
  }
}
