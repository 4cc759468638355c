// Executes one run: machines taken in order by up to `parallel` workers (one, stopping at the
// first failure, when rolling); on each machine one SSH connection for all its steps, steps in
// order with their conditions, deadlines, retries and captures. Everything that happens is
// recorded (runs.ts) and announced to whoever follows the run.
import type { Logger } from 'pino';
import { isIronbayError, type IronbayError } from '../../errors.ts';
import type { Limiter } from '../../lib/limiter.ts';
import type { Store } from '../../store/db.ts';
import { connect, type SshConnection, type SshTarget } from '../connection.ts';
import { evaluate, parseCondition } from './quote.ts';
import { renderStep } from './plan.ts';
import type { MachineRunState, RunStore, StepState } from './runs.ts';
import type { Runbook } from './schema.ts';

/** A machine to run on: where to reach it, and through which jump host. */
export interface RunTarget extends SshTarget {
  jump?: SshTarget | undefined;
}

export type RunEvent =
  | { type: 'output'; machine: string; step: number; stream: 'stdout' | 'stderr'; data: string }
  | { type: 'step-start'; machine: string; step: number; name: string; command: string; attempt: number }
  | { type: 'step-end'; machine: string; step: number; name: string; state: StepState; exitCode: number | null; attempts: number; durationMs: number; error: string | null }
  | { type: 'machine-end'; machine: string; state: MachineRunState; error: string | null }
  | { type: 'run-end'; state: RunEnd; error: string | null; counts: Record<string, number> };

export type RunEnd = 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

export interface RunnerDeps {
  store: Store;
  runs: RunStore;
  log: Logger;
  privateKey: Buffer;
  connectTimeoutMs: number;
  defaultStepTimeoutMs: number;
  outputCap: number;
  /** Connections open at once over every run. */
  connections: Limiter;
}

export interface RunSpec {
  id: number;
  runbook: Runbook;
  values: ReadonlyMap<string, string>;
  targets: RunTarget[];
  parallel: number;
  rolling: boolean;
  stopOnFailure: boolean;
  actor: string;
  runTimeoutMs: number;
  /** Aborted by a cancel, or by the daemon stopping. */
  cancel: AbortSignal;
  /** True when the abort is the daemon stopping: the run ends 'interrupted', not 'cancelled'. */
  interrupted?: () => boolean;
  emit: (e: RunEvent) => void;
}

/** What ssh(1) exits with when the connection fails: a step that expects it survives a reboot. */
export const CONNECTION_LOST_EXIT = 255;

export async function executeRun(d: RunnerDeps, s: RunSpec): Promise<RunEnd> {
  const stop = new AbortController();
  let stopReason: string | null = null;
  const halt = (why: string): void => {
    if (stop.signal.aborted) return;
    stopReason = why;
    stop.abort();
  };
  const onCancel = (): void => halt(cancelWord(s));
  s.cancel.addEventListener('abort', onCancel, { once: true });
  if (s.cancel.aborted) onCancel();
  const deadline = setTimeout(() => halt(`the run took longer than its ${s.runTimeoutMs / 1000} s limit`), s.runTimeoutMs);
  const jumps = new JumpPool((j) => connect(j, { store: d.store, privateKey: d.privateKey, actor: s.actor, connectTimeoutMs: d.connectTimeoutMs }));
  const counts: Record<string, number> = {};
  const stopOnFailure = s.rolling || s.stopOnFailure;
  let failedSeen = false;
  let next = 0;

  const worker = async (): Promise<void> => {
    while (next < s.targets.length && !stop.signal.aborted && !(stopOnFailure && failedSeen)) {
      const t = s.targets[next++]!;
      const state = await d.connections.run(() => runMachine(d, s, t, stop.signal, jumps, () => stopReason ?? 'the run stopped'));
      counts[state] = (counts[state] ?? 0) + 1;
      if (state === 'failed') failedSeen = true;
    }
  };
  try {
    const width = s.rolling ? 1 : Math.max(1, Math.min(s.parallel, s.targets.length));
    await Promise.all(Array.from({ length: width }, worker));
  } finally {
    clearTimeout(deadline);
    s.cancel.removeEventListener('abort', onCancel);
    jumps.closeAll();
  }
  const skipped = s.targets.length - next;
  if (skipped) counts.skipped = skipped;
  const state: RunEnd = s.cancel.aborted ? (s.interrupted?.() ? 'interrupted' : 'cancelled') : failedSeen || stop.signal.aborted ? 'failed' : 'succeeded';
  const error =
    state === 'cancelled' || state === 'interrupted'
      ? cancelWord(s)
      : stopReason ?? (failedSeen ? `${counts.failed ?? 0} of ${s.targets.length} machines failed${skipped ? `; ${skipped} not started (${s.rolling ? 'rolling' : 'stop on failure'})` : ''}` : null);
  d.runs.ended(s.id, state, error, s.actor);
  s.emit({ type: 'run-end', state, error, counts });
  return state;
}

