// Runbooks as the daemon offers them: the catalogue (built-in and the operators' folder, read
// again for every run so an edited file applies at once), dry runs, runs started in the
// background and followed live, cancels, and the appliance's key. Runs left running by a
// previous process are marked interrupted at start.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { IronbayError } from '../errors.ts';
import { Limiter } from '../lib/limiter.ts';
import { formatSourceError, type SourceError } from '../lib/yaml-source.ts';
import type { Store } from '../store/db.ts';
import type { MachineRecord } from '../store/machines.ts';
import { ensureApplianceKey, type ApplianceKey } from './keys.ts';
import type { SshTarget } from './connection.ts';
import { loadRunbook } from './runbook/load.ts';
import { DEFAULT_STATES, describeSelector, previewStep, resolveParams, selectTargets, type ParamInput, type TargetSelector } from './runbook/plan.ts';
import { executeRun, type RunEvent, type RunTarget } from './runbook/runner.ts';
import { RunStore } from './runbook/runs.ts';
import type { Runbook } from './runbook/schema.ts';

export const BUILTIN_DIR = fileURLToPath(new URL('./runbooks/', import.meta.url));

export interface CatalogEntry {
  name: string;
  description: string;
  source: string;
  builtin: boolean;
  /** Set when the file does not load: the run refuses it. */
  errors?: string[];
  /** A built-in of the same name this file replaces. */
  overrides?: string;
}

interface Loaded {
  runbook: Runbook;
  source: string;
  digest: string;
}

type LoadResult = { ok: true; loaded: Loaded } | { ok: false; errors: SourceError[] };

export interface RunRequest {
  runbook: string;
  params?: ParamInput;
  /** Replaces the runbook's own selector (a machine named is taken in any state). */
  target?: TargetSelector;
  parallel?: number;
  rolling?: boolean;
  stopOnFailure?: boolean;
}

export interface PlanMachine {
  machine: string;
  address: string;
  via: string | null;
  steps: { idx: number; name: string; when: string; command: string; stdin?: string; timeoutS: number; tries: number }[];
}

export interface RunPlan {
  runbook: string;
  source: string;
  digest: string;
  params: Record<string, string>;
  target: string;
  parallel: number;
  rolling: boolean;
  stopOnFailure: boolean;
  machines: PlanMachine[];
}

interface Active {
  cancel: AbortController;
  listeners: Set<(e: RunEvent) => void>;
  /** What a follower who comes late missed (the CLI follows right after starting). */
  history: RunEvent[];
  done: Promise<unknown>;
}

/** Events kept for late followers; output beyond it is in the store once each step ends. */
const HISTORY_MAX = 20_000;
const RECENT_MS = 30_000;

export class RunbookService {
  private readonly store: Store;
  private readonly config: Readonly<Config>;
  private readonly log: Logger;
  readonly runs: RunStore;
  private key: ApplianceKey | undefined;
  private readonly connections: Limiter;
  private readonly active = new Map<number, Active>();
  /** A just-ended run's events, for a follower that comes a moment late (a one-machine run can end before the CLI asks). */
  private readonly recent = new Map<number, RunEvent[]>();
  private readonly shutdown = new AbortController();

  constructor(o: { store: Store; config: Readonly<Config>; log: Logger }) {
    this.store = o.store;
    this.config = o.config;
    this.log = o.log;
    this.runs = new RunStore(o.store);
    this.connections = new Limiter(o.config.ssh.maxConnections);
  }

  get keyFile(): string {
    return this.config.ssh.keyFile ?? join(this.config.dataDir, 'ssh', 'id_ed25519');
  }

  /** Makes or reads the appliance key; marks runs a previous process left as interrupted. */
  async open(): Promise<void> {
    this.key = await ensureApplianceKey(this.keyFile);
    const cut = this.runs.markInterrupted('the daemon stopped while the run was going');
    if (cut.length) this.log.warn({ runs: cut }, 'runbook runs were interrupted by the previous stop');
  }

  publicKey(): ApplianceKey {
    if (!this.key) throw new IronbayError('IB_ERR_SSH_KEY', 'the appliance SSH key is not loaded yet');
    return this.key;
  }

