// One handler per state (STYLE.md §7): given the machine, its lifecycle row and the time, it
// does the state's side effect if one is due (an idempotent BMC "ensure") and says what comes
// next — stay and look again later, or move — without writing anything itself.
import { isIronbayError } from '../errors.ts';
import type { MachineState } from '../store/machines.ts';
import type { BootSignals, Power, PostInstall, Reach } from './ports.ts';
import type { Outcome, Work } from './rows.ts';

export interface LifecycleTiming {
  /** power-cycling: the BMC cycled the machine; DHCP must follow within this. */
  dhcpTimeoutMs: number;
  /** pxe-booting: DHCP seen; the installer must be running within this. */
  pxeTimeoutMs: number;
  /** installing: the installer runs; its "installed" report must come within this. */
  installTimeoutMs: number;
  /** rebooting: cycled into the installed OS; it must answer on its production address within this. */
  productionTimeoutMs: number;
  /** Power cycles tried per wait before the machine is failed. */
  attempts: number;
  /** How often a waiting machine is looked at again. */
  pollMs: number;
  /** After a BMC error, before the next try. */
  bmcBackoffMs: number;
  /** How often a ready machine is checked for a boot loop. */
  readyCheckMs: number;
}

export interface HandlerDeps {
  power: Power;
  signals: BootSignals;
  reach: Reach;
  /** Between answering on SSH and ready; absent, a machine that answers is ready. */
  postInstall?: PostInstall | undefined;
  timing: LifecycleTiming;
  /** The install method of a machine's profile: a live machine network-boots every time. */
  installMethod(profile: string | null): 'image' | 'live' | undefined;
}

const isLive = (w: Work, d: HandlerDeps): boolean => d.installMethod(w.m.profile) === 'live';

type Handler = (w: Work, now: number, d: HandlerDeps) => Promise<Outcome>;

const stay = (w: Work, nextAt: number | null, patch: Outcome['patch'] = {}, note?: Outcome['note']): Outcome => ({ from: w.m.state, patch: { ...patch, nextAt }, ...(note && { note }) });
const move = (w: Work, to: MachineState, reason: string, patch: Outcome['patch'], nextAt: number | null, details?: Record<string, unknown>): Outcome => ({
  from: w.m.state,
  to,
  reason,
  patch: { ...patch, nextAt },
  ...(details && { details }),
});
const secs = (ms: number): string => `${Math.round(ms / 1000)} s`;
const errText = (e: unknown): string => (isIronbayError(e) ? `${e.message} [${e.code}]` : e instanceof Error ? e.message : String(e));

/**
 * A wait ran out: cycle again if tries are left (back to power-cycling, which redoes the PXE
 * cycle), else fail with the reason. `why` says what did not happen.
 */
function timedOut(w: Work, now: number, d: HandlerDeps, why: string): Outcome {
  const attempts = w.lc.attempts + 1;
  if (attempts >= d.timing.attempts) return move(w, 'failed', `${why}; gave up after ${attempts} power cycles`, { attempts, actedAt: null, deadline: null }, null);
  return move(w, 'power-cycling', `${why}; power cycle ${attempts + 1} of ${d.timing.attempts}`, { attempts, actedAt: null, deadline: null }, now);
}

/** A BMC call failed: try again after a pause, or fail when the tries are used up. */
function bmcFailed(w: Work, now: number, d: HandlerDeps, what: string, e: unknown): Outcome {
  const attempts = w.lc.attempts + 1;
  const reason = `${what}: ${errText(e)}`;
  // A boot device that does not stick will not stick next time either: fail at once.
  if (isIronbayError(e) && e.code === 'IB_ERR_BMC_BOOTDEV_NOT_APPLIED') return move(w, 'failed', reason, { attempts, actedAt: null, deadline: null }, null);
  if (attempts >= d.timing.attempts) return move(w, 'failed', `${reason}; gave up after ${attempts} tries`, { attempts, actedAt: null, deadline: null }, null);
  return stay(w, now + d.timing.bmcBackoffMs, { attempts }, { kind: 'machine.retry', details: { state: w.m.state, attempt: attempts, reason } });
}