async function runMachine(
  d: RunnerDeps,
  s: RunSpec,
  t: RunTarget,
  stop: AbortSignal,
  jumps: JumpPool,
  stopReason: () => string,
): Promise<MachineRunState> {
  const values = new Map(s.values);
  let conn: SshConnection | undefined;
  const open = async (): Promise<SshConnection> => {
    if (conn && !conn.closed) return conn;
    const via = t.jump && (await jumps.get(t.jump));
    conn = await connect(t, { store: d.store, privateKey: d.privateKey, actor: s.actor, connectTimeoutMs: d.connectTimeoutMs, via });
    return conn;
  };
  d.runs.machineStarted(s.id, t.name);
  let machineState: MachineRunState = 'succeeded';
  let machineError: string | null = null;
  try {
    for (const [idx, step] of s.runbook.steps.entries()) {
      if (stop.aborted) {
        machineState = s.cancel.aborted ? (s.interrupted?.() ? 'interrupted' : 'cancelled') : 'failed';
        machineError ??= `${stopReason()} before this machine finished`;
        break;
      }
      if (step.when && !evaluate(parseCondition(step.when)!, values)) {
        if (step.capture) record(values, step.capture, '', false, null);
        const e = { state: 'skipped' as const, attempts: 0, exitCode: null, exitSignal: null, error: `when ${step.when}: false`, stdout: '', stderr: '', stdoutBytes: 0, stderrBytes: 0, truncated: false };
        d.runs.stepEnded(s.id, t.name, idx, step.name, '', e, s.actor);
        s.emit({ type: 'step-end', machine: t.name, step: idx, name: step.name, state: 'skipped', exitCode: null, attempts: 0, durationMs: 0, error: e.error });
        continue;
      }
      const r = renderStep(step, values, t.user);
      const shown = r.stdin === undefined ? r.command : `${r.command} <<'SCRIPT'\n${r.stdin}${r.stdin.endsWith('\n') ? '' : '\n'}SCRIPT`;
      const expect = step.expect ?? [0];
      const tries = (step.retries ?? 0) + 1;
      const started = performance.now();
      d.runs.stepStarted(s.id, t.name, idx, step.name, shown);
      let state: StepState = 'failed';
      let error: string | null = null;
      let last: Awaited<ReturnType<SshConnection['exec']>> | undefined;
      let attempt = 0;
      while (attempt < tries) {
        attempt++;
        s.emit({ type: 'step-start', machine: t.name, step: idx, name: step.name, command: shown, attempt });
        let c: SshConnection;
        try {
          c = await open();
        } catch (err) {
          error = (err as IronbayError).message;
          last = undefined;
          if (stop.aborted) break;
          // Unreachable while it reboots, say: a try like any other.
          if (attempt < tries && (await pause(step.retryDelay ?? 0, stop))) continue;
          break;
        }
        last = await c.exec({
          command: r.command,
          ...(r.stdin !== undefined && { stdin: r.stdin }),
          timeoutMs: (step.timeout ?? 0) * 1000 || d.defaultStepTimeoutMs,
          signal: stop,
          outputCap: d.outputCap,
          onStdout: (b) => s.emit({ type: 'output', machine: t.name, step: idx, stream: 'stdout', data: b.toString('utf8') }),
          onStderr: (b) => s.emit({ type: 'output', machine: t.name, step: idx, stream: 'stderr', data: b.toString('utf8') }),
          ...(r.sudo && { privileged: (cmd: string) => `sudo -n -- sh -c '${cmd.replace(/'/g, `'\\''`)}'` }),
        });
        const code = last.lost ? CONNECTION_LOST_EXIT : last.exitCode;
        if (last.stopped === 'cancelled') {
          state = s.cancel.aborted ? (s.interrupted?.() ? 'interrupted' : 'cancelled') : 'failed';
          error = `${s.cancel.aborted ? cancelWord(s) : stopReason()}; the remote command was signalled`;
          break;
        }
        if (last.stopped === 'timeout') {
          state = 'timeout';
          error = `no end within ${(step.timeout ?? 0) || d.defaultStepTimeoutMs / 1000} s; the remote command was killed`;
        } else if (code !== null && expect.includes(code)) {
          state = 'succeeded';
          error = null;
          break;
        } else {
          state = 'failed';
          error = last.lost
            ? `${last.lost.message} (counted as exit ${CONNECTION_LOST_EXIT})`
            : code === null
              ? `ended by signal ${last.exitSignal ?? '?'}`
              : `exit ${code}, expected ${expect.join(' or ')}`;
        }
        if (stop.aborted || attempt >= tries || !(await pause(step.retryDelay ?? 0, stop))) break;
      }
      if (step.capture) {
        const full = last?.stdout.full();
        if (state === 'succeeded' && full === undefined) {
          state = 'failed';
          error = `capture ${step.capture}: the output (${last?.stdout.total ?? 0} bytes) is larger than the output cap`;
        }
        // A failed step's output and result are kept too: a later step may act on them (continueOnError).
        record(values, step.capture, (full ?? '').replace(/\n+$/, ''), state === 'succeeded', last?.lost ? CONNECTION_LOST_EXIT : (last?.exitCode ?? null));
      }
      const durationMs = Math.round(performance.now() - started);
      d.runs.stepEnded(
        s.id,
        t.name,
        idx,
        step.name,
        shown,
        {
          state,
          attempts: attempt,
          exitCode: last?.exitCode ?? null,
          exitSignal: last?.exitSignal ?? null,
          error,
          stdout: last?.stdout.text() ?? '',
          stderr: last?.stderr.text() ?? '',
          stdoutBytes: last?.stdout.total ?? 0,
          stderrBytes: last?.stderr.total ?? 0,
          truncated: (last?.stdout.truncated ?? false) || (last?.stderr.truncated ?? false),
        },
        s.actor,
      );
      s.emit({ type: 'step-end', machine: t.name, step: idx, name: step.name, state, exitCode: last?.exitCode ?? null, attempts: attempt, durationMs, error });
      if (state === 'cancelled' || state === 'interrupted') {
        machineState = state;
        machineError = error;
        break;
      }
      if (state !== 'succeeded') {
        if (step.continueOnError && !stop.aborted) continue;
        machineState = 'failed';
        machineError = `step ${idx + 1} (${step.name}): ${error ?? state}`;
        break;
      }
    }
  } finally {
    conn?.close();
  }
  d.runs.machineEnded(s.id, t.name, machineState, machineError, s.actor);
  s.emit({ type: 'machine-end', machine: t.name, state: machineState, error: machineError });
  if (machineState === 'failed') d.log.info({ run: s.id, machine: t.name, error: machineError }, 'runbook failed on a machine');
  return machineState;
}

/**
 * A run's connections to jump hosts: one per jump host, shared by every machine behind it. A
 * lost one is replaced once, however many machines notice; a refusal that another try cannot
 * mend (a changed host key, a refused key) is remembered for the run instead of being
 * provoked again by every machine. Every connection ever opened is closed at the run's end.
 */
class JumpPool {
  private readonly current = new Map<string, Promise<SshConnection>>();
  private readonly opened: Promise<SshConnection>[] = [];
  private readonly open: (j: SshTarget) => Promise<SshConnection>;

  constructor(open: (j: SshTarget) => Promise<SshConnection>) {
    this.open = open;
  }

  async get(j: SshTarget): Promise<SshConnection> {
    for (;;) {
      const p = this.current.get(j.name);
      if (!p) break;
      let c: SshConnection;
      try {
        c = await p;
      } catch (err) {
        if (this.current.get(j.name) !== p) continue;
        if (isIronbayError(err, 'IB_ERR_SSH_HOSTKEY_CHANGED') || isIronbayError(err, 'IB_ERR_SSH_AUTH')) throw err;
        break;
      }
      if (!c.closed) return c;
      if (this.current.get(j.name) !== p) continue;
      break;
    }
    const p = this.open(j);
    this.current.set(j.name, p);
    this.opened.push(p);
    return p;
  }

  closeAll(): void {
    for (const p of this.opened) void p.then((c) => c.close(), () => undefined);
  }
}

/** A capture and its step's result, for later steps' commands and conditions. */
function record(values: Map<string, string>, name: string, stdout: string, ok: boolean, exit: number | null): void {
  values.set(name, stdout);
  values.set(`${name}.ok`, String(ok));
  values.set(`${name}.exit`, exit === null ? '' : String(exit));
}

function cancelWord(s: RunSpec): string {
  return s.interrupted?.() ? 'the daemon stopped during the run' : 'cancelled by an operator';
}

/** Waits between tries; false when the run stopped meanwhile. */
function pause(seconds: number, stop: AbortSignal): Promise<boolean> {
  if (stop.aborted) return Promise.resolve(false);
  if (seconds <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      stop.removeEventListener('abort', onAbort);
      resolve(true);
    }, seconds * 1000);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    stop.addEventListener('abort', onAbort, { once: true });
  });
}
