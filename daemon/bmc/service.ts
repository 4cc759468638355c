// BMC operations on inventory machines for the daemon: many machines per call, a cap on
// operations in flight, power-ons paced, one result per machine, and an event for every action
// (who, what, result). Passwords are read when needed and go nowhere but to the driver.
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Bmc } from '../../inventory/schema.ts';
import type { Config } from '../config/schema.ts';
import { isIronbayError } from '../errors.ts';
import { Limiter } from '../lib/limiter.ts';
import type { Store } from '../store/db.ts';
import { getMachine, setObserved, type MachineRecord } from '../store/machines.ts';
import { powerAction, type BmcProbe, type BootOptions, type BootSetting, type PowerAction, type PowerDriver, type PowerState, type SettableBootDevice } from './driver.ts';
import { createPowerDriver, IpmiClient, targetOf } from './index.ts';
import { Pacer } from './pacer.ts';
import { hasRedfish } from './redfish-presence.ts';
import type { Metrics } from '../metrics.ts';

export { POWER_ACTIONS, type PowerAction } from './driver.ts';

const WRITE_MS = 20;
/** Actions that start a machine: paced by bmc.powerOnRate. */
const STARTS: ReadonlySet<PowerAction> = new Set(['on', 'cycle', 'reset']);

export interface MachineResult {
  machine: string;
  ok: boolean;
  /** Whether the BMC was changed (false: it already was so). */
  changed?: boolean;
  power?: PowerState;
  faults?: string[];
  boot?: BootSetting;
  probe?: BmcProbe;
  code?: string;
  error?: string;
  durationMs: number;
}

export interface BmcServiceOptions {
  store: Store;
  config: Readonly<Config>;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  metrics?: Metrics;
}

export class BmcService {
  readonly ipmi: IpmiClient;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly env: NodeJS.ProcessEnv;
  private readonly inventoryDir: string;
  private readonly limiter: Limiter;
  private readonly pacer: Pacer;
  private readonly redfishTimeoutMs: number;
  private readonly retries: number;
  private readonly drivers = new Map<string, { fingerprint: string; driver: PowerDriver }>();
  private readonly metrics: Metrics | undefined;
  private writes: (() => void)[] = [];
  private writeTimer: NodeJS.Timeout | undefined;
  /** Settles when the queued writes are committed: a result is answered after its event is stored. */
  private written: Promise<void> | undefined;
  private resolveWritten: (() => void) | undefined;

  constructor(o: BmcServiceOptions) {
    this.store = o.store;
    this.log = o.log;
    this.env = o.env ?? process.env;
    this.inventoryDir = dirname(o.config.inventory);
    const c = o.config.bmc;
    this.ipmi = new IpmiClient({ timeoutMs: c.timeoutMs, retries: c.retries, maxConcurrent: c.concurrency });
    this.limiter = new Limiter(c.concurrency);
    this.pacer = new Pacer(c.powerOnRate);
    this.redfishTimeoutMs = c.timeoutMs * 10;
    this.retries = c.retries;
    this.metrics = o.metrics;
    o.metrics?.registerBmc(() => ({ ipmiSessionsOpen: this.ipmi.openSessions, ipmiSessionsOpened: this.ipmi.sessionsOpened, ipmiDropped: Object.fromEntries(this.ipmi.drops) }));
  }

  /**
   * With `pxe`, a start (on, cycle, reset) first sets a one-time PXE boot, verified, as before
   * every provisioning power-on (MAAS does the same): the next boot, and only it, is from the
   * network, so a machine that reboots later by itself comes up from its disk. With `disk`, a
   * start first makes the disk the boot device for good (the handoff after an install).
   */
  power(names: string[], action: PowerAction, actor: string, options: { pxe?: boolean; disk?: boolean; efi?: boolean } = {}): Promise<MachineResult[]> {
    const device = STARTS.has(action) ? (options.pxe ? 'pxe' : options.disk ? 'disk' : undefined) : undefined;
    const efi = options.efi ?? false;
    return this.each(
      names,
      actor,
      `power.${action}`,
      async (d) => {
        const boot = device ? await d.setBootDevice(device, { persistent: device === 'disk', efi }) : undefined;
        if (STARTS.has(action)) await this.pacer.wait();
        return { ...(boot && { boot }), ...(await powerAction(d, action)) };
      },
      device ? { bootDevice: device, ...(options.efi !== undefined && { efi }) } : {},
    );
  }

  bootDevice(names: string[], device: SettableBootDevice, options: BootOptions, actor: string): Promise<MachineResult[]> {
    return this.each(names, actor, 'bootdev.set', async (d) => ({ boot: await d.setBootDevice(device, options) }), { device, ...options });
  }

