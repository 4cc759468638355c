// The lifecycle table (migration 4) beside machines.state, and the one place a reconciler
// outcome is written: the machine's new state, its lifecycle row and the event, together.
import type { Statement } from 'better-sqlite3';
import type { Store } from '../store/db.ts';
import { fromRow, MACHINE_COLUMNS, type MachineRecord, type MachineRow, type MachineState } from '../store/machines.ts';

export interface LcRow {
  machineId: number;
  goal: 'provision' | 'deprovision' | null;
  attempts: number;
  actedAt: number | null;
  deadline: number | null;
  nextAt: number | null;
  queuedAt: number | null;
  heldState: MachineState | null;
}

export type LcPatch = Partial<Omit<LcRow, 'machineId'>>;

export interface Work {
  m: MachineRecord;
  lc: LcRow;
}

/** What a handler decided, to be written. */
export interface Outcome {
  /** The state the handler saw: the write is skipped if the machine has moved since (an operator acted). */
  from: MachineState;
  to?: MachineState;
  reason?: string;
  patch: LcPatch;
  /** An event besides the state change (a retry, a BMC error that will be tried again). */
  note?: { kind: string; details: Record<string, unknown> };
  details?: Record<string, unknown>;
}

const COLS = 'l.machine_id, l.goal, l.attempts, l.acted_at, l.deadline, l.next_at, l.queued_at, l.held_state';
const MCOLS = MACHINE_COLUMNS.split(', ').map((c) => `m.${c}`).join(', ');

/** A lifecycle row joined with its machine's row. */
interface JoinedRow extends MachineRow {
  machine_id: number;
  goal: LcRow['goal'];
  attempts: number;
  acted_at: number | null;
  deadline: number | null;
  next_at: number | null;
  queued_at: number | null;
  held_state: MachineState | null;
}

function toWork(r: JoinedRow): Work {
  return {
    m: fromRow(r),
    lc: { machineId: r.machine_id, goal: r.goal, attempts: r.attempts, actedAt: r.acted_at, deadline: r.deadline, nextAt: r.next_at, queuedAt: r.queued_at, heldState: r.held_state },
  };
}

export class LifecycleRows {
  private readonly store: Store;
  private readonly q: {
    due: Statement;
    admit: Statement;
    one: Statement;
    counts: Statement;
    ensure: Statement;
    setState: Statement;
    patch: Statement;
    stateOf: Statement;
  };

  constructor(store: Store) {
    this.store = store;
    const db = store.db;
    this.q = {
      due: db.prepare(`SELECT ${COLS}, ${MCOLS} FROM lifecycle l JOIN machines m ON m.id = l.machine_id WHERE l.next_at IS NOT NULL AND l.next_at <= ? ORDER BY l.next_at LIMIT ?`),
      admit: db.prepare(
        `SELECT ${COLS}, ${MCOLS} FROM lifecycle l JOIN machines m ON m.id = l.machine_id WHERE m.state = 'registered' AND l.goal = 'provision' ORDER BY l.queued_at, m.id LIMIT ?`,
      ),
      one: db.prepare(`SELECT ${COLS}, ${MCOLS} FROM lifecycle l JOIN machines m ON m.id = l.machine_id WHERE m.id = ?`),
      counts: db.prepare("SELECT state, count(*) AS n FROM machines WHERE state IN ('power-cycling', 'pxe-booting', 'installing') GROUP BY state"),
      ensure: db.prepare('INSERT INTO lifecycle (machine_id) VALUES (?) ON CONFLICT (machine_id) DO NOTHING'),
      setState: db.prepare('UPDATE machines SET state = ?, state_reason = ?, state_since = ?, updated_at = ? WHERE id = ? AND state = ?'),
      stateOf: db.prepare('SELECT state FROM machines WHERE id = ?').pluck(),
      patch: db.prepare(
        'UPDATE lifecycle SET goal = ?, attempts = ?, acted_at = ?, deadline = ?, next_at = ?, queued_at = ?, held_state = ? WHERE machine_id = ?',
      ),
    };
  }

  due(now: number, limit: number): Work[] {
    return (this.q.due.all(now, limit) as JoinedRow[]).map(toWork);
  }

  /** Machines waiting for admission, in the order they were asked for. */
  waiting(limit: number): Work[] {
    return (this.q.admit.all(limit) as JoinedRow[]).map(toWork);
  }

  get(machineId: number): Work | undefined {
    this.q.ensure.run(machineId);
    const r = this.q.one.get(machineId) as JoinedRow | undefined;
    return r && toWork(r);
  }

  /** Machines in the states admission control counts. */
  inFlight(): { powerCycling: number; booting: number } {
    const c: Record<string, number> = {};
    for (const r of this.q.counts.all() as { state: string; n: number }[]) c[r.state] = r.n;
    const pc = c['power-cycling'] ?? 0;
    return { powerCycling: pc, booting: pc + (c['pxe-booting'] ?? 0) + (c.installing ?? 0) };
  }

  /**
   * Writes outcomes in one transaction, each whole or not at all: a machine that moved since
   * its handler read it (an operator acted meanwhile) keeps the operator's state. Returns the
   * outcomes written.
   */
  apply(items: { w: Work; o: Outcome }[], actor: string): { w: Work; o: Outcome }[] {
    const now = this.store.now();
    const iso = now.toISOString();
    return this.store.tx(() => {
      const written: { w: Work; o: Outcome }[] = [];
      for (const item of items) {
        const { w, o } = item;
        if (o.to !== undefined) {
          const changed = this.q.setState.run(o.to, o.reason ?? null, o.to === o.from ? w.m.stateSince : iso, iso, w.m.id, o.from).changes;
          if (!changed) continue;
          if (o.to !== o.from) this.store.appendEvent({ actor, kind: 'machine.state', machineId: w.m.id, details: { from: o.from, to: o.to, ...(o.reason && { reason: o.reason }), ...o.details } });
          // Staying put with a new reason is a retry (another power cycle): an event too.
          else this.store.appendEvent({ actor, kind: 'machine.retry', machineId: w.m.id, details: { state: o.to, ...(o.reason && { reason: o.reason }), attempt: o.patch.attempts } });
        } else {
          if (this.q.stateOf.get(w.m.id) !== o.from) continue;
        }
        const next = { ...w.lc, ...o.patch };
        this.q.patch.run(next.goal, next.attempts, next.actedAt, next.deadline, next.nextAt, next.queuedAt, next.heldState, w.m.id);
        if (o.note) this.store.appendEvent({ actor, kind: o.note.kind, machineId: w.m.id, details: o.note.details });
        written.push(item);
      }
      return written;
    });
  }
}
