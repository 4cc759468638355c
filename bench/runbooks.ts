// Runbook benchmark: one 5-step runbook on 50 machines (OpenSSH sshd instances on
// 127.0.3.1–50, each with its own host key and port), 10 machines at a time, by each contender:
//   ironbay   the daemon's RunbookService, in process: one SSH connection (ssh2) per machine,
//             one exec channel per step, every step recorded in the store
//   ssh       OpenSSH's client, one `ssh` process (and so one connection) per step; per machine
//             the steps in order, machines 10 at a time (`xargs -P 10`), every exit code kept
//   ssh-x25519  the plain loop with -o KexAlgorithms=curve25519-sha256: OpenSSH 9.x's default key
//             exchange (sntrup761x25519-sha512, post-quantum) costs ~0.15 s of client CPU per
//             connection on this machine, and ssh2 (ironbay) does not offer it: this line shows
//             the loop with the key exchange ironbay negotiates
//   ssh-mux   the plain loop with a ControlMaster per machine (one connection, one `ssh` process
//             per step over it): what a careful operator would do
// ssh-x25519 and ssh-mux are for information; the issue's target (≥ 3× faster wall time) is
// against the plain loop with OpenSSH's defaults.
//
//   npx node bench/runbooks.ts [--targets 50] [--parallel 10] [--rounds 3] [--bashrc] [--only ironbay,ssh,ssh-x25519,ssh-mux]
//
// A warm-up round of each (not measured) comes first; ironbay pins every host key in it, and
// the ssh loops get a known_hosts file filled beforehand with every server's key
// (StrictHostKeyChecking=yes), so no contender learns keys in a measured round. Then rounds
// interleave the contenders (the order rotating each round) and the table shows each one's
// median round by wall time. A step counts as done when it exits 0 and its output is the
// expected one; a failed step is reported (and a round with failures is not a fast round).
//
// The servers run on this machine: their key exchanges and sessions take CPU from the same
// cores as the clients. The ssh client runs with -F /dev/null (no user or system ssh_config).
//
// Root's ~/.bashrc here runs `pyenv init`, and Debian's bash sources ~/.bashrc when sshd runs
// it (SSH_CLIENT set, SHLVL < 2): that would cost every step of every contender ~0.2 s wall and
// ~0.15 s CPU. The benchmark's servers therefore set SHLVL=1 for their sessions (sshd_config
// SetEnv), so the remote bash skips it, as on a server with an ordinary ~/.bashrc; --bashrc
// leaves it in. The cost is measured and printed either way.
//
// Writes bench/out/runbooks.json. A measurement, not a test: exits 0 whatever the figures.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { testApp, type TestApp } from '../test/helpers/app.ts';
import { childrenCpuMs, clientCpuMs, fmt, median, processCpuMs, printTable, quantile } from './_stats.ts';
import { loopbackInventory, startSshdFleet, type Sshd } from '../test/helpers/sshd.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = join(REPO, 'bench/out');
/** A round that has not ended by then is stopped and counted as failed. */
const ROUND_LIMIT_MS = 600_000;

/** The runbook: light commands an operator runs everywhere; the same text for every contender. */
const STEPS: { name: string; run: string; expect?: string }[] = [
  { name: 'kernel', run: 'uname -r' },
  { name: 'load', run: 'cat /proc/loadavg' },
  { name: 'disk', run: 'df -P /' },
  { name: 'tmp', run: 'test -d /tmp && echo ok', expect: 'ok\n' },
  { name: 'done', run: 'echo done', expect: 'done\n' },
];

interface Outcome {
  /** Steps that should have run: targets × steps. */
  steps: number;
  ok: number;
  /** Wall time, ms. */
  ms: number;
  /** Per step, ms, as the contender records it. */
  stepMs: number[];
  /** Per step over a connection already open (ironbay: steps 2–5; ssh-mux: all); empty for the plain loops. */
  openStepMs: number[];
  /** Per machine, connection setup, ms (ironbay: step 1 minus the machine's later median; ssh-mux: master up). */
  connectMs: number[];
  /** This process and the processes it waited for, ms. */
  clientCpuMs: number;
  /** Every sshd (listeners and the connections they served), ms. */
  serverCpuMs: number;
  errors: string[];
}

