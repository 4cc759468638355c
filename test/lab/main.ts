// npm run lab — a virtual datacenter provisioned end to end by the real daemon (see lab.ts).
//
//   npm run lab                          up: build, start, provision every machine, watch them to
//                                        ready, print a summary; the lab then stays up
//   npm run lab -- --machines 5          how many machines (default 3; odd BIOS, even UEFI)
//   npm run lab -- --port 8471           the API/web page on the host's loopback (default 8470)
//   npm run lab -- --foreground          stay attached after the summary; Ctrl-C (or closing
//                                        the terminal) tears down
//   npm run lab -- --keep                leave what was made in place when the start fails
//   npm run lab -- --timeout 20          minutes to wait for the machines (default 15)
//   npm run lab -- --down                tear down the lab (from its state file)
//   npm run lab -- --dir DIR ...         another lab folder (default build/lab/run)
// Exit code: 0 when every machine is ready, 1 when one failed or the wait timed out, 2 on a
// usage error.
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO } from '../helpers/daemon.ts';
import { DEFAULT_DIR, startLab, stopLab, type Lab, type WatchResult } from './lab.ts';
import { duration, Progress } from './progress.ts';

const USAGE = 'usage: npm run lab -- [--machines N] [--port P] [--foreground] [--keep] [--timeout MIN] [--dir DIR] | --down [--dir DIR]';

function parse(): { down: boolean; machines: number; port: number; foreground: boolean; keep: boolean; timeoutMin: number; dir: string } {
  try {
    const { values } = parseArgs({
      options: {
        down: { type: 'boolean', default: false },
        machines: { type: 'string', default: '3' },
        port: { type: 'string', default: '8470' },
        foreground: { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
        timeout: { type: 'string', default: '15' },
        dir: { type: 'string', default: DEFAULT_DIR },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    const int = (v: string, what: string, min: number, max: number): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${what}: an integer ${min}–${max}, got ${v}`);
      return n;
    };
    return {
      down: values.down,
      machines: int(values.machines, 'machines', 1, 32),
      port: int(values.port, 'port', 0, 65535),
      foreground: values.foreground,
      keep: values.keep,
      timeoutMin: int(values.timeout, 'timeout', 1, 24 * 60),
      dir: values.dir,
    };
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const rel = (p: string): string => (p.startsWith(REPO) ? relative(REPO, p) : p);
const stamp = (): string => new Date().toISOString().slice(11, 19);

function summary(lab: Lab, w: WatchResult): string[] {
  const out = ['', w.timedOut ? 'Timed out waiting for the machines:' : w.ok ? 'Every machine is done:' : 'A machine failed:'];
  for (const m of w.machines) {
    const took = m.poweredOnAt && m.doneAt ? duration(m.doneAt - m.poweredOnAt) : '-';
    out.push(`  ${m.name.padEnd(8)} ${m.firmware.padEnd(5)} ${m.outcome.padEnd(14)} power-on → ${m.outcome}: ${took}${m.reason ? `  (${m.reason})` : ''}`);
  }
  const last = Math.max(...w.machines.map((m) => m.doneAt ?? 0));
  if (last > lab.provisionedAt) out.push(`  provision → last machine ${w.ok ? 'ready' : 'done'}: ${duration(last - lab.provisionedAt)}`);
  out.push(`  consoles: ${rel(lab.dir)}/machines/NAME/console.log   chassis/BMC log: …/NAME/events   daemon: ${rel(lab.dir)}/logs/daemon.log`);
  return out;
}

function howTo(lab: Lab): string[] {
  return [
    '',
    `The lab is up (prefix ${lab.prefix}):`,
    `  web page   ${lab.url}/`,
    `  API token  ${lab.tokenFile}`,
    `  CLI        IRONBAY_URL=${lab.url} IRONBAY_TOKEN=$(cat ${lab.tokenFile}) npx ironbay machines`,
    `  appliance  ip netns exec ${lab.net.appNs} bash     (boot ${lab.net.appIfs.boot} 198.18.0.1, BMCs 198.18.1.1X, production 198.18.2.1X)`,
    `  tear down  npm run lab -- --down${lab.dir === DEFAULT_DIR ? '' : ` --dir ${lab.dir}`}`,
  ];
}

async function main(): Promise<number> {
  const o = parse();
  if (o.down) {
    for (const l of await stopLab(o.dir)) console.log(l);
    return 0;
  }

  let phase: 'setup' | 'watch' | 'foreground' = 'setup';
  const abort = new AbortController();
  // A closed terminal (SIGHUP) must not turn into a crash on the next write.
  process.stdout.on('error', () => undefined);
  const interrupted = (): void => {
    // During setup: startLab stops at its next step and tears down what it made (a second
    // Ctrl-C leaves at once; --down cleans up from the state file). While watching, the lab is
    // left as it is. In the foreground, it is torn down.
    if (phase === 'setup' && !abort.signal.aborted) {
      console.log('\ninterrupted: stopping the start and tearing down what was made …');
      abort.abort();
      return;
    }
    if (phase !== 'foreground') {
      console.log(`\ninterrupted: the lab stays as it is; npm run lab -- --down tears it down`);
      process.exit(130);
    }
    console.log('\ntearing down …');
    void stopLab(o.dir).then(
      (done) => {
        for (const l of done) console.log(l);
        process.exit(0);
      },
      (e: unknown) => {
        console.error(e);
        process.exit(1);
      },
    );
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, interrupted);

  const t0 = Date.now();
  const lab = await startLab({ machines: o.machines, dir: o.dir, hostPort: o.port, keepOnError: o.keep, signal: abort.signal, log: (l) => console.log(`${stamp()} ${l}`) }).catch(
    (e: unknown) => {
      if (abort.signal.aborted) {
        console.log('interrupted: torn down');
        process.exit(130);
      }
      throw e;
    },
  );
  console.log(`${stamp()} lab up in ${duration(Date.now() - t0)}: API ${lab.url}, ${lab.machines.length} machines (${lab.machines.map((m) => `${m.name} ${m.firmware}`).join(', ')})`);

  phase = 'watch';
  console.log(`${stamp()} ironbay provision --all`);
  for (const l of (await lab.provision()).trimEnd().split('\n')) console.log(`  ${l}`);
  const progress = new Progress();
  const w = await lab.watch({ timeoutMs: o.timeoutMin * 60_000, onUpdate: (rows) => progress.update(rows) });
  progress.detach();
  for (const l of summary(lab, w)) console.log(l);
  for (const l of howTo(lab)) console.log(l);

  if (o.foreground) {
    phase = 'foreground';
    console.log('\nforeground: the table keeps updating; Ctrl-C tears the lab down');
    const live = new Progress();
    for (;;) {
      live.update(await lab.rows());
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  return w.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`lab: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
