// 1,000 BMCs from one process: the status of every one, through ironbay's IPMI client, within
// the 5 s target (issue #4). As many of them as fit are OpenIPMI ipmi_sim processes (the real
// peer, suite 3); the rest are the in-repo test BMC (suite 17, the SHA-256 suite ipmi_sim
// lacks), served by a child process so their work is not on the client's event loop.
//
//   node_modules/.bin/node --expose-gc bench/ipmi-fleet.ts [--bmcs 1000] [--sims 100] [--concurrency 256]
//
// Rounds: "cold" opens a session to every BMC (Get Channel Auth Caps, cipher suites, Open
// Session, RAKP 1–4, Set Session Privilege, then Get Chassis Status); "warm" reuses them. Memory
// per open session is the client process's heap and RSS growth with every session open,
// divided by their number. Loopback only. A measurement, not a test: exits 0 either way.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BmcTarget } from '../daemon/bmc/driver.ts';
import { IpmiClient } from '../daemon/bmc/ipmi/client.ts';
import { IpmiDriver } from '../daemon/bmc/ipmi/driver.ts';
import { startIpmiSims, type SimBmc } from '../test/helpers/ipmi-sim.ts';

const ARGS = parseArgs({ options: { bmcs: { type: 'string', default: '1000' }, sims: { type: 'string', default: '100' }, concurrency: { type: 'string', default: '256' } } }).values;
const TOTAL = Number(ARGS.bmcs);
const SIMS = Math.min(Number(ARGS.sims), TOTAL);
const CONCURRENCY = Number(ARGS.concurrency);
const TARGET_S = 5;
const PASSWORD = 'fleet-bench-pw';
const MAIN = fileURLToPath(new URL('../test/helpers/ipmi-test-bmc-main.ts', import.meta.url));

interface Round {
  name: string;
  seconds: number;
  ok: number;
  failed: number;
  errors: Map<string, number>;
}

async function startTestBmcProcess(n: number): Promise<{ ports: number[]; stop(): Promise<void> }> {
  const options = JSON.stringify({ users: [{ name: 'admin', password: PASSWORD, privilege: 4 }], suites: [3, 17], maxSessions: 4 });
  const child = spawn(process.execPath, [MAIN, '--count', String(n), '--options', options], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`test BMC process exited with ${code}`)));
  });
  const { ports } = JSON.parse(first) as { ports: number[] };
  return {
    ports,
    stop: async () => {
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await done;
    },
  };
}

async function round(name: string, drivers: IpmiDriver[]): Promise<Round> {
  const errors = new Map<string, number>();
  let ok = 0;
  const t0 = performance.now();
  await Promise.all(
    drivers.map(async (d) => {
      try {
        await d.status();
        ok++;
      } catch (e) {
        const code = (e as { code?: string }).code ?? 'other';
        errors.set(code, (errors.get(code) ?? 0) + 1);
      }
    }),
  );
  return { name, seconds: (performance.now() - t0) / 1000, ok, failed: drivers.length - ok, errors };
}

const gc = (globalThis as { gc?: () => void }).gc;
const mem = (): { heap: number; rss: number } => {
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
};

let sims: SimBmc[] = [];
let testBmcs: Awaited<ReturnType<typeof startTestBmcProcess>> | undefined;
const client = new IpmiClient({ timeoutMs: 1000, retries: 3, maxConcurrent: CONCURRENCY, idleCloseMs: 600_000 });
try {
  console.log(`starting ${SIMS} ipmi_sim and ${TOTAL - SIMS} in-repo test BMCs on loopback …`);
  const s0 = performance.now();
  sims = await startIpmiSims(SIMS, { username: 'admin', password: PASSWORD, powerOn: true });
  testBmcs = TOTAL > SIMS ? await startTestBmcProcess(TOTAL - SIMS) : undefined;
  console.log(`peers up in ${((performance.now() - s0) / 1000).toFixed(1)} s`);
  const targets: BmcTarget[] = [
    ...sims.map((s) => ({ driver: 'ipmi' as const, host: s.host, port: s.port, username: 'admin', password: PASSWORD })),
    ...(testBmcs?.ports ?? []).map((port) => ({ driver: 'ipmi' as const, host: '127.0.0.1', port, username: 'admin', password: PASSWORD })),
  ];
  const drivers = targets.map((t) => new IpmiDriver(t, client));
  const before = mem();
  const cold = await round('cold (a new session each)', drivers);
  const open = client.openSessions;
  const after = mem();
  const warm = await round('warm (sessions reused)', drivers);
  const suites = new Map<number, number>();
  for (const t of targets) {
    const s = client.suiteOf(t);
    if (s !== undefined) suites.set(s, (suites.get(s) ?? 0) + 1);
  }

  console.log(`\n## ${TOTAL} BMCs (${SIMS} ipmi_sim, ${TOTAL - SIMS} test BMCs), Get Chassis Status each, ${CONCURRENCY} in flight\n`);
  console.log('| round | seconds | BMCs/s | ok | failed | vs 5 s target |');
  console.log('|---|---|---|---|---|---|');
  for (const r of [cold, warm]) {
    const errs = [...r.errors].map(([c, n]) => `${c}×${n}`).join(' ');
    console.log(`| ${r.name} | ${r.seconds.toFixed(2)} | ${Math.round(TOTAL / r.seconds)} | ${r.ok} | ${r.failed}${errs ? ` (${errs})` : ''} | ${(r.seconds / TARGET_S).toFixed(2)}× the budget |`);
  }
  console.log(`\nsessions open: ${open}; cipher suites chosen: ${[...suites].map(([s, n]) => `${s}: ${n}`).join(', ')}; sessions opened in all: ${client.sessionsOpened}`);
  if (open) console.log(`memory per open session: heap ${((after.heap - before.heap) / open / 1024).toFixed(2)} KiB, RSS ${((after.rss - before.rss) / open / 1024).toFixed(2)} KiB${gc ? '' : ' (run with --expose-gc for steadier figures)'}`);
  console.log(`datagrams dropped by the client: ${[...client.drops].map(([r, n]) => `${r}×${n}`).join(' ') || 'none'}`);
} finally {
  await client.close();
  await testBmcs?.stop();
  await Promise.all(sims.map((s) => s.stop()));
}