type Run = Omit<Outcome, 'ms' | 'clientCpuMs' | 'serverCpuMs'>;

interface Contender {
  name: string;
  how: string;
  run(): Promise<Run>;
}

// ---------------------------------------------------------------------------------------
// Accounting

/** utime + stime + cutime + cstime of every listener: a connection's sshd is reaped by its listener. */
const serverCpuMs = (servers: Sshd[]): number => processCpuMs(servers.map((s) => s.pid()));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Ctrl-C or SIGTERM: the round going is stopped, then everything is cleaned up as at the end.
let interrupted = false;
const stoppers = new Set<() => void>();
function interrupt(sig: string): void {
  if (interrupted) return;
  interrupted = true;
  console.log(`\n${sig}: stopping the round going, then cleaning up`);
  for (const stop of stoppers) stop();
}

// ---------------------------------------------------------------------------------------
// ironbay: the RunbookService, as the daemon drives it

const inventory = (servers: Sshd[]): string => loopbackInventory(servers, (i) => ({ name: machineName(i), fields: 'role: worker, zone: zone-a' }));

const machineName = (i: number): string => `bench-${String(i + 1).padStart(3, '0')}`;

function runbookYaml(): string {
  const steps = STEPS.map((s) => `  - name: ${s.name}\n    run: ${JSON.stringify(s.run)}\n`).join('');
  return `name: bench\ndescription: five light steps\nsteps:\n${steps}`;
}

function ironbay(t: TestApp, targets: number, parallel: number): Contender {
  return {
    name: 'ironbay',
    how: `RunbookService.start (in process), parallel ${parallel}: one ssh2 connection per machine, one exec channel per step, every step recorded`,
    run: async () => {
      const { id } = t.runbooks.start({ runbook: 'bench', parallel }, 'bench');
      const stop = (): void => void t.runbooks.cancel(id, 'bench');
      const limit = setTimeout(stop, ROUND_LIMIT_MS);
      stoppers.add(stop);
      await t.runbooks.settled(id);
      stoppers.delete(stop);
      clearTimeout(limit);
      const r = t.runbooks.runs.get(id)!;
      const errors = new Set<string>();
      if (r.state !== 'succeeded') errors.add(`run ${r.state}: ${r.error ?? ''}`);
      if (r.machineRuns.length !== targets) errors.add(`${r.machineRuns.length} machines in the run, not ${targets}`);
      let ok = 0;
      const stepMs: number[] = [];
      const openStepMs: number[] = [];
      const connectMs: number[] = [];
      for (const m of r.machineRuns) {
        if (m.error) errors.add(m.error);
        for (const s of m.steps) {
          const want = STEPS[s.idx]?.expect;
          if (s.state === 'succeeded' && s.exitCode === 0 && (want === undefined || s.stdout === want)) ok++;
          else errors.add(`step ${s.idx + 1}: ${s.state}, exit ${s.exitCode}, ${JSON.stringify(s.stdout.slice(0, 40))} ${s.error ?? ''}`);
          if (s.durationMs !== null) stepMs.push(s.durationMs);
          if (s.durationMs !== null && s.idx > 0) openStepMs.push(s.durationMs);
        }
        // The connection is opened inside the first step's time.
        const first = m.steps[0]?.durationMs;
        const later = m.steps.slice(1).flatMap((s) => (s.durationMs === null ? [] : [s.durationMs]));
        if (first !== null && first !== undefined && later.length) connectMs.push(first - median(later));
      }
      return { steps: targets * STEPS.length, ok, stepMs, openStepMs, connectMs, errors: [...errors].slice(0, 5) };
    },
  };
}