  async probe(name: string, actor: string): Promise<MachineResult> {
    const [r] = await this.each([name], actor, 'bmc.probe', async (d, _name, m) => {
      let probe = await d.probe();
      // "Redfish or not" for an IPMI BMC: many speak both, and Redfish is the better path.
      if (d.driver === 'ipmi') probe = { ...probe, redfish: await hasRedfish(m.spec.bmc!.address) };
      setObserved(this.store, m.id, 'bmc', { ...probe, probedAt: this.store.timestamp() });
      return { probe };
    });
    return r!;
  }

  /** Runs op for each machine within the caps; results in the order asked. */
  private each(
    names: string[],
    actor: string,
    kind: string,
    op: (d: PowerDriver, name: string, m: MachineRecord) => Promise<Omit<MachineResult, 'machine' | 'ok' | 'durationMs'>>,
    request: Record<string, unknown> = {},
  ): Promise<MachineResult[]> {
    return Promise.all(
      names.map((name) =>
        this.limiter.run(async () => {
          const t0 = performance.now();
          const m = getMachine(this.store, name);
          let result: MachineResult;
          try {
            if (!m || m.retiredAt) throw Object.assign(new Error(`no machine named "${name}"`), { code: 'IB_ERR_NOT_FOUND' });
            const bmc = m.spec.bmc;
            if (!bmc) throw Object.assign(new Error(`machine ${name} has no bmc in the inventory`), { code: 'IB_ERR_BAD_REQUEST' });
            result = { machine: name, ok: true, ...(await op(this.driverFor(name, bmc), name, m)), durationMs: 0 };
          } catch (e) {
            const code = isIronbayError(e) ? e.code : ((e as { code?: string }).code ?? 'IB_ERR_INTERNAL');
            result = { machine: name, ok: false, code, error: (e as Error).message, durationMs: 0 };
          }
          result.durationMs = Math.round(performance.now() - t0);
          if (m) {
            const { machine: _m, durationMs, ...outcome } = result;
            const power = result.ok ? result.power : undefined;
            await this.write(() => {
              if (kind !== 'power.status') this.store.appendEvent({ actor, kind, machineId: m.id, details: { ...request, ...outcome, durationMs } });
              // What the BMC last said about the power, for the fleet page and `machines show`.
              if (power) setObserved(this.store, m.id, 'power', { state: power, at: this.store.timestamp() });
            });
          }
          this.metrics?.bmcOperations.inc({ driver: m?.spec.bmc?.driver ?? 'none', kind, result: result.ok ? 'ok' : (result.code ?? 'error') });
          if (!result.ok) this.log.warn({ machine: name, kind, code: result.code, err: result.error }, 'BMC operation failed');
          return result;
        }),
      ),
    );
  }

  /**
   * Events and observed power are written together every WRITE_MS (one commit, one fsync)
   * rather than one commit per machine: `power on --all` on a large fleet stays cheap.
   */
  private write(w: () => void): Promise<void> {
    this.writes.push(w);
    this.writeTimer ??= setTimeout(() => this.flushWrites(), WRITE_MS);
    this.written ??= new Promise<void>((resolve) => (this.resolveWritten = resolve));
    return this.written;
  }

  private flushWrites(): void {
    this.writeTimer = undefined;
    const ws = this.writes;
    const resolve = this.resolveWritten;
    this.writes = [];
    this.written = this.resolveWritten = undefined;
    try {
      if (ws.length) {
        this.store.tx(() => {
          for (const w of ws) w();
        });
      }
    } catch (err) {
      this.log.error({ err, writes: ws.length }, 'recording BMC results failed');
    } finally {
      resolve?.();
    }
  }

  /**
   * Drivers are kept per machine so a Redfish session (and its TLS connection) is reused like
   * an IPMI one; an inventory edit of the bmc entry or of the password replaces the driver.
   */
  private driverFor(name: string, bmc: Bmc): PowerDriver {
    const target = targetOf(bmc, this.inventoryDir, this.env);
    const t = bmc.driver === 'redfish' ? { ...target, timeoutMs: this.redfishTimeoutMs, retries: this.retries } : target;
    const fingerprint = JSON.stringify(t);
    const kept = this.drivers.get(name);
    if (kept?.fingerprint === fingerprint) return kept.driver;
    if (kept) void kept.driver.close().catch(() => undefined);
    const driver = createPowerDriver(t, { ipmi: this.ipmi });
    this.drivers.set(name, { fingerprint, driver });
    return driver;
  }

  async close(): Promise<void> {
    clearTimeout(this.writeTimer);
    this.flushWrites();
    const drivers = [...this.drivers.values()];
    this.drivers.clear();
    await Promise.all(drivers.map(({ driver }) => driver.close().catch(() => undefined)));
    await this.ipmi.close();
  }
}
