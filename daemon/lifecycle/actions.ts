// Operator actions on the lifecycle: provision, deprovision, maintenance on/off, retry. Each
// is one transaction per machine — its new state or goal and the event — and answers per
// machine, so one machine in the wrong state never fails the others.
import type { Store } from '../store/db.ts';
import type { MachineState } from '../store/machines.ts';
import { NO_MAINTENANCE } from './states.ts';

export interface ActionResult {
  machine: string;
  ok: boolean;
  state?: MachineState;
  /** What happened: queued, already-provisioning, held, released … */
  result?: string;
  code?: string;
  error?: string;
}

interface Row {
  id: number;
  name: string;
  state: MachineState;
  held_state: MachineState | null;
}

const IN_PROGRESS: ReadonlySet<MachineState> = new Set(['power-cycling', 'pxe-booting', 'installing', 'installed', 'rebooting']);

export class LifecycleActions {
  private readonly store: Store;

  private readonly lastPosition;

  constructor(store: Store) {
    this.store = store;
    this.lastPosition = store.db.prepare('SELECT max(queued_at) FROM lifecycle').pluck();
  }

  private each(names: string[], fn: (r: Row, now: number, iso: string) => Omit<ActionResult, 'machine'>): ActionResult[] {
    const find = this.store.db.prepare(
      'SELECT m.id, m.name, m.state, l.held_state FROM machines m LEFT JOIN lifecycle l ON l.machine_id = m.id WHERE m.name = ?',
    );
    const ensure = this.store.db.prepare('INSERT INTO lifecycle (machine_id) VALUES (?) ON CONFLICT (machine_id) DO NOTHING');
    // One transaction for the whole request: `provision --all` on 10,000 machines is one
    // commit (one fsync), and each machine's change and event are in it together.
    this.position = undefined;
    return this.store.tx(() =>
      names.map((name): ActionResult => {
        const r = find.get(name) as Row | undefined;
        if (!r) return { machine: name, ok: false, code: 'IB_ERR_NOT_FOUND', error: `no machine named "${name}"` };
        ensure.run(r.id);
        const now = this.store.now();
        return { machine: name, ...fn(r, now.getTime(), now.toISOString()) };
      }),
    );
  }

  private setState(r: Row, to: MachineState, reason: string, iso: string, actor: string, details: Record<string, unknown> = {}): void {
    this.store.db.prepare('UPDATE machines SET state = ?, state_reason = ?, state_since = ?, updated_at = ? WHERE id = ?').run(to, reason, iso, iso, r.id);
    this.store.appendEvent({ actor, kind: 'machine.state', machineId: r.id, details: { from: r.state, to, reason, ...details } });
  }

  /**
   * Queue positions: strictly increasing, so machines start in the order they were asked for.
   * The last one is read once per request (it is a scan) and counted on from there.
   */
  private position: number | undefined;
  private nextPosition(now: number): number {
    this.position ??= (this.lastPosition.get() as number | null) ?? 0;
    this.position = Math.max(now, this.position + 1);
    return this.position;
  }

  private lc(id: number, sets: string, ...args: (string | number | null)[]): void {
    this.store.db.prepare(`UPDATE lifecycle SET ${sets} WHERE machine_id = ?`).run(...args, id);
  }

  /** Queue machines for provisioning; admission control starts them in this order. */
  provision(names: string[], actor: string): ActionResult[] {
    return this.each(names, (r, now, iso) => {
      if (IN_PROGRESS.has(r.state)) return { ok: true, state: r.state, result: 'already provisioning' };
      if (r.state === 'failed') {
        this.setState(r, 'registered', 'provision after failure', iso, actor);
      } else if (r.state !== 'registered') {
        const hint = r.state === 'ready' ? '; deprovision it first' : r.state === 'maintenance' ? '; take it out of maintenance first' : '';
        return { ok: false, state: r.state, code: 'IB_ERR_CONFLICT', error: `${r.name} is ${r.state}${hint}` };
      }
      this.lc(r.id, "goal = 'provision', attempts = 0, acted_at = NULL, deadline = NULL, next_at = NULL, queued_at = ?", this.nextPosition(now));
      this.store.appendEvent({ actor, kind: 'machine.provision', machineId: r.id, details: { queued: true } });
      return { ok: true, state: 'registered', result: 'queued' };
    });
  }