// ---------------------------------------------------------------------------------------
// The peers: OpenSSH's client from a shell loop under `xargs -P`

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * One machine's steps, in order, one `ssh` per step; with MODE=mux over a ControlMaster started
 * first (in the foreground of a background job, so its CPU is counted when it is waited for;
 * LocalCommand tells when it is up, which is after its control socket listens) and ended with
 * `ssh -O exit`. Writes to $RDIR/res/HOST: `C rc µs` for the master, `S idx rc µs` for each
 * step; output to $RDIR/out/.
 * Stops at the first failed step, as a runbook does; exits 0 or 1 (xargs stops at a 255).
 */
function hostScript(key: string, knownHosts: string): string {
  return `#!/bin/bash
# Written by bench/runbooks.ts: one machine's ${STEPS.length} steps, one ssh process per step.
host=$1 port=$2
cmds=(${STEPS.map((s) => shq(s.run)).join(' ')})
opts=(-F /dev/null -i ${shq(key)} -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${shq(knownHosts)} -o ConnectTimeout=10 -o LogLevel=ERROR)
if [ -n "$KEX" ]; then opts+=(-o "KexAlgorithms=$KEX"); fi
res=$RDIR/res/$host out=$RDIR/out/$host
if [ "$MODE" = mux ]; then
  sock=$RDIR/cm-$host fifo=$RDIR/up-$host
  mkfifo "$fifo"
  t0=$EPOCHREALTIME
  ssh "\${opts[@]}" -M -N -o ControlPath="$sock" -o PermitLocalCommand=yes -o LocalCommand='echo up' "root@$host" >"$fifo" 2>>"$out.err" &
  master=$!
  read -r up <"$fifo"
  t1=$EPOCHREALTIME
  if [ "$up" = up ]; then echo "C 0 $((\${t1/./} - \${t0/./}))" >>"$res"; else echo "C 1 $((\${t1/./} - \${t0/./}))" >>"$res"; wait $master; exit 1; fi
  opts+=(-o ControlMaster=no -o ControlPath="$sock")
fi
failed=0
for i in "\${!cmds[@]}"; do
  t0=$EPOCHREALTIME
  ssh "\${opts[@]}" "root@$host" "\${cmds[$i]}" >"$out.$i" 2>>"$out.err"
  rc=$?
  t1=$EPOCHREALTIME
  echo "S $i $rc $((\${t1/./} - \${t0/./}))" >>"$res"
  if [ $rc -ne 0 ]; then failed=1; break; fi
done
# -O exit, not a signal: a SIGTERM landing outside its poll() can leave the master waiting minutes.
if [ "$MODE" = mux ]; then ssh "\${opts[@]}" -O exit "root@$host" 2>/dev/null; wait "$master"; fi
exit $failed
`;
}

/** The key exchange ssh2 negotiates with OpenSSH's sshd (it offers no sntrup761). */
const X25519 = 'curve25519-sha256';

