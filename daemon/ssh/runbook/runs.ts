// Runbook runs in the store: the run, a row per machine, a row per step, and an event for each.
// Progress is group-committed (every commit is an fsync; 50 machines finishing steps at once
// would otherwise spend seconds in them); a run's start and end are committed at once, so a
// run the API has answered for is on disk, and a crash loses at most FLUSH_MS of progress —
// and the run is then marked 'interrupted', never left looking alive.
import type { Store } from '../../store/db.ts';
import type { TargetSelector } from './plan.ts';
import type { Runbook } from './schema.ts';

export type RunState = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
export type MachineRunState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'skipped' | 'interrupted';
export type StepState = 'running' | 'succeeded' | 'failed' | 'timeout' | 'skipped' | 'cancelled' | 'interrupted';

export interface RunOptions {
  parallel: number;
  rolling: boolean;
  stopOnFailure: boolean;
  /** The effective selector, as text; and what the operator gave, when anything. */
  target: { selector: string; given?: TargetSelector };
}

export interface RunSummary {
  id: number;
  runbook: string;
  source: string;
  digest: string;
  params: Record<string, string>;
  options: RunOptions;
  actor: string;
  state: RunState;
  error: string | null;
  createdAt: number;
  endedAt: number | null;
  machines: Record<MachineRunState, number>;
}

export interface StepRecord {
  idx: number;
  name: string;
  command: string;
  state: StepState;
  attempts: number;
  exitCode: number | null;
  exitSignal: string | null;
  error: string | null;
  startedAt: number;
  endedAt: number | null;
  durationMs: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: number;
  stderrBytes: number;
  truncated: boolean;
}

export interface MachineRunRecord {
  machine: string;
  position: number;
  address: string | null;
  state: MachineRunState;
  error: string | null;
  startedAt: number | null;
  endedAt: number | null;
  steps: StepRecord[];
}

export interface RunDetail extends RunSummary {
  definition: Runbook;
  machineRuns: MachineRunRecord[];
}

export interface StepEnd {
  state: StepState;
  attempts: number;
  exitCode: number | null;
  exitSignal: string | null;
  error: string | null;
  stdout: string;
  stderr: string;
  stdoutBytes: number;
  stderrBytes: number;
  truncated: boolean;
}

const FLUSH_MS = 20;

interface RunRow {
  id: number;
  runbook: string;
  source: string;
  digest: string;
  definition: string;
  params: string;
  options: string;
  actor: string;
  state: RunState;
  error: string | null;
  created_at: number;
  ended_at: number | null;
}

export class RunStore {
  private readonly store: Store;
  private queue: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly machineIds = new Map<string, number | undefined>();

  constructor(store: Store) {
    this.store = store;
  }

  private machineId(name: string): number | undefined {
    if (!this.machineIds.has(name)) this.machineIds.set(name, (this.store.db.prepare('SELECT id FROM machines WHERE name = ?').get(name) as { id: number } | undefined)?.id);
    return this.machineIds.get(name);
  }

  private later(op: () => void): void {
    this.queue.push(op);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const ops = this.queue;
    this.queue = [];
    if (ops.length) this.store.tx(() => ops.forEach((op) => op()));
  }

  /** Runs left 'running' by a previous process: marked interrupted, with their machines and steps. */
  markInterrupted(reason: string): number[] {
    return this.store.tx(() => {
      const ids = this.store.db.prepare("SELECT id FROM runbook_runs WHERE state = 'running'").pluck().all() as number[];
      const now = this.store.now().getTime();
      for (const id of ids) {
        this.store.db.prepare("UPDATE runbook_steps SET state = 'interrupted', ended_at = ?, error = ? WHERE run_id = ? AND state = 'running'").run(now, reason, id);
        this.store.db.prepare("UPDATE runbook_run_machines SET state = 'interrupted', ended_at = ?, error = ? WHERE run_id = ? AND state IN ('pending', 'running')").run(now, reason, id);
        this.store.db.prepare("UPDATE runbook_runs SET state = 'interrupted', ended_at = ?, error = ? WHERE id = ?").run(now, reason, id);
        this.store.appendEvent({ actor: 'ironbay', kind: 'runbook.run.interrupted', details: { run: id, reason } });
      }
      return ids;
    });
  }

