// `ironbay runbook …` and `ironbay hosts …`: runs started and followed live (every output line
// prefixed by its machine, a progress line, a final machine × result table), listed, shown,
// their logs, cancels; pinned host keys.
import type { Command } from 'commander';
import { IronbayError } from '../errors.ts';
import type { RunPlan } from '../ssh/service.ts';
import type { RunEvent } from '../ssh/runbook/runner.ts';
import type { MachineRunRecord, RunSummary } from '../ssh/runbook/runs.ts';
import type { ApiClient } from './client.ts';
import { table } from './table.ts';

type Out = (s: string) => void;

/** The API's views are the service's own types (type-only imports: nothing loads with them). */
type MachineRunOut = MachineRunRecord;
type RunOut = RunSummary & { definition?: unknown; machineRuns?: MachineRunOut[]; active?: boolean };
type PlanOut = RunPlan;
type RunEventOut = RunEvent;

/** `--target` values: a machine name, or role=, zone=, state=, name= (comma lists), label=KEY=VALUE. */
export function parseTargets(specs: string[]): Record<string, unknown> | undefined {
  if (!specs.length) return undefined;
  const t: { names?: string[]; roles?: string[]; zones?: string[]; states?: string[]; labels?: Record<string, string> } = {};
  const add = (k: 'names' | 'roles' | 'zones' | 'states', v: string): void => void (t[k] = [...(t[k] ?? []), ...v.split(',').filter(Boolean)]);
  for (const s of specs) {
    const eq = s.indexOf('=');
    if (eq < 0) {
      add('names', s);
      continue;
    }
    const key = s.slice(0, eq);
    const value = s.slice(eq + 1);
    if (key === 'label') {
      const e2 = value.indexOf('=');
      if (e2 <= 0) throw new IronbayError('IB_ERR_BAD_REQUEST', `--target ${s}: a label is label=KEY=VALUE`);
      t.labels = { ...t.labels, [value.slice(0, e2)]: value.slice(e2 + 1) };
    } else if (key === 'name' || key === 'role' || key === 'zone' || key === 'state') add(`${key}s`, value);
    else throw new IronbayError('IB_ERR_BAD_REQUEST', `--target ${s}: one of NAME, name=, role=, zone=, state=, label=KEY=VALUE`);
  }
  return t;
}

export function parseParams(specs: string[]): Record<string, string> {
  const p: Record<string, string> = {};
  for (const s of specs) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new IronbayError('IB_ERR_BAD_REQUEST', `--param ${s}: expected NAME=VALUE`);
    p[s.slice(0, eq)] = s.slice(eq + 1);
  }
  return p;
}

const seconds = (ms: number | null): string => (ms === null ? '' : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`);
const when = (ms: number | null): string => (ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));

function printPlan(p: PlanOut, out: Out): void {
  out(`runbook ${p.runbook} (${p.source}, sha256 ${p.digest.slice(0, 12)})`);
  out(`parameters: ${Object.entries(p.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') || '(none)'}`);
  out(`target: ${p.target} → ${p.machines.length} machine${p.machines.length === 1 ? '' : 's'}; ${p.rolling ? 'rolling (one at a time, stop at the first failure)' : `${p.parallel} at once${p.stopOnFailure ? ', stop on failure' : ''}`}`);
  for (const m of p.machines) {
    out('');
    out(`${m.machine}  ${m.address}${m.via ? `  via ${m.via}` : ''}`);
    for (const s of m.steps) {
      out(`  ${s.idx + 1}. ${s.name}  [${s.when}; timeout ${s.timeoutS} s${s.tries > 1 ? `; up to ${s.tries} tries` : ''}]`);
      out(`     $ ${s.command}`);
      if (s.stdin !== undefined) for (const l of s.stdin.replace(/\n$/, '').split('\n')) out(`     | ${l}`);
    }
  }
  out('');
  out('dry run: nothing was run');
}

/** Output lines prefixed by machine; a partial line waits for its end (or the step's). */
class Prefixer {
  private readonly parts = new Map<string, string>();
  private readonly width: number;
  private readonly write: (s: string, err: boolean) => void;

  constructor(width: number, write: (s: string, err: boolean) => void) {
    this.width = width;
    this.write = write;
  }

  push(machine: string, stream: 'stdout' | 'stderr', data: string): void {
    const key = `${machine}\0${stream}`;
    const text = (this.parts.get(key) ?? '') + data;
    const lines = text.split('\n');
    this.parts.set(key, lines.pop()!);
    for (const l of lines) this.line(machine, stream, l);
  }

  flush(machine: string): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = `${machine}\0${stream}`;
      const rest = this.parts.get(key);
      if (rest) this.line(machine, stream, rest);
      this.parts.delete(key);
    }
  }

  line(machine: string, stream: 'stdout' | 'stderr' | 'info', l: string): void {
    this.write(`${machine.padEnd(this.width)} ${stream === 'stderr' ? '!' : stream === 'info' ? '»' : '|'} ${l}`, stream === 'stderr');
  }
}