function sshLoop(mode: 'plain' | 'x25519' | 'mux', o: { dir: string; servers: Sshd[]; parallel: number; key: string; knownHosts: string }): Contender {
  const script = join(o.dir, 'host.sh');
  const hosts = join(o.dir, 'hosts');
  writeFileSync(script, hostScript(o.key, o.knownHosts), { mode: 0o755 });
  writeFileSync(hosts, o.servers.map((s) => `${s.host} ${s.port}\n`).join(''));
  let round = 0;
  const name = mode === 'plain' ? 'ssh' : `ssh-${mode}`;
  return {
    name,
    how: {
      plain: `xargs -P ${o.parallel} -n 2 host.sh: per machine, one \`ssh -F /dev/null -i KEY -p PORT -o BatchMode=yes -o StrictHostKeyChecking=yes root@HOST CMD\` process per step, in order (OpenSSH's default key exchange: sntrup761x25519-sha512)`,
      x25519: `the same loop with -o KexAlgorithms=${X25519}, the key exchange ironbay's ssh2 negotiates`,
      mux: `the same loop with \`ssh -M -N -o ControlPath=…\` per machine first (up when its LocalCommand runs), then one \`ssh -o ControlMaster=no -o ControlPath=…\` per step, then \`ssh -O exit\``,
    }[mode],
    run: async () => {
      const rdir = join(o.dir, `round-${++round}-${name}`);
      mkdirSync(join(rdir, 'res'), { recursive: true });
      mkdirSync(join(rdir, 'out'));
      const errors = new Set<string>();
      const input = openSync(hosts, 'r');
      const code = await new Promise<number | null>((resolve, reject) => {
        // Its own process group, so that a round past its limit can be stopped whole.
        const p = spawn('xargs', ['-P', String(o.parallel), '-n', '2', script], { stdio: [input, 'ignore', 'pipe'], detached: true, env: { ...process.env, RDIR: rdir, MODE: mode, KEX: mode === 'x25519' ? X25519 : '' } });
        let stderr = '';
        p.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
        const stop = (): void => {
          try {
            process.kill(-p.pid!, 'SIGKILL');
          } catch {
            // Already gone.
          }
        };
        const limit = setTimeout(() => {
          errors.add(`stopped after ${ROUND_LIMIT_MS / 1000} s`);
          stop();
        }, ROUND_LIMIT_MS);
        stoppers.add(stop);
        p.on('error', reject);
        p.on('close', (c) => {
          stoppers.delete(stop);
          clearTimeout(limit);
          if (stderr.trim()) errors.add(`xargs: ${stderr.trim().split('\n')[0]!}`);
          resolve(c);
        });
      });
      closeSync(input);
      if (code !== 0) errors.add(`xargs exit ${code}`);
      let ok = 0;
      const stepMs: number[] = [];
      const connectMs: number[] = [];
      for (const s of o.servers) {
        let lines: string[] = [];
        try {
          lines = readFileSync(join(rdir, 'res', s.host), 'utf8').trim().split('\n');
        } catch {
          errors.add(`${s.host}: no results`);
        }
        for (const line of lines) {
          const [kind, a, b, c] = line.split(' ');
          if (kind === 'C') {
            connectMs.push(Number(b) / 1000);
            if (a !== '0') errors.add(`${s.host}: the ControlMaster did not come up`);
            continue;
          }
          const idx = Number(a);
          stepMs.push(Number(c) / 1000);
          const want = STEPS[idx]?.expect;
          let stdout = '';
          try {
            stdout = readFileSync(join(rdir, 'out', `${s.host}.${idx}`), 'utf8');
          } catch {
            // Counted below as a wrong output.
          }
          if (b === '0' && (want === undefined || stdout === want)) ok++;
          else {
            let stderr = '';
            try {
              stderr = readFileSync(join(rdir, 'out', `${s.host}.err`), 'utf8').trim().split('\n').pop()!;
            } catch {
              // No stderr file: nothing to say.
            }
            errors.add(`step ${idx + 1}: exit ${b}, ${JSON.stringify(stdout.slice(0, 40))} ${stderr}`);
          }
        }
      }
      rmSync(rdir, { recursive: true, force: true });
      return { steps: o.servers.length * STEPS.length, ok, stepMs, openStepMs: mode === 'mux' ? stepMs : [], connectMs, errors: [...errors].slice(0, 5) };
    },
  };
}

// ---------------------------------------------------------------------------------------
// The ~/.bashrc caveat, measured locally: bash as sshd starts it, with and without SHLVL=1