  create(r: { runbook: Runbook; source: string; digest: string; params: Record<string, string>; options: RunOptions; actor: string; machines: { name: string; address: string | null }[] }): number {
    return this.store.tx(() => {
      const now = this.store.now().getTime();
      const id = Number(
        this.store.db
          .prepare("INSERT INTO runbook_runs (runbook, source, digest, definition, params, options, actor, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)")
          .run(r.runbook.name, r.source, r.digest, JSON.stringify(r.runbook), JSON.stringify(r.params), JSON.stringify(r.options), r.actor, now).lastInsertRowid,
      );
      const ins = this.store.db.prepare("INSERT INTO runbook_run_machines (run_id, machine, position, address, state) VALUES (?, ?, ?, ?, 'pending')");
      r.machines.forEach((m, i) => ins.run(id, m.name, i, m.address));
      this.store.appendEvent({
        actor: r.actor,
        kind: 'runbook.run.started',
        details: { run: id, runbook: r.runbook.name, digest: r.digest, params: r.params, machines: r.machines.map((m) => m.name), ...r.options },
      });
      return id;
    });
  }

  machineStarted(run: number, machine: string): void {
    const now = this.store.now().getTime();
    this.later(() => this.store.db.prepare("UPDATE runbook_run_machines SET state = 'running', started_at = ? WHERE run_id = ? AND machine = ?").run(now, run, machine));
  }

  machineEnded(run: number, machine: string, state: MachineRunState, error: string | null, actor: string): void {
    const now = this.store.now().getTime();
    this.later(() => {
      this.store.db.prepare('UPDATE runbook_run_machines SET state = ?, error = ?, ended_at = ? WHERE run_id = ? AND machine = ?').run(state, error, now, run, machine);
      if (state !== 'skipped')
        this.store.appendEvent({ actor, machineId: this.machineId(machine), kind: 'runbook.machine.ended', details: { run, machine, state, ...(error && { error }) } });
    });
  }

  stepStarted(run: number, machine: string, idx: number, name: string, command: string): void {
    const now = this.store.now().getTime();
    this.later(() =>
      this.store.db
        .prepare(
          "INSERT INTO runbook_steps (run_id, machine, idx, name, command, state, started_at) VALUES (?, ?, ?, ?, ?, 'running', ?) ON CONFLICT DO UPDATE SET state = 'running', command = excluded.command",
        )
        .run(run, machine, idx, name, command, now),
    );
  }

  stepEnded(run: number, machine: string, idx: number, name: string, command: string, e: StepEnd, actor: string): void {
    const now = this.store.now().getTime();
    this.later(() => {
      this.store.db
        .prepare(
          `INSERT INTO runbook_steps (run_id, machine, idx, name, command, state, attempts, exit_code, exit_signal, error, started_at, ended_at, stdout, stderr, stdout_bytes, stderr_bytes, truncated)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT DO UPDATE SET state = excluded.state, attempts = excluded.attempts, exit_code = excluded.exit_code, exit_signal = excluded.exit_signal,
             error = excluded.error, ended_at = excluded.ended_at, stdout = excluded.stdout, stderr = excluded.stderr,
             stdout_bytes = excluded.stdout_bytes, stderr_bytes = excluded.stderr_bytes, truncated = excluded.truncated`,
        )
        .run(run, machine, idx, name, command, e.state, e.attempts, e.exitCode, e.exitSignal, e.error, now, now, e.stdout, e.stderr, e.stdoutBytes, e.stderrBytes, e.truncated ? 1 : 0);
      this.store.appendEvent({
        actor,
        machineId: this.machineId(machine),
        kind: 'runbook.step',
        details: { run, machine, step: idx, name, state: e.state, attempts: e.attempts, exitCode: e.exitCode, ...(e.error && { error: e.error }) },
      });
    });
  }

  ended(run: number, state: Exclude<RunState, 'running'>, error: string | null, actor: string): void {
    const now = this.store.now().getTime();
    this.later(() => {
      this.store.db.prepare("UPDATE runbook_run_machines SET state = 'skipped' WHERE run_id = ? AND state = 'pending'").run(run);
      this.store.db.prepare('UPDATE runbook_runs SET state = ?, error = ?, ended_at = ? WHERE id = ?').run(state, error, now, run);
      this.store.appendEvent({ actor, kind: 'runbook.run.ended', details: { run, state, ...(error && { error }) } });
    });
    this.flush();
  }