  catalog(): CatalogEntry[] {
    return [...this.scan().values()].map((e) => e.entry).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every runbook file, read and checked once; a folder's file replaces a built-in of its name. */
  private scan(): Map<string, { entry: CatalogEntry; result: LoadResult }> {
    const out = new Map<string, { entry: CatalogEntry; result: LoadResult }>();
    const dirs: [string, boolean][] = [[BUILTIN_DIR, true]];
    if (this.config.ssh.runbooks) dirs.push([this.config.ssh.runbooks, false]);
    for (const [dir, builtin] of dirs) {
      let files: string[];
      try {
        files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
      } catch (err) {
        if (builtin || (err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, dir }, 'cannot list runbooks');
        continue;
      }
      for (const f of files) {
        const source = join(dir, f);
        const result = this.loadFile(source);
        const name = result.ok ? result.loaded.runbook.name : f.replace(/\.ya?ml$/, '');
        const prior = out.get(name)?.entry;
        out.set(name, {
          result,
          entry: {
            name,
            description: result.ok ? result.loaded.runbook.description : '',
            source,
            builtin,
            ...(!result.ok && { errors: result.errors.map(formatSourceError) }),
            ...(prior?.builtin && !builtin && { overrides: prior.source }),
          },
        });
      }
    }
    return out;
  }

  private loadFile(source: string): LoadResult {
    let bytes: Buffer;
    try {
      bytes = readFileSync(source);
    } catch (err) {
      return { ok: false, errors: [{ file: source, line: 1, col: 1, path: '', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }] };
    }
    const r = loadRunbook(source, bytes.toString('utf8'));
    if (!r.ok) return r;
    return { ok: true, loaded: { runbook: r.runbook, source, digest: createHash('sha256').update(bytes).digest('hex') } };
  }

  /** The runbook named, as its file says now. */
  load(name: string): Loaded {
    // One read of the folders: the runbook run is the one the catalogue found, not a second read of its file.
    const found = this.scan().get(name);
    if (!found) throw new IronbayError('IB_ERR_NOT_FOUND', `no runbook named "${name}" (built-in or in ${this.config.ssh.runbooks ?? 'a runbooks folder: none configured'})`);
    const r = found.result;
    if (!r.ok) throw new IronbayError('IB_ERR_RUNBOOK_INVALID', `runbook ${name} (${found.entry.source}) is invalid:\n${r.errors.map(formatSourceError).join('\n')}`, { details: { errors: r.errors } });
    return r.loaded;
  }

  /** Where and as whom a machine is reached, through which jump host. */
  targetOf(m: MachineRecord): RunTarget {
    const cidr = m.spec.production?.address;
    if (!cidr) throw new IronbayError('IB_ERR_BAD_REQUEST', `machine ${m.name} has no production address in the inventory: SSH cannot reach it`);
    const jumpName = m.spec.ssh?.jump ?? this.config.ssh.jump;
    let jump: SshTarget | undefined;
    if (jumpName && jumpName !== 'none') {
      const j = this.config.ssh.jumpHosts.find((h) => h.name === jumpName);
      if (!j) throw new IronbayError('IB_ERR_BAD_REQUEST', `machine ${m.name} is reached through jump host "${jumpName}", which the configuration's ssh.jumpHosts does not define`);
      jump = { name: j.name, kind: 'jump', host: j.host, port: j.port, user: j.user };
    }
    return { name: m.name, kind: 'machine', host: cidr.split('/')[0]!, port: m.spec.ssh?.port ?? this.config.ssh.port, user: m.spec.ssh?.user ?? this.config.ssh.user, jump };
  }

  plan(req: RunRequest): RunPlan & { loaded: Loaded; values: Map<string, string>; targets: RunTarget[] } {
    const loaded = this.load(req.runbook);
    const rb = loaded.runbook;
    const values = resolveParams(rb, req.params ?? {});
    // An operator's target replaces the runbook's whole: what was typed is what is selected.
    const given = Object.fromEntries(Object.entries(req.target ?? {}).filter(([, v]) => v !== undefined)) as TargetSelector;
    const sel: TargetSelector = Object.keys(given).length ? given : (rb.target ?? {});
    const machines = selectTargets(this.store, sel);
    const problems: string[] = [];
    const targets: RunTarget[] = [];
    for (const m of machines) {
      try {
        targets.push(this.targetOf(m));
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    if (problems.length) throw new IronbayError('IB_ERR_BAD_REQUEST', problems.join('; '), { details: { problems } });
    const captures = new Set(rb.steps.flatMap((s) => (s.capture ? [s.capture, `${s.capture}.ok`, `${s.capture}.exit`] : [])));
    const rolling = req.rolling ?? false;
    return {
      loaded,
      values,
      targets,
      runbook: rb.name,
      source: loaded.source,
      digest: loaded.digest,
      params: Object.fromEntries(values),
      target: describeSelector(sel, sel.states ?? (sel.names?.length ? undefined : DEFAULT_STATES)),
      parallel: rolling ? 1 : Math.max(1, req.parallel ?? 10),
      rolling,
      stopOnFailure: rolling || (req.stopOnFailure ?? false),
      machines: targets.map((t) => ({
        machine: t.name,
        address: `${t.user}@${t.host}:${t.port}`,
        via: t.jump ? `${t.jump.name} (${t.jump.user}@${t.jump.host}:${t.jump.port})` : null,
        steps: rb.steps.map((s, idx) => {
          const p = previewStep(s, values, captures, t.user);
          return { idx, name: s.name, when: p.when, command: p.command, ...(p.stdin !== undefined && { stdin: p.stdin }), timeoutS: s.timeout ?? this.config.ssh.stepTimeoutS, tries: (s.retries ?? 0) + 1 };
        }),
      })),
    };
  }

  /** Starts a run in the background; the id it returns is already recorded. */
  start(req: RunRequest, actor: string): { id: number; plan: RunPlan } {
    if (!this.key) throw new IronbayError('IB_ERR_SSH_KEY', 'the appliance SSH key is not loaded yet');
    const p = this.plan(req);
    const { loaded, values, targets, ...plan } = p;
    const id = this.runs.create({
      runbook: loaded.runbook,
      source: loaded.source,
      digest: loaded.digest,
      params: plan.params,
      options: { parallel: plan.parallel, rolling: plan.rolling, stopOnFailure: plan.stopOnFailure, target: { selector: plan.target, ...(req.target && { given: req.target }) } },
      actor,
      machines: targets.map((t) => ({ name: t.name, address: `${t.host}:${t.port}` })),
    });
    const cancel = new AbortController();
    const listeners = new Set<(e: RunEvent) => void>();
    const history: RunEvent[] = [];
    const onShutdown = (): void => cancel.abort('shutdown');
    this.shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    const done = executeRun(
      {
        store: this.store,
        runs: this.runs,
        log: this.log,
        privateKey: this.key.privateKey,
        connectTimeoutMs: this.config.ssh.connectTimeoutMs,
        defaultStepTimeoutMs: this.config.ssh.stepTimeoutS * 1000,
        outputCap: this.config.ssh.outputCapBytes,
        connections: this.connections,
      },
      {
        id,
        runbook: loaded.runbook,
        values,
        targets,
        parallel: plan.parallel,
        rolling: plan.rolling,
        stopOnFailure: plan.stopOnFailure,
        actor,
        runTimeoutMs: this.config.ssh.runTimeoutS * 1000,
        cancel: cancel.signal,
        interrupted: () => this.shutdown.signal.aborted,
        emit: (e) => {
          if (history.length < HISTORY_MAX || e.type !== 'output') history.push(e);
          for (const l of listeners) l(e);
        },
      },
    )
      .catch((err: unknown) => {
        this.log.error({ err, run: id }, 'runbook run crashed');
        this.runs.ended(id, 'failed', `internal error: ${(err as Error).message}`, actor);
        for (const l of listeners) l({ type: 'run-end', state: 'failed', error: (err as Error).message, counts: {} });
      })
      .finally(() => {
        this.shutdown.signal.removeEventListener('abort', onShutdown);
        this.active.delete(id);
        this.recent.set(id, history);
        setTimeout(() => this.recent.delete(id), RECENT_MS).unref();
      });
    this.active.set(id, { cancel, listeners, history, done });
    this.log.info({ run: id, runbook: plan.runbook, machines: targets.length, actor }, 'runbook run started');
    return { id, plan };
  }

  /** Follows a run that is going; undefined when it is not (read the store instead). */
  follow(id: number, listener: (e: RunEvent) => void): (() => void) | undefined {
    const a = this.active.get(id);
    if (!a) {
      const past = this.recent.get(id);
      if (!past) return undefined;
      for (const e of past) listener(e);
      return () => undefined;
    }
    for (const e of a.history) listener(e);
    a.listeners.add(listener);
    return () => a.listeners.delete(listener);
  }

  isActive(id: number): boolean {
    return this.active.has(id);
  }

  /** Signals every remote command of the run; resolves when the run has ended. */
  async cancel(id: number, actor: string): Promise<'cancelled' | 'not-running'> {
    const a = this.active.get(id);
    if (!a) return 'not-running';
    this.store.tx(() => this.store.appendEvent({ actor, kind: 'runbook.run.cancel', details: { run: id } }));
    a.cancel.abort('cancel');
    await a.done;
    return 'cancelled';
  }

  /** Resolves once a run has ended (tests, the lifecycle hook). */
  async settled(id: number): Promise<void> {
    await this.active.get(id)?.done;
  }

  /** Stops every run: their records end 'interrupted', as after a crash, but cleanly. */
  async close(): Promise<void> {
    this.shutdown.abort();
    await Promise.all([...this.active.values()].map((a) => a.done));
    this.runs.flush();
  }
}