function bashrcCost(): { wallMs: number; cpuMs: number; sources: boolean } {
  const trial = (shlvl: boolean): { wall: number; cpu: number } => {
    const walls: number[] = [];
    let cpu = 0;
    for (let i = 0; i < 5; i++) {
      const env: Record<string, string> = { ...(process.env as Record<string, string>), SSH_CLIENT: '127.0.0.1 40000 22' };
      delete env.SHLVL;
      if (shlvl) env.SHLVL = '1';
      const c0 = childrenCpuMs();
      const t0 = performance.now();
      spawnSync('bash', ['-c', 'true'], { env, stdio: 'ignore', cwd: process.env.HOME ?? '/' });
      walls.push(performance.now() - t0);
      cpu += childrenCpuMs() - c0;
    }
    return { wall: median(walls), cpu: cpu / 5 };
  };
  const sourced = trial(false);
  const skipped = trial(true);
  const home = process.env.HOME ?? '/root';
  let sources = false;
  try {
    sources = readFileSync(join(home, '.bashrc'), 'utf8').includes('pyenv');
  } catch {
    // No ~/.bashrc.
  }
  return { wallMs: sourced.wall - skipped.wall, cpuMs: sourced.cpu - skipped.cpu, sources };
}

// ---------------------------------------------------------------------------------------
// Main

async function measure(c: Contender, servers: Sshd[]): Promise<Outcome> {
  const cpu0 = clientCpuMs();
  const srv0 = serverCpuMs(servers);
  const t0 = performance.now();
  const r = await c.run();
  const ms = performance.now() - t0;
  const clientCpu = clientCpuMs() - cpu0;
  // The listeners reap their connections' processes a moment after the clients are done.
  await sleep(300);
  return { ...r, ms, clientCpuMs: clientCpu, serverCpuMs: serverCpuMs(servers) - srv0 };
}

interface Row {
  label: string;
  cell(o: Outcome, p: number): number | undefined;
  digits: number;
}

const ROWS: Row[] = [
  { label: 'wall time, s', cell: (o) => o.ms / 1000, digits: 2 },
  { label: 'steps ok', cell: (o) => o.ok, digits: 0 },
  { label: 'steps failed', cell: (o) => o.steps - o.ok, digits: 0 },
  { label: 'steps/s', cell: (o) => (o.steps / o.ms) * 1000, digits: 1 },
  { label: 'per-step overhead: wall × P / steps, ms', cell: (o, p) => (o.ms * p) / o.steps, digits: 1 },
  { label: 'step median, ms (as each records it)', cell: (o) => median(o.stepMs), digits: 1 },
  { label: 'step p95, ms', cell: (o) => quantile(o.stepMs, 0.95), digits: 1 },
  { label: 'step median on an open connection, ms', cell: (o) => median(o.openStepMs), digits: 1 },
  { label: 'connection setup median, ms', cell: (o) => median(o.connectMs), digits: 1 },
  { label: 'client CPU, ms/step', cell: (o) => o.clientCpuMs / o.steps, digits: 2 },
  { label: 'sshd CPU, ms/step', cell: (o) => o.serverCpuMs / o.steps, digits: 2 },
];