  list(f: { runbook?: string; state?: string; limit?: number } = {}): RunSummary[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (f.runbook) {
      where.push('runbook = ?');
      args.push(f.runbook);
    }
    if (f.state) {
      where.push('state = ?');
      args.push(f.state);
    }
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 1000);
    const rows = this.store.db.prepare(`SELECT * FROM runbook_runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`).all(...args) as RunRow[];
    // The machines' states of every listed run in one query, not one per run.
    const counts = new Map<number, { state: MachineRunState; n: number }[]>();
    if (rows.length) {
      const all = this.store.db
        .prepare(`SELECT run_id, state, count(*) AS n FROM runbook_run_machines WHERE run_id IN (${rows.map(() => '?').join(',')}) GROUP BY run_id, state`)
        .all(...rows.map((r) => r.id)) as { run_id: number; state: MachineRunState; n: number }[];
      for (const c of all) counts.set(c.run_id, [...(counts.get(c.run_id) ?? []), c]);
    }
    return rows.map((r) => this.summary(r, counts.get(r.id) ?? []));
  }

  /** `byState`: the run's machines counted by state; read here when the caller has not. */
  private summary(r: RunRow, byState?: { state: MachineRunState; n: number }[]): RunSummary {
    const counts = Object.fromEntries(['pending', 'running', 'succeeded', 'failed', 'cancelled', 'skipped', 'interrupted'].map((s) => [s, 0])) as Record<MachineRunState, number>;
    for (const c of byState ?? (this.store.db.prepare('SELECT state, count(*) AS n FROM runbook_run_machines WHERE run_id = ? GROUP BY state').all(r.id) as { state: MachineRunState; n: number }[]))
      counts[c.state] = c.n;
    return {
      id: r.id,
      runbook: r.runbook,
      source: r.source,
      digest: r.digest,
      params: JSON.parse(r.params) as Record<string, string>,
      options: JSON.parse(r.options) as RunOptions,
      actor: r.actor,
      state: r.state,
      error: r.error,
      createdAt: r.created_at,
      endedAt: r.ended_at,
      machines: counts,
    };
  }

  summaryOf(id: number): RunSummary | undefined {
    const r = this.store.db.prepare('SELECT * FROM runbook_runs WHERE id = ?').get(id) as RunRow | undefined;
    return r && this.summary(r);
  }

  get(id: number, machine?: string): RunDetail | undefined {
    const r = this.store.db.prepare('SELECT * FROM runbook_runs WHERE id = ?').get(id) as RunRow | undefined;
    if (!r) return undefined;
    const machines = this.store.db
      .prepare(`SELECT * FROM runbook_run_machines WHERE run_id = ? ${machine ? 'AND machine = ?' : ''} ORDER BY position`)
      .all(...(machine ? [id, machine] : [id])) as { machine: string; position: number; address: string | null; state: MachineRunState; error: string | null; started_at: number | null; ended_at: number | null }[];
    const steps = this.store.db.prepare('SELECT * FROM runbook_steps WHERE run_id = ? AND machine = ? ORDER BY idx');
    return {
      ...this.summary(r),
      definition: JSON.parse(r.definition) as Runbook,
      machineRuns: machines.map((m) => ({
        machine: m.machine,
        position: m.position,
        address: m.address,
        state: m.state,
        error: m.error,
        startedAt: m.started_at,
        endedAt: m.ended_at,
        steps: (steps.all(id, m.machine) as Record<string, unknown>[]).map((s) => ({
          idx: s.idx as number,
          name: s.name as string,
          command: s.command as string,
          state: s.state as StepState,
          attempts: s.attempts as number,
          exitCode: s.exit_code as number | null,
          exitSignal: s.exit_signal as string | null,
          error: s.error as string | null,
          startedAt: s.started_at as number,
          endedAt: s.ended_at as number | null,
          durationMs: s.ended_at === null ? null : (s.ended_at as number) - (s.started_at as number),
          stdout: s.stdout as string,
          stderr: s.stderr as string,
          stdoutBytes: s.stdout_bytes as number,
          stderrBytes: s.stderr_bytes as number,
          truncated: s.truncated === 1,
        })),
      })),
    };
  }
}