const HANDLERS: Partial<Record<MachineState, Handler>> = {
  // Admission (reconciler.ts) only hands over machines it admitted.
  registered: async (w, now) =>
    w.lc.goal === 'provision' ? move(w, 'power-cycling', 'provision', { attempts: 0, actedAt: null, deadline: null }, now) : stay(w, null),

  'power-cycling': async (w, now, d) => {
    if (w.lc.actedAt === null) {
      try {
        await d.power.pxeCycle(w.m);
      } catch (e) {
        return bmcFailed(w, now, d, 'one-time PXE boot and power cycle', e);
      }
      return stay(w, now + d.timing.pollMs, { actedAt: now, deadline: now + d.timing.dhcpTimeoutMs });
    }
    const seen = d.signals.since(w.m.id, w.lc.actedAt);
    if (seen.failed !== undefined) return move(w, 'failed', `installer reported failure: ${seen.failed}`, { actedAt: null, deadline: null }, null);
    if (seen.installed) return move(w, 'installed', 'installer reported installed', { attempts: 0, actedAt: null, deadline: null }, now);
    if (seen.installer) return move(w, 'installing', 'installer running', { deadline: now + d.timing.installTimeoutMs }, now + d.timing.pollMs);
    if (seen.dhcp || seen.pxe) return move(w, 'pxe-booting', 'DHCP seen', { deadline: now + d.timing.pxeTimeoutMs }, now + d.timing.pollMs);
    if (now >= (w.lc.deadline ?? 0)) return timedOut(w, now, d, `no DHCP from ${w.m.spec.macs.join(', ')} within ${secs(d.timing.dhcpTimeoutMs)} of the power cycle`);
    return stay(w, now + d.timing.pollMs);
  },

  'pxe-booting': async (w, now, d) => {
    const seen = d.signals.since(w.m.id, w.lc.actedAt ?? 0);
    if (seen.failed !== undefined) return move(w, 'failed', `installer reported failure: ${seen.failed}`, { actedAt: null, deadline: null }, null);
    if (seen.installed) return move(w, 'installed', 'installer reported installed', { attempts: 0, actedAt: null, deadline: null }, now);
    if (seen.installer) return move(w, 'installing', 'installer running', { deadline: now + d.timing.installTimeoutMs }, now + d.timing.pollMs);
    if (now >= (w.lc.deadline ?? 0)) return timedOut(w, now, d, `DHCP seen but no installer within ${secs(d.timing.pxeTimeoutMs)}`);
    return stay(w, now + d.timing.pollMs);
  },

  installing: async (w, now, d) => {
    const seen = d.signals.since(w.m.id, w.lc.actedAt ?? 0);
    if (seen.failed !== undefined) return move(w, 'failed', `installer reported failure: ${seen.failed}`, { actedAt: null, deadline: null }, null);
    if (seen.installed) return move(w, 'installed', 'installer reported installed', { attempts: 0, actedAt: null, deadline: null }, now);
    if (now >= (w.lc.deadline ?? 0)) return timedOut(w, now, d, `no "installed" report within ${secs(d.timing.installTimeoutMs)}`);
    return stay(w, now + d.timing.pollMs);
  },

  installed: async (w, now, d) => {
    // A live system runs from the network every boot: it is already what production runs,
    // and its boot device stays the network. Nothing to hand over; wait for it to answer.
    if (isLive(w, d)) return move(w, 'rebooting', 'live system: no disk handoff', { attempts: 0, actedAt: now, deadline: now + d.timing.productionTimeoutMs }, now);
    try {
      await d.power.diskCycle(w.m);
    } catch (e) {
      return bmcFailed(w, now, d, 'boot device disk and power cycle', e);
    }
    return move(w, 'rebooting', 'booting the installed system from disk', { attempts: 0, actedAt: now, deadline: now + d.timing.productionTimeoutMs }, now + d.timing.pollMs);
  },

  rebooting: async (w, now, d) => {
    const acted = w.lc.actedAt ?? now;
    // Firmware fetching a boot file after the handoff: the disk did not boot (boot loop).
    // Quarantined, never re-installed: the boot plane answers it "local disk" meanwhile.
    if (!isLive(w, d) && d.signals.since(w.m.id, acted).pxe) return move(w, 'failed', 'boot loop: it network-booted again after the install instead of booting its disk', { actedAt: null, deadline: null }, null);
    const r = await d.reach.reachable(w.m);
    if (r.ok) {
      const p = d.postInstall ? await d.postInstall.step(w.m, acted) : { state: 'done' as const, detail: '' };
      if (p.state === 'running') return stay(w, now + d.timing.pollMs);
      if (p.state === 'failed') return move(w, 'failed', p.detail, { actedAt: null, deadline: null }, null);
      return move(w, 'ready', `reachable: ${r.detail}${p.detail ? `; ${p.detail}` : ''}`, { goal: null, attempts: 0, actedAt: null, deadline: null }, now + d.timing.readyCheckMs);
    }
    if (now < (w.lc.deadline ?? 0)) return stay(w, now + d.timing.pollMs);
    const attempts = w.lc.attempts + 1;
    if (attempts >= d.timing.attempts) {
      return move(w, 'failed', `not reachable on the production network after ${attempts} power cycles from disk (${r.detail})`, { attempts, actedAt: null, deadline: null }, null);
    }
    try {
      await (isLive(w, d) ? d.power.pxeCycle(w.m) : d.power.diskCycle(w.m));
    } catch (e) {
      return bmcFailed(w, now, d, 'power cycle to recover an unreachable machine', e);
    }
    return stay(w, now + d.timing.pollMs, { attempts, actedAt: now, deadline: now + d.timing.productionTimeoutMs }, {
      kind: 'machine.retry',
      details: { state: 'rebooting', attempt: attempts, reason: `not reachable within ${secs(d.timing.productionTimeoutMs)} (${r.detail}); power cycled through the BMC` },
    });
  },

  ready: async (w, now, d) => {
    if (w.lc.goal === 'deprovision') return move(w, 'wiping', 'deprovision', { actedAt: null, deadline: null }, now);
    const since = Date.parse(w.m.stateSince);
    if (!isLive(w, d) && d.signals.since(w.m.id, since).pxe) return move(w, 'failed', 'boot loop: a ready machine network-booted again', { actedAt: null }, null);
    return stay(w, now + d.timing.readyCheckMs);
  },

  wiping: async (w, now, d) => {
    try {
      await d.power.off(w.m);
    } catch (e) {
      return bmcFailed(w, now, d, 'power off', e);
    }
    // No wipe image yet: the disk keeps its contents; the next provision overwrites it.
    return move(w, 'registered', 'deprovisioned: powered off (disk not wiped: no wipe image)', { goal: null, attempts: 0, actedAt: null, deadline: null, queuedAt: null }, null);
  },
};

export function handlerFor(state: MachineState): Handler | undefined {
  return HANDLERS[state];
}