async function main(): Promise<void> {
  const args = parseArgs({
    options: {
      targets: { type: 'string', default: '50' },
      parallel: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '3' },
      bashrc: { type: 'boolean', default: false },
      only: { type: 'string' },
    },
  }).values;
  const targets = Number(args.targets);
  const parallel = Number(args.parallel);
  const rounds = Number(args.rounds);
  if (!(Number.isInteger(targets) && targets >= 1 && targets <= 250 && parallel >= 1 && rounds >= 1)) throw new Error('--targets 1–250, --parallel and --rounds ≥ 1');
  mkdirSync(OUT_DIR, { recursive: true });
  const steps = targets * STEPS.length;
  console.log(
    `Runbooks: ${STEPS.length} steps on ${targets} sshd (127.0.3.1–${targets}, on this machine), ${parallel} machines at a time, ${rounds} interleaved rounds; ` +
      `nproc ${availableParallelism()}, load average ${loadavg()[0]!.toFixed(2)} at start`,
  );
  console.log(`  steps: ${STEPS.map((s) => s.run).join(' | ')}`);
  const rc = bashrcCost();
  console.log(
    `  caveat: ~/.bashrc ${rc.sources ? 'runs pyenv init' : 'is sourced'}; bash run by sshd sources it for every exec channel: +${fmt(rc.wallMs, 0)} ms wall, +${fmt(rc.cpuMs, 0)} ms CPU per session here. ` +
      (args.bashrc ? 'Kept (--bashrc): every step of every contender pays it.' : 'The servers set SHLVL=1 (sshd_config SetEnv), so the remote bash skips it for every contender alike; --bashrc keeps it.'),
  );

  const t = await testApp('machines: []\n', 'ssh:\n  runbooks: RBDIR\n  connectTimeoutMs: 10000\n');
  const dir = mkdtempSync(join(tmpdir(), 'ironbay-bench-rb-'));
  let fleet: { servers: Sshd[]; stop(): Promise<void> } | undefined;
  const outcomes = new Map<string, Outcome[]>();
  let chosen: Contender[] = [];
  try {
    mkdirSync(join(t.dir, 'RBDIR'));
    writeFileSync(join(t.dir, 'RBDIR', 'bench.yaml'), runbookYaml());
    const t0 = performance.now();
    fleet = await startSshdFleet(targets, {
      authorizedKeys: [t.runbooks.publicKey().publicKey],
      host: (i) => `127.0.3.${i + 1}`,
      extraConfig: args.bashrc ? [] : ['SetEnv SHLVL=1'],
    });
    const servers = fleet.servers;
    console.log(`  ${targets} sshd up in ${fmt(performance.now() - t0, 0)} ms`);
    t.writeInventory(inventory(servers));
    await t.inventory.reload('bench');
    t.store.db.prepare("UPDATE machines SET state = 'ready'").run();
    // The peers' known_hosts: every server's key, written beforehand (ironbay pins them in its warm-up).
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, servers.map((s) => `[${s.host}]:${s.port} ${s.hostPublicKey()}\n`).join(''));
    const peer = { dir, servers, parallel, key: t.runbooks.keyFile, knownHosts };
    const all = [ironbay(t, targets, parallel), sshLoop('plain', peer), sshLoop('x25519', peer), sshLoop('mux', peer)];
    chosen = all.filter((c) => args.only === undefined || args.only.split(',').includes(c.name));
    for (const c of chosen) outcomes.set(c.name, []);

    for (const c of chosen) {
      if (interrupted) break;
      const o = await measure(c, servers);
      console.log(`  warm-up ${c.name.padEnd(10)} ${fmt(o.ms / 1000, 2).padStart(6)} s  ${o.steps - o.ok} failed${o.errors.length ? `  ${o.errors.join('; ')}` : ''}`);
    }
    for (let round = 0; round < rounds; round++) {
      const order = chosen.map((_, i) => chosen[(i + round) % chosen.length]!);
      for (const c of order) {
        if (interrupted) break;
        const o = await measure(c, servers);
        outcomes.get(c.name)!.push(o);
        console.log(
          `  round ${round + 1} ${c.name.padEnd(10)} ${fmt(o.ms / 1000, 2).padStart(6)} s  ${o.ok}/${o.steps} steps ok  step median ${fmt(median(o.stepMs), 1)} ms` +
            `  client CPU ${fmt(o.clientCpuMs / 1000, 2)} s  sshd CPU ${fmt(o.serverCpuMs / 1000, 2)} s${o.errors.length ? `  ${o.errors.join('; ')}` : ''}`,
        );
      }
    }
  } finally {
    await fleet?.stop();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
  if (interrupted) {
    process.exitCode = 130;
    return;
  }
  report(chosen, outcomes, { targets, parallel, rounds, steps, bashrc: args.bashrc, bashrcCost: rc });
}