/** Follows a run to its end, printing as it goes; the final state. */
async function followRun(api: ApiClient, id: number, machines: string[], o: { quiet?: boolean; silent?: boolean }): Promise<string> {
  const res = await api.fetch('GET', `/api/v1/runs/${id}/follow`);
  if (!res.ok || !res.body) throw new IronbayError('IB_ERR_INTERNAL', `GET /api/v1/runs/${id}/follow: ${res.status}`);
  const tty = process.stderr.isTTY;
  let progress = '';
  const clear = (): void => {
    if (tty && progress) process.stderr.write('\r\x1b[K');
  };
  const draw = (): void => {
    if (tty) process.stderr.write('\r\x1b[K' + progress);
  };
  const prefix = new Prefixer(Math.max(...machines.map((m) => m.length), 4), (s, err) => {
    clear();
    (err ? process.stderr : process.stdout).write(s + '\n');
    draw();
  });
  const done = new Map<string, string>();
  const running = new Set<string>();
  const update = (): void => {
    const failed = [...done.values()].filter((s) => s !== 'succeeded').length;
    progress = `[run ${id}] ${done.size}/${machines.length} done${failed ? `, ${failed} not succeeded` : ''}, ${running.size} running`;
    draw();
  };
  let end: Extract<RunEventOut, { type: 'run-end' }> | undefined;
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const e = JSON.parse(line) as RunEventOut;
      switch (e.type) {
        case 'output':
          if (!o.quiet) prefix.push(e.machine, e.stream, e.data);
          break;
        case 'step-start':
          running.add(e.machine);
          if (!o.quiet) prefix.line(e.machine, 'info', `${e.step + 1}. ${e.name}${e.attempt > 1 ? ` (try ${e.attempt})` : ''}`);
          update();
          break;
        case 'step-end':
          prefix.flush(e.machine);
          if (!o.quiet && e.state !== 'succeeded') prefix.line(e.machine, 'info', `${e.step + 1}. ${e.name}: ${e.state}${e.error ? ` (${e.error})` : ''}`);
          break;
        case 'machine-end':
          running.delete(e.machine);
          done.set(e.machine, e.state);
          if (!o.silent) prefix.line(e.machine, 'info', `${e.state}${e.error ? `: ${e.error}` : ''}`);
          update();
          break;
        case 'run-end':
          end = e;
          break;
      }
    }
  }
  clear();
  progress = '';
  if (!end) throw new IronbayError('IB_ERR_API_UNREACHABLE', `the daemon ended the stream of run ${id} before the run ended; see: ironbay runbook show ${id}`);
  return end.state;
}

function printRunTable(r: RunOut, out: Out): void {
  const rows = (r.machineRuns ?? []).map((m) => {
    const ran = m.steps.filter((s) => s.state !== 'skipped');
    return [m.machine, m.state, `${m.steps.filter((s) => s.state === 'succeeded').length}/${ran.length}`, seconds(m.startedAt !== null && m.endedAt !== null ? m.endedAt - m.startedAt : null), m.error ?? undefined];
  });
  out(table(['MACHINE', 'RESULT', 'STEPS OK', 'TIME', 'DETAIL'], rows));
  const c = r.machines;
  out(
    `run ${r.id} ${r.state}: ${Object.entries(c)
      .filter(([, n]) => n)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ')}${r.error ? ` — ${r.error}` : ''}`,
  );
}

