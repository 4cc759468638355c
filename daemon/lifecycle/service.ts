// The lifecycle in the daemon: the reconciler with the real side effects (BMCs through the BMC
// service, the boot plane's records, the production network), and the operator actions, each
// followed by a nudge so the loop acts at once.
import type { Logger } from 'pino';
import type { BmcService } from '../bmc/service.ts';
import type { Config } from '../config/schema.ts';
import { IronbayError, type ErrorCode } from '../errors.ts';
import type { Store } from '../store/db.ts';
import type { MachineRecord } from '../store/machines.ts';
import { LifecycleActions, type ActionResult } from './actions.ts';
import type { LifecycleTiming } from './handlers.ts';
import type { Power } from './ports.ts';
import { sshBanner } from './reach.ts';
import { runbookPostInstall } from './post-install.ts';
import type { RunbookService } from '../ssh/service.ts';
import { ACTOR, Reconciler } from './reconciler.ts';
import { storeSignals } from './signals.ts';

/** Power through the BMC service, so lifecycle actions are paced, capped and recorded like an operator's. */
export function bmcPower(bmc: BmcService): Power {
  const one = async (m: MachineRecord, action: 'cycle' | 'off', options: { pxe?: boolean; disk?: boolean }): Promise<void> => {
    const [r] = await bmc.power([m.name], action, ACTOR, options);
    if (!r?.ok) throw new IronbayError((r?.code ?? 'IB_ERR_INTERNAL') as ErrorCode, r?.error ?? `${m.name}: no result`);
  };
  return {
    pxeCycle: (m) => one(m, 'cycle', { pxe: true }),
    diskCycle: (m) => one(m, 'cycle', { disk: true }),
    off: (m) => one(m, 'off', {}),
  };
}

export function timingOf(c: Config['lifecycle']): LifecycleTiming {
  return {
    dhcpTimeoutMs: c.dhcpTimeoutS * 1000,
    pxeTimeoutMs: c.pxeTimeoutS * 1000,
    installTimeoutMs: c.installTimeoutS * 1000,
    productionTimeoutMs: c.productionTimeoutS * 1000,
    attempts: c.attempts,
    pollMs: c.pollMs,
    bmcBackoffMs: Math.max(c.pollMs, 15_000),
    readyCheckMs: 60_000,
  };
}

export class LifecycleService {
  readonly reconciler: Reconciler;
  private readonly actions: LifecycleActions;

  constructor(o: { store: Store; config: Readonly<Config>; log: Logger; bmc: BmcService; power?: Power; runbooks?: RunbookService }) {
    const c = o.config.lifecycle;
    this.actions = new LifecycleActions(o.store);
    this.reconciler = new Reconciler({
      store: o.store,
      log: o.log,
      power: o.power ?? bmcPower(o.bmc),
      signals: storeSignals(o.store),
      reach: sshBanner(c.productionPort, 3000),
      postInstall: runbookPostInstall(o.store, o.runbooks, c.postInstallRunbook),
      timing: timingOf(c),
      maxPowerCycling: c.maxPowerCycling,
      maxInstalling: c.maxInstalling,
    });
  }

  start(): void {
    this.reconciler.start();
  }

  stop(): Promise<void> {
    return this.reconciler.stop();
  }

  private then(r: ActionResult[]): ActionResult[] {
    this.reconciler.nudge();
    return r;
  }

  provision(names: string[], actor: string): ActionResult[] {
    return this.then(this.actions.provision(names, actor));
  }

  deprovision(names: string[], actor: string): ActionResult[] {
    return this.then(this.actions.deprovision(names, actor));
  }

  maintenance(names: string[], on: boolean, actor: string, reason?: string): ActionResult[] {
    return this.then(this.actions.maintenance(names, on, actor, reason));
  }

  retry(names: string[], actor: string): ActionResult[] {
    return this.then(this.actions.retry(names, actor));
  }
}