function report(chosen: Contender[], outcomes: Map<string, Outcome[]>, info: { targets: number; parallel: number; rounds: number; steps: number; bashrc: boolean; bashrcCost: ReturnType<typeof bashrcCost> }): void {
  /** The median round by wall time stands for the contender. */
  const pick = new Map(
    chosen.map((c) => {
      const os = [...outcomes.get(c.name)!].sort((a, b) => a.ms - b.ms);
      return [c.name, os[Math.floor(os.length / 2)]!];
    }),
  );
  const head = ['', ...chosen.map((c) => c.name)];
  const rows = ROWS.map((row) => [row.label, ...chosen.map((c) => fmt(row.cell(pick.get(c.name)!, info.parallel), row.digits))]);
  const ours = pick.get('ironbay');
  if (ours) rows.push(['wall time ÷ ironbay’s', ...chosen.map((c) => `${fmt(pick.get(c.name)!.ms / ours.ms, 2)}×`)]);
  console.log(`\nMedian round of ${info.rounds}: ${info.steps} steps (${info.targets} machines × ${STEPS.length}), ${info.parallel} machines at a time`);
  printTable(head, rows);
  for (const c of chosen) console.log(`  ${c.name}: ${c.how}`);
  const ssh = pick.get('ssh');
  const mux = pick.get('ssh-mux');
  if (ours && ssh) {
    const ratio = ssh.ms / ours.ms;
    const failed = ours.steps - ours.ok + (ssh.steps - ssh.ok);
    console.log(`ssh / ironbay wall time: ${fmt(ratio, 2)}× (target ≥ 3×: ${failed ? `not assessed, ${failed} steps failed in these rounds: a machine stops at its first failed step, so its wall time is not comparable` : ratio >= 3 ? 'met' : 'not met'})`);
  }
  const x25519 = pick.get('ssh-x25519');
  if (ours && x25519) console.log(`ssh-x25519 / ironbay wall time: ${fmt(x25519.ms / ours.ms, 2)}× (for information: the same key exchange on both sides)`);
  if (ours && mux) console.log(`ssh-mux / ironbay wall time: ${fmt(mux.ms / ours.ms, 2)}× (for information: one connection per machine on both sides)`);
  if (ours && ssh)
    console.log(
      `per step: ironbay records ${fmt(median(ours.openStepMs), 1)} ms median over its open connection (exec channel, command, exit status, output stored); ` +
        `a bare \`ssh\` invocation takes ${fmt(median(ssh.stepMs), 1)} ms (process, handshake, key auth, session)` +
        (x25519 ? ` (${fmt(median(x25519.stepMs), 1)} ms with ${X25519})` : '') +
        (mux ? `, an \`ssh\` over a ControlMaster ${fmt(median(mux.stepMs), 1)} ms` : ''),
    );
  console.log(`the sshd servers run on this machine (nproc ${availableParallelism()}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end): their key exchanges and sessions share the cores with the clients, and their CPU is in the sshd row`);
  console.log(
    `~/.bashrc (root's, sourced by bash under sshd): +${fmt(info.bashrcCost.wallMs, 0)} ms wall / +${fmt(info.bashrcCost.cpuMs, 0)} ms CPU per session measured here; ` +
      (info.bashrc ? 'kept in these figures (--bashrc)' : 'skipped in these figures (servers SetEnv SHLVL=1); --bashrc keeps it'),
  );
  writeFileSync(
    join(OUT_DIR, 'runbooks.json'),
    JSON.stringify(
      {
        nproc: availableParallelism(),
        loadavg: loadavg(),
        ...info,
        commands: STEPS.map((s) => s.run),
        contenders: chosen.map((c) => ({
          name: c.name,
          how: c.how,
          rounds: outcomes.get(c.name)!.map(({ stepMs, openStepMs, connectMs, ...o }) => ({
            ...o,
            stepMedianMs: median(stepMs),
            stepP95Ms: quantile(stepMs, 0.95),
            openStepMedianMs: median(openStepMs),
            connectMedianMs: median(connectMs),
          })),
        })),
      },
      null,
      2,
    ) + '\n',
  );
}

if (import.meta.main) {
  process.once('SIGINT', () => interrupt('SIGINT'));
  process.once('SIGTERM', () => interrupt('SIGTERM'));
  await main();
}
