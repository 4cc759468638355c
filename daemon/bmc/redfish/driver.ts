// The Redfish power driver: PowerDriver (../driver.ts) over a BMC's Redfish service. The first
// ComputerSystem of the Systems collection is the machine; power is its PowerState and the
// ComputerSystem.Reset action, the next boot its Boot override (DSP0268 ComputerSystem).
// Every operation is an "ensure": it reads the state first and acts only when needed.
import { isIP } from 'node:net';
import { pino, type Logger } from 'pino';
import {
  BmcError,
  isBmcError,
  type BmcProbe,
  type BmcStatus,
  type BmcTarget,
  type BootOptions,
  type BootSetting,
  type PowerDriver,
  type PowerResult,
  type PowerState,
  type SettableBootDevice,
} from '../driver.ts';
import { DEFAULT_TIMEOUT_MS, RedfishClient, realClock, type Clock } from './client.ts';
import { bootMismatches, bootModesFrom, bootPatchFor, bootSettingFrom, faultsFrom, powerFromRedfish, resetPlan, type BootPatch, type ResetOp } from './mapping.ts';
import { readActionInfoAllowable, readCollection, readManager, readSystem, type SystemResource } from './resources.ts';
import { normaliseFingerprint, type TlsPolicy } from './tls.ts';
import { httpsTransport, type Transport } from './transport.ts';

export interface RedfishDriverOptions {
  log?: Logger;
  /** Trust anchors replacing node's CA list (a private PKI); the tests pass their own certificate. */
  ca?: string | Buffer;
  /** Waits (Retry-After, PowerState polling) go through this; tests pass a fake. */
  clock?: Clock;
  /** How long cycle()'s ForceOff-then-On waits for PowerState Off. */
  offWaitMs?: number;
  /** PowerState polling interval during that wait. */
  pollMs?: number;
  /** Replaces HTTPS (tests of the retry and session logic). */
  transport?: Transport;
}

export const DEFAULT_OFF_WAIT_MS = 30_000;
export const DEFAULT_POLL_MS = 1_000;

/** What is learned once per driver (and again by probe()): where the system is, what it offers. */
interface Learned {
  path: string;
  resetTarget: string;
  resetTypes: string[] | undefined;
}

export class RedfishDriver implements PowerDriver {
  readonly driver = 'redfish' as const;
  readonly endpoint: string;
  readonly #client: RedfishClient;
  readonly #clock: Clock;
  readonly #offWaitMs: number;
  readonly #pollMs: number;
  #learned: Learned | undefined;