  /** Ready machines are powered off and go back to registered; failed ones go back at once. */
  deprovision(names: string[], actor: string): ActionResult[] {
    return this.each(names, (r, now, iso) => {
      if (r.state === 'ready') {
        this.lc(r.id, "goal = 'deprovision', next_at = ?", now);
        this.store.appendEvent({ actor, kind: 'machine.deprovision', machineId: r.id, details: {} });
        return { ok: true, state: r.state, result: 'deprovisioning' };
      }
      if (r.state === 'failed' || (r.state === 'registered')) {
        if (r.state === 'failed') this.setState(r, 'registered', 'deprovisioned after failure', iso, actor);
        this.lc(r.id, 'goal = NULL, attempts = 0, acted_at = NULL, deadline = NULL, next_at = NULL, queued_at = NULL');
        return { ok: true, state: 'registered', result: 'registered' };
      }
      return { ok: false, state: r.state, code: 'IB_ERR_CONFLICT', error: `${r.name} is ${r.state}; only ready, failed or registered machines can be deprovisioned (use maintenance to stop it first)` };
    });
  }

  /** An operator hold: the reconciler leaves the machine alone until released. */
  maintenance(names: string[], on: boolean, actor: string, reason?: string): ActionResult[] {
    return this.each(names, (r, now, iso) => {
      if (on) {
        if (r.state === 'maintenance') return { ok: true, state: r.state, result: 'already in maintenance' };
        if (NO_MAINTENANCE.has(r.state)) return { ok: false, state: r.state, code: 'IB_ERR_CONFLICT', error: `${r.name} is ${r.state}` };
        this.lc(r.id, 'held_state = ?, next_at = NULL', r.state);
        this.setState(r, 'maintenance', reason ?? 'operator hold', iso, actor, { held: r.state });
        return { ok: true, state: 'maintenance', result: 'held' };
      }
      if (r.state !== 'maintenance') return { ok: true, state: r.state, result: 'not in maintenance' };
      // A machine held at rest goes back as it was. One held halfway through provisioning is
      // queued again from the start: whatever its firmware did meanwhile, its waits are stale.
      const held = r.held_state ?? 'registered';
      if (IN_PROGRESS.has(held)) {
        this.setState(r, 'registered', `maintenance off; provisioning restarts (was ${held})`, iso, actor);
        this.lc(r.id, "held_state = NULL, goal = 'provision', attempts = 0, acted_at = NULL, deadline = NULL, next_at = NULL, queued_at = ?", this.nextPosition(now));
        return { ok: true, state: 'registered', result: 'released; provisioning restarts' };
      }
      this.setState(r, held, 'maintenance off', iso, actor);
      this.lc(r.id, 'held_state = NULL, next_at = ?', held === 'ready' ? now : null);
      return { ok: true, state: held, result: 'released' };
    });
  }

  /** A failed machine back to registered and queued for provisioning, its tries reset. */
  retry(names: string[], actor: string): ActionResult[] {
    return this.each(names, (r, now, iso) => {
      if (r.state !== 'failed') return { ok: false, state: r.state, code: 'IB_ERR_CONFLICT', error: `${r.name} is ${r.state}, not failed` };
      this.setState(r, 'registered', 'retry', iso, actor);
      this.lc(r.id, "goal = 'provision', attempts = 0, acted_at = NULL, deadline = NULL, next_at = NULL, queued_at = ?", this.nextPosition(now));
      return { ok: true, state: 'registered', result: 'queued' };
    });
  }
}