export function registerRunbookCommands(program: Command, runbook: Command, api: () => Promise<ApiClient>, out: Out, json: (v: unknown) => void): void {
  const collect = (v: string, prev: string[]): string[] => [...prev, v];

  runbook
    .command('list')
    .description('runbooks the daemon offers: built-in and from its runbooks folder')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) => {
      const r = await (await api()).request<{ runbooks: { name: string; description: string; source: string; builtin: boolean; errors?: string[]; overrides?: string }[] }>('GET', '/api/v1/runbooks');
      if (o.json) return json(r.runbooks);
      out(table(['NAME', 'FROM', 'DESCRIPTION'], r.runbooks.map((b) => [b.name, b.builtin ? 'built-in' : b.overrides ? 'folder (overrides built-in)' : 'folder', b.errors ? `INVALID: ${b.errors[0]}${b.errors.length > 1 ? ` (+${b.errors.length - 1})` : ''}` : b.description])));
    });

  runbook
    .command('run <name>')
    .description('run a runbook over SSH; output streams prefixed by machine, then a table of machine × result; exit 0 only if every machine succeeded')
    .option('--param <name=value>', 'a parameter (repeatable)', collect, [])
    .option('--target <spec>', "replaces the runbook's own target: a machine NAME, name=A,B, role=R, zone=Z, state=S, label=KEY=VALUE (repeatable; together they narrow)", collect, [])
    .option('--dry-run', 'print exactly what would run on which machine, run nothing')
    .option('--parallel <n>', 'machines at once (default 10)', (v) => Number.parseInt(v, 10))
    .option('--rolling', 'one machine at a time, stopping at the first failure')
    .option('--stop-on-failure', 'start no further machine once one has failed')
    .option('--detach', 'print the run id and return; follow with `ironbay runbook logs RUN --follow`')
    .option('--quiet', "don't stream the commands' output, only progress and the result")
    .option('--json', 'JSON output (the plan, or the run at its end)')
    .action(async (name: string, o: { param: string[]; target: string[]; dryRun?: boolean; parallel?: number; rolling?: boolean; stopOnFailure?: boolean; detach?: boolean; quiet?: boolean; json?: boolean }) => {
      if (o.parallel !== undefined && (!Number.isInteger(o.parallel) || o.parallel < 1)) throw new IronbayError('IB_ERR_BAD_REQUEST', '--parallel takes a positive integer');
      const target = parseTargets(o.target);
      const body = {
        params: parseParams(o.param),
        ...(target && { target }),
        ...(o.parallel !== undefined && { parallel: o.parallel }),
        ...(o.rolling && { rolling: true }),
        ...(o.stopOnFailure && { stopOnFailure: true }),
        ...(o.dryRun && { dryRun: true }),
      };
      const c = await api();
      const path = `/api/v1/runbooks/${encodeURIComponent(name)}/runs`;
      if (o.dryRun) {
        const r = await c.request<{ plan: PlanOut }>('POST', path, body);
        if (o.json) json(r.plan);
        else printPlan(r.plan, out);
        return;
      }
      const started = await c.request<{ id: number; plan: PlanOut }>('POST', path, body);
      const machines = started.plan.machines.map((m) => m.machine);
      if (o.detach) {
        if (o.json) json({ id: started.id });
        else out(String(started.id));
        return;
      }
      if (!o.json) out(`run ${started.id}: ${name} on ${machines.length} machine${machines.length === 1 ? '' : 's'}${started.plan.rolling ? ', rolling' : `, ${started.plan.parallel} at once`} (Ctrl-C cancels it)`);
      // Ctrl-C cancels the run on the daemon, as it would a local command; a second one leaves.
      let interrupted = false;
      const onInt = (): void => {
        if (interrupted) process.exit(130);
        interrupted = true;
        process.stderr.write(`\ncancelling run ${started.id}…\n`);
        void c.request('POST', `/api/v1/runs/${started.id}/cancel`, {}).catch(() => undefined);
      };
      process.on('SIGINT', onInt);
      try {
        await followRun(c, started.id, machines, { quiet: o.quiet || o.json, silent: o.json });
      } finally {
        process.off('SIGINT', onInt);
      }
      const r = await c.request<RunOut>('GET', `/api/v1/runs/${started.id}`);
      if (o.json) json(r);
      else {
        out('');
        printRunTable(r, out);
      }
      process.exitCode = r.state === 'succeeded' ? 0 : 1;
    });

  runbook
    .command('runs')
    .description('recent runs, newest first')
    .option('--runbook <name>', 'only runs of this runbook')
    .option('--state <state>', 'running, succeeded, failed, cancelled or interrupted')
    .option('--limit <n>', 'how many (default 50)', (v) => Number.parseInt(v, 10))
    .option('--json', 'JSON output')
    .action(async (o: { runbook?: string; state?: string; limit?: number; json?: boolean }) => {
      const q = new URLSearchParams({ ...(o.runbook && { runbook: o.runbook }), ...(o.state && { state: o.state }), ...(o.limit && { limit: String(o.limit) }) });
      const r = await (await api()).request<{ runs: RunOut[] }>('GET', `/api/v1/runs${q.size ? `?${q.toString()}` : ''}`);
      if (o.json) return json(r.runs);
      out(
        table(
          ['RUN', 'RUNBOOK', 'STATE', 'MACHINES', 'STARTED', 'TIME', 'BY'],
          r.runs.map((x) => [
            String(x.id),
            x.runbook,
            x.state,
            Object.entries(x.machines)
              .filter(([, n]) => n)
              .map(([s, n]) => `${n} ${s}`)
              .join(', '),
            when(x.createdAt),
            seconds(x.endedAt === null ? null : x.endedAt - x.createdAt),
            x.actor,
          ]),
        ),
      );
    });

  runbook
    .command('show <run>')
    .description('a run: who started it, with which parameters, and each machine × step with exit code and time')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { json?: boolean }) => {
      const r = await (await api()).request<RunOut>('GET', `/api/v1/runs/${encodeURIComponent(id)}`);
      if (o.json) return json(r);
      out(`run ${r.id}: ${r.runbook} — ${r.state}${r.active ? ' (going)' : ''}`);
      out(`  source ${r.source} (sha256 ${r.digest.slice(0, 12)})`);
      out(`  started ${when(r.createdAt)} by ${r.actor}${r.endedAt ? `, ended ${when(r.endedAt)} (${seconds(r.endedAt - r.createdAt)})` : ''}`);
      out(`  parameters ${Object.entries(r.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') || '(none)'}`);
      out(`  target ${r.options.target.selector}; ${r.options.rolling ? 'rolling' : `${r.options.parallel} at once${r.options.stopOnFailure ? ', stop on failure' : ''}`}`);
      if (r.error) out(`  ${r.error}`);
      out('');
      const rows: (string | undefined)[][] = [];
      for (const m of r.machineRuns ?? []) {
        if (!m.steps.length) rows.push([m.machine, '', m.state, '', '', m.error ?? undefined]);
        for (const s of m.steps)
          rows.push([m.machine, `${s.idx + 1}. ${s.name}`, s.state, s.exitCode === null ? (s.exitSignal ?? '') : String(s.exitCode), seconds(s.durationMs), [s.attempts > 1 ? `${s.attempts} tries` : '', s.truncated ? 'output truncated' : '', s.error ?? ''].filter(Boolean).join('; ') || undefined]);
      }
      out(table(['MACHINE', 'STEP', 'STATE', 'EXIT', 'TIME', 'DETAIL'], rows));
    });

  runbook
    .command('logs <run>')
    .description("the run's output, step by step (stdout, and stderr marked '!'); --follow for a run that is going")
    .option('--machine <name>', 'only this machine')
    .option('--follow', 'stream a run that is going, then print the record')
    .action(async (id: string, o: { machine?: string; follow?: boolean }) => {
      const c = await api();
      const q = o.machine ? `?machine=${encodeURIComponent(o.machine)}` : '';
      if (o.follow) {
        const r = await c.request<RunOut>('GET', `/api/v1/runs/${encodeURIComponent(id)}${q}`);
        if (r.active) {
          await followRun(c, r.id, (r.machineRuns ?? []).map((m) => m.machine), {});
          return;
        }
      }
      const r = await c.request<RunOut>('GET', `/api/v1/runs/${encodeURIComponent(id)}${q}`);
      if (o.machine && !r.machineRuns?.length) throw new IronbayError('IB_ERR_NOT_FOUND', `run ${r.id} did not include machine ${o.machine}`);
      for (const m of r.machineRuns ?? []) {
        out(`=== ${m.machine} (${m.address ?? '?'}): ${m.state}${m.error ? ` — ${m.error}` : ''}`);
        for (const s of m.steps) {
          out(`--- ${s.idx + 1}. ${s.name}: ${s.state}${s.exitCode !== null ? `, exit ${s.exitCode}` : ''}${s.durationMs !== null ? `, ${seconds(s.durationMs)}` : ''}`);
          if (s.command) out(`$ ${s.command}`);
          if (s.stdout) out(s.stdout.replace(/\n$/, ''));
          if (s.stderr) for (const l of s.stderr.replace(/\n$/, '').split('\n')) out(`! ${l}`);
          if (s.truncated) out(`[output truncated: stdout ${s.stdoutBytes} bytes, stderr ${s.stderrBytes} bytes in full]`);
        }
      }
    });

  runbook
    .command('cancel <run>')
    .description('signal every remote command of a run that is going; the run ends cancelled')
    .action(async (id: string) => {
      const r = await (await api()).request<{ id: number; state: string }>('POST', `/api/v1/runs/${encodeURIComponent(id)}/cancel`, {});
      out(`run ${r.id}: ${r.state}`);
    });

  const hosts = program.command('hosts').description("machines' SSH host keys, pinned on first contact");
  hosts
    .command('list', { isDefault: true })
    .description('pinned host keys, and keys refused because they differ from the pin')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) => {
      const r = await (await api()).request<{ hosts: { kind: string; name: string; keyType: string; fingerprint: string; address: string; pinnedAt: number; pending: { fingerprint: string; seenAt: number } | null }[] }>('GET', '/api/v1/ssh/hosts');
      if (o.json) return json(r.hosts);
      out(table(['HOST', 'ADDRESS', 'KEY', 'PINNED', 'REFUSED KEY'], r.hosts.map((h) => [`${h.kind === 'jump' ? 'jump:' : ''}${h.name}`, h.address, `${h.keyType} ${h.fingerprint}`, when(h.pinnedAt), h.pending ? `${h.pending.fingerprint} (${when(h.pending.seenAt)})` : undefined])));
    });
  hosts
    .command('accept <machine>')
    .description('pin the new key a machine presented (and was refused for): after a reinstall or a key rotation you verified')
    .option('--fingerprint <SHA256:…>', 'accept only if the refused key is this one')
    .option('--jump', 'a jump host from the configuration, not a machine')
    .action(async (name: string, o: { fingerprint?: string; jump?: boolean }) => {
      const r = await (await api()).request<{ outcome: string; previous?: string; fingerprint?: string }>(
        'POST',
        `/api/v1/ssh/hosts/${encodeURIComponent(name)}/accept${o.jump ? '?jump=true' : ''}`,
        o.fingerprint ? { fingerprint: o.fingerprint } : {},
      );
      out(r.outcome === 'accepted' ? `${name}: now pinned ${r.fingerprint} (was ${r.previous})` : `${name}: no refused key to accept; pinned ${r.fingerprint}`);
    });
  hosts
    .command('forget <machine>')
    .description('drop a pin: the next connection pins whatever key the machine presents')
    .option('--jump', 'a jump host from the configuration, not a machine')
    .action(async (name: string, o: { jump?: boolean }) => {
      await (await api()).request('DELETE', `/api/v1/ssh/hosts/${encodeURIComponent(name)}${o.jump ? '?jump=true' : ''}`);
      out(`${name}: pin forgotten`);
    });
  hosts
    .command('key')
    .description("the appliance's SSH public key, for machines' authorized_keys")
    .action(async () => {
      const r = await (await api()).request<{ publicKey: string }>('GET', '/api/v1/ssh/key');
      out(r.publicKey);
    });
}