  constructor(target: BmcTarget, opts: RedfishDriverOptions = {}) {
    const port = target.port ?? 443;
    this.endpoint = `${isIP(target.host) === 6 ? `[${target.host}]` : target.host}:${port}`;
    let pin: string | undefined;
    if (target.tlsFingerprint !== undefined) {
      pin = normaliseFingerprint(target.tlsFingerprint);
      if (pin === undefined) {
        throw new BmcError('IB_ERR_BMC_TLS', this.endpoint, `tlsFingerprint is not a sha256 fingerprint (64 hex digits, colons optional): ${JSON.stringify(target.tlsFingerprint)}`);
      }
    }
    const tls: TlsPolicy = { insecure: target.insecureTls === true, ...(pin === undefined ? {} : { pin }), ...(opts.ca === undefined ? {} : { ca: opts.ca }) };
    const timeoutMs = target.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#clock = opts.clock ?? realClock;
    this.#offWaitMs = opts.offWaitMs ?? DEFAULT_OFF_WAIT_MS;
    this.#pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
    const log = (opts.log ?? pino({ level: 'silent' })).child({ mod: 'redfish', bmc: this.endpoint });
    this.#client = new RedfishClient({
      target,
      endpoint: this.endpoint,
      transport: opts.transport ?? httpsTransport({ host: target.host, port, tls, timeoutMs }),
      log,
      clock: this.#clock,
    });
  }

  async status(): Promise<BmcStatus> {
    const sys = await this.#system();
    return { power: this.#power(sys), faults: faultsFrom(sys.health) };
  }

  on(): Promise<PowerResult> {
    return this.#ensure('on', 'on', 'on');
  }

  off(): Promise<PowerResult> {
    return this.#ensure('off', 'off', 'off');
  }

  /** The OS is asked to shut down; the machine is still on when this returns. */
  softOff(): Promise<PowerResult> {
    return this.#ensure('off', 'softOff', 'on');
  }

  cycle(): Promise<PowerResult> {
    return this.#ensure(undefined, 'cycle', 'on');
  }

  reset(): Promise<PowerResult> {
    return this.#ensure(undefined, 'reset', 'on');
  }

  async setBootDevice(device: SettableBootDevice, options: BootOptions = {}): Promise<BootSetting> {
    const { path } = await this.#learn();
    const patch = await this.#patchBoot(path, device, options);
    const after = await this.#system();
    const wrong = bootMismatches(patch, after.boot);
    if (wrong.length) {
      throw new BmcError('IB_ERR_BMC_BOOTDEV_NOT_APPLIED', this.endpoint, `${path}: boot override accepted but not applied: ${wrong.join('; ')}`, {
        details: { wanted: patch, reads: bootSettingFrom(after.boot).raw },
      });
    }
    return bootSettingFrom(after.boot);
  }

  /** GET (for the ETag and AllowableValues), then PATCH with If-Match; again once on 412. */
  async #patchBoot(path: string, device: SettableBootDevice, options: BootOptions): Promise<BootPatch> {
    for (let round = 1; ; round++) {
      const { value: sys, etag } = await this.#client.read(path, 'ComputerSystem', readSystem);
      const patch = bootPatchFor(device, options, sys.boot);
      if ('unsupported' in patch) throw new BmcError('IB_ERR_BMC_UNSUPPORTED', this.endpoint, `${path}: ${patch.unsupported}`);
      try {
        await this.#client.patch(path, { Boot: patch }, etag ?? sys.etag);
        return patch;
      } catch (e) {
        // 412 Precondition Failed: the resource changed between GET and PATCH (DSP0266 "ETags").
        if (round >= 2 || !isBmcError(e) || e.details?.status !== 412) throw e;
      }
    }
  }

  async getBootDevice(): Promise<BootSetting> {
    return bootSettingFrom((await this.#system()).boot);
  }

  async probe(): Promise<BmcProbe> {
    this.#learned = undefined;
    const learned = await this.#learn();
    const sys = await this.#system();
    let managerPath = sys.managedBy;
    if (managerPath === undefined) {
      const root = await this.#client.root();
      if (root.managers !== undefined) managerPath = (await this.#client.read(root.managers, 'ManagerCollection', readCollection)).value[0];
    }
    const manager = managerPath === undefined ? {} : (await this.#client.read(managerPath, 'Manager', readManager)).value;
    const probe: BmcProbe = { driver: 'redfish', redfish: true, bootModes: bootModesFrom(sys.boot) };
    const manufacturer = sys.manufacturer ?? manager.manufacturer;
    const product = manager.model ?? sys.model;
    if (manufacturer !== undefined) probe.manufacturer = manufacturer;
    if (product !== undefined) probe.product = product;
    if (manager.firmware !== undefined) probe.firmware = manager.firmware;
    if (sys.boot.targets !== undefined) probe.bootDevices = sys.boot.targets;
    if (learned.resetTypes !== undefined) probe.resetTypes = learned.resetTypes;
    return probe;
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  /**
   * Reads the power state; when it already is `already`, reports no change; otherwise runs the
   * reset plan for `op` — or 'on' when the machine is off (cycle/reset of an off machine is a
   * power-on: the outcome, a fresh boot, is the same).
   */
  async #ensure(already: PowerState | undefined, op: ResetOp, after: PowerState): Promise<PowerResult> {
    const learned = await this.#learn();
    const now = this.#power(await this.#system());
    if (now === already) return { changed: false, power: now };
    await this.#runPlan(now === 'off' ? 'on' : op, learned);
    return { changed: true, power: after };
  }

  async #runPlan(op: ResetOp, learned: Learned): Promise<void> {
    const plan = resetPlan(op, learned.resetTypes);
    if (plan === undefined) {
      const offered = learned.resetTypes?.join(', ') ?? 'none listed';
      throw new BmcError('IB_ERR_BMC_UNSUPPORTED', this.endpoint, `${learned.path}: no reset type for ${op} (ResetType@Redfish.AllowableValues: ${offered})`, {
        details: { op, resetTypes: learned.resetTypes },
      });
    }
    for (const [i, type] of plan.entries()) {
      if (i > 0) await this.#waitOff(learned.path, plan[i - 1]!);
      await this.#client.post(learned.resetTarget, { ResetType: type });
    }
  }

  /** Between ForceOff and On: a BMC that starts On while still powering off would do nothing. */
  async #waitOff(path: string, sent: string): Promise<void> {
    const deadline = this.#clock.now() + this.#offWaitMs;
    for (;;) {
      const sys = await this.#system();
      if (sys.powerState === 'Off') return;
      if (this.#clock.now() >= deadline) {
        throw new BmcError('IB_ERR_BMC_FAILED', this.endpoint, `${path}: accepted ${sent} but still reports PowerState ${sys.powerState} after ${this.#offWaitMs} ms`);
      }
      await this.#clock.sleep(this.#pollMs);
    }
  }

  async #learn(): Promise<Learned> {
    if (this.#learned !== undefined) return this.#learned;
    const root = await this.#client.root();
    const { value: members } = await this.#client.read(root.systems, 'ComputerSystemCollection', readCollection);
    const path = members[0];
    if (path === undefined) throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, `${root.systems}: the Systems collection is empty`);
    const { value: sys } = await this.#client.read(path, 'ComputerSystem', readSystem);
    let resetTypes = sys.resetTypes;
    if (resetTypes === undefined && sys.resetActionInfo !== undefined) {
      resetTypes = (await this.#client.read(sys.resetActionInfo, 'ActionInfo', (o) => readActionInfoAllowable(o, 'ResetType'))).value;
    }
    this.#learned = { path, resetTarget: sys.resetTarget, resetTypes };
    return this.#learned;
  }

  async #system(): Promise<SystemResource> {
    const { path } = await this.#learn();
    return (await this.#client.read(path, 'ComputerSystem', readSystem)).value;
  }

  #power(sys: SystemResource): PowerState {
    const p = powerFromRedfish(sys.powerState);
    if (p === undefined) throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, `${sys.path}: PowerState ${JSON.stringify(sys.powerState)} is not one of the schema's`);
    return p;
  }
}

export function createRedfishDriver(target: BmcTarget, opts: RedfishDriverOptions = {}): RedfishDriver {
  return new RedfishDriver(target, opts);
}
