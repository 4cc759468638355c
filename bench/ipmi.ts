// IPMI power-status benchmark: 200 "chassis power status" calls spread over 20 ipmi_sim BMCs,
// 10 at a time, by each contender in turn:
//   ipmitool          `ipmitool -I lanplus -C 3 chassis power status`, one process per call
//   ipmi-power        FreeIPMI `ipmi-power --stat`, one process per call
//   ipmi-power fanout FreeIPMI `ipmi-power --stat --fanout 10` over all 20 BMCs in one process,
//                     run 10 times (200 calls); it cannot time single calls
// Every call opens and closes its own RMCP+ session (suite 3), as each tool does. A contender
// that keeps sessions open is welcome, and is then faster for a reason the table should say.
//
//   node_modules/.bin/node bench/ipmi.ts [--calls=200] [--bmcs=20] [--parallel=10] [--repeat=3] [--only=ipmitool,…]
//
// Another contender (ironbay's own client) is one function away — see perCall() and main().
// Rounds interleave the contenders (the machine's other load is shared); the table shows each
// contender's median round. Half of the BMCs are powered on and every answer is checked against
// its BMC's chassis: a wrong answer counts as a failure. Each BMC listens on its own loopback
// address (127.83.N.1): FreeIPMI prints results by host name, without the port.
// Writes bench/out/ipmi.json. A measurement, not a test: exits 0 whatever the figures.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ipmitool, simRssKiB, startIpmiSim, type SimBmc } from '../test/helpers/ipmi-sim.ts';
import { run } from '../test/helpers/run.ts';
import { clientCpuMs, fmt, median, processCpuMs, printTable, quantile } from './_stats.ts';
import type { BmcTarget } from '../daemon/bmc/driver.ts';
import { IpmiClient } from '../daemon/bmc/ipmi/client.ts';
import { IpmiDriver } from '../daemon/bmc/ipmi/driver.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = join(REPO, 'bench/out');

export type PowerAnswer = 'on' | 'off';

export interface BenchPlan {
  calls: number;
  parallel: number;
}

export interface Outcome {
  calls: number;
  failures: number;
  /** Wall time of the whole run, ms. */
  ms: number;
  /** Per call, ms; empty when the contender cannot time single calls. */
  latencies: number[];
  /** CPU of the client side (this process and the processes it waited for), ms. */
  clientCpuMs: number;
  /** CPU of all the BMCs (ipmi_sim and its chassis_control shells), ms. */
  bmcCpuMs: number;
  /** Up to 5 distinct failure messages. */
  errors: string[];
  note?: string;
}

export interface Contender {
  name: string;
  how: string;
  /** Makes plan.calls calls over bmcs; fills calls, failures, latencies, errors, note. */
  run(bmcs: SimBmc[], expected: PowerAnswer[], plan: BenchPlan): Promise<Pick<Outcome, 'calls' | 'failures' | 'latencies' | 'errors' | 'note'>>;
}

/**
 * A contender from one call: `status(bmc)` answers what the BMC says its power is. Call i goes
 * to BMC i mod n; plan.parallel calls are in flight at any time.
 */
export function perCall(name: string, how: string, status: (bmc: SimBmc) => Promise<PowerAnswer>): Contender {
  return {
    name,
    how,
    run: async (bmcs, expected, plan) => {
      const latencies: number[] = [];
      const errors = new Set<string>();
      let failures = 0;
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < plan.calls; i = next++) {
          const k = i % bmcs.length;
          const t0 = performance.now();
          try {
            const got = await status(bmcs[k]!);
            latencies.push(performance.now() - t0);
            if (got !== expected[k]) {
              failures++;
              errors.add(`wrong answer: ${got}, the chassis is ${expected[k]}`);
            }
          } catch (e) {
            failures++;
            errors.add((e as Error).message.split('\n')[0]!);
          }
        }
      };
      await Promise.all(Array.from({ length: plan.parallel }, worker));
      return { calls: plan.calls, failures, latencies, errors: [...errors].slice(0, 5) };
    },
  };
}

// ---------------------------------------------------------------------------------------
// The peers

const ipmitoolStatus = async (bmc: SimBmc): Promise<PowerAnswer> => {
  const r = await ipmitool(bmc, ['chassis', 'power', 'status']);
  const m = /^Chassis Power is (on|off)$/m.exec(r.stdout);
  if (!m) throw new Error(`ipmitool exit ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return m[1] as PowerAnswer;
};

/** FreeIPMI needs -W opensesspriv with ipmi_sim (see test/helpers/ipmi-sim.ts). */
const freeipmiArgs = (bmcs: SimBmc[]): string[] => [
  '-D',
  'LAN_2_0',
  '-h',
  bmcs.map((b) => `${b.host}:${b.port}`).join(','),
  '-u',
  bmcs[0]!.username,
  '-p',
  bmcs[0]!.password,
  '-I',
  '3',
  '-W',
  'opensesspriv',
  '--stat',
];

const ipmiPowerStatus = async (bmc: SimBmc): Promise<PowerAnswer> => {
  const r = await run('ipmi-power', freeipmiArgs([bmc]));
  const m = /^(?:\S+: )?(on|off)$/m.exec(r.stdout);
  if (!m) throw new Error(`ipmi-power exit ${r.code}: ${(r.stdout + r.stderr).trim()}`);
  return m[1] as PowerAnswer;
};

/** ipmi-power over all BMCs per process, --fanout = plan.parallel; calls / bmcs processes in a row. */
const ipmiPowerFanout: Contender = {
  name: 'ipmi-power fanout',
  how: 'FreeIPMI ipmi-power --stat --fanout P over all BMCs, one process per sweep',
  run: async (bmcs, expected, plan) => {
    const sweeps = Math.ceil(plan.calls / bmcs.length);
    const byHost = new Map(bmcs.map((b, i) => [b.host, expected[i]!]));
    const errors = new Set<string>();
    const sweepMs: number[] = [];
    let failures = 0;
    for (let s = 0; s < sweeps; s++) {
      const t0 = performance.now();
      const r = await run('ipmi-power', [...freeipmiArgs(bmcs), '--fanout', String(plan.parallel)]);
      sweepMs.push(performance.now() - t0);
      const seen = new Set<string>();
      for (const line of r.stdout.split('\n').filter(Boolean)) {
        const m = /^(\S+): (.*)$/.exec(line);
        const want = m ? byHost.get(m[1]!) : undefined;
        if (!m || want === undefined) {
          failures++;
          errors.add(`unexpected line: ${line}`);
          continue;
        }
        seen.add(m[1]!);
        if (m[2] !== want) {
          failures++;
          errors.add(`${m[2]!} (the chassis is ${want})`);
        }
      }
      const missing = bmcs.length - seen.size;
      if (missing > 0) {
        failures += missing;
        errors.add(`${missing} BMCs without an answer: ${r.stderr.trim()}`);
      }
    }
    return {
      calls: sweeps * bmcs.length,
      failures,
      latencies: [],
      errors: [...errors].slice(0, 5),
      note: `${sweeps} sweeps of ${bmcs.length} BMCs, median ${fmt(median(sweepMs), 0)} ms per sweep`,
    };
  },
};

export const PEERS: Contender[] = [
  perCall('ipmitool', 'ipmitool -I lanplus -C 3 chassis power status, one process per call', ipmitoolStatus),
  perCall('ipmi-power', 'FreeIPMI ipmi-power -I 3 --stat, one process per call', ipmiPowerStatus),
  ipmiPowerFanout,
];

// ---------------------------------------------------------------------------------------
// Accounting

/** utime + stime + cutime + cstime of a BMC (its chassis_control shells are waited for). */
const bmcCpuMs = (bmcs: SimBmc[]): number => processCpuMs(bmcs.map((b) => b.pid));

async function measure(c: Contender, bmcs: SimBmc[], expected: PowerAnswer[], plan: BenchPlan): Promise<Outcome> {
  const cpu0 = clientCpuMs();
  const bmc0 = bmcCpuMs(bmcs);
  const t0 = performance.now();
  const r = await c.run(bmcs, expected, plan);
  const ms = performance.now() - t0;
  return { ...r, ms, clientCpuMs: clientCpuMs() - cpu0, bmcCpuMs: bmcCpuMs(bmcs) - bmc0 };
}

// ---------------------------------------------------------------------------------------
// Main

interface Row {
  label: string;
  cell(o: Outcome): number | undefined;
  digits: number;
  /** Lower is better (for the ratio column). */
  lower: boolean;
}

const ROWS: Row[] = [
  { label: 'calls/s', cell: (o) => (o.calls / o.ms) * 1000, digits: 0, lower: false },
  { label: 'failed calls', cell: (o) => o.failures, digits: 0, lower: true },
  { label: 'latency median, ms', cell: (o) => median(o.latencies), digits: 1, lower: true },
  { label: 'latency p95, ms', cell: (o) => quantile(o.latencies, 0.95), digits: 1, lower: true },
  { label: 'client CPU ms/call', cell: (o) => o.clientCpuMs / o.calls, digits: 2, lower: true },
  { label: 'BMC CPU ms/call', cell: (o) => o.bmcCpuMs / o.calls, digits: 2, lower: true },
];

/**
 * Runs the bench with `contenders` (default: the peers). A contender named "ironbay" gets a
 * last column comparing it with the best peer on each row.
 */
export async function main(contenders: Contender[] = PEERS): Promise<void> {
  const args = parseArgs({
    options: {
      calls: { type: 'string', default: '200' },
      bmcs: { type: 'string', default: '20' },
      parallel: { type: 'string', default: '10' },
      repeat: { type: 'string', default: '3' },
      only: { type: 'string' },
    },
  }).values;
  const plan: BenchPlan = { calls: Number(args.calls), parallel: Number(args.parallel) };
  const nBmcs = Number(args.bmcs);
  const repeat = Number(args.repeat);
  if (!(nBmcs >= 1 && nBmcs <= 250 && plan.calls >= 1 && plan.parallel >= 1 && repeat >= 1)) throw new Error('--bmcs 1–250, --calls, --parallel and --repeat ≥ 1');
  const chosen = contenders.filter((c) => args.only === undefined || args.only.split(',').includes(c.name));
  mkdirSync(OUT_DIR, { recursive: true });

  console.log(`IPMI: ${plan.calls} × chassis power status over ${nBmcs} ipmi_sim BMCs, ${plan.parallel} in flight, ${repeat} interleaved rounds; ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(2)} at start`);
  // 127.83.N.1: one loopback address per BMC, so that FreeIPMI's output (host names, no
  // ports) tells them apart.
  const t0 = performance.now();
  const bmcs = await Promise.all(Array.from({ length: nBmcs }, (_, i) => startIpmiSim({ host: `127.83.${i + 1}.1`, password: 'bench-pass', powerOn: i % 2 === 0 })));
  const expected: PowerAnswer[] = bmcs.map((_, i) => (i % 2 === 0 ? 'on' : 'off'));
  console.log(`  ${nBmcs} BMCs up in ${fmt(performance.now() - t0, 0)} ms`);
  const rssBefore = bmcs.map((b) => simRssKiB(b) ?? NaN);
  const rounds = new Map<string, Outcome[]>(chosen.map((c) => [c.name, []]));
  let rssAfter: number[];
  try {
    // Warm-up, not measured: each contender once over every BMC.
    for (const c of chosen) await c.run(bmcs, expected, { calls: nBmcs, parallel: plan.parallel });
    for (let round = 0; round < repeat; round++) {
      const order = chosen.map((_, i) => chosen[(i + round) % chosen.length]!);
      for (const c of order) {
        const o = await measure(c, bmcs, expected, plan);
        rounds.get(c.name)!.push(o);
        console.log(
          `  round ${round + 1} ${c.name.padEnd(18)} ${fmt((o.calls / o.ms) * 1000, 0).padStart(6)} calls/s  ${o.failures} failed` +
            `${o.latencies.length ? `  median ${fmt(median(o.latencies), 1)} ms` : ''}${o.note ? `  (${o.note})` : ''}${o.errors.length ? `  ${o.errors.join('; ')}` : ''}`,
        );
      }
    }
    rssAfter = bmcs.map((b) => simRssKiB(b) ?? NaN);
  } finally {
    await Promise.all(bmcs.map((b) => b.stop()));
  }
  report(chosen, rounds, { rssBefore, rssAfter, plan, nBmcs, repeat });
}

function report(chosen: Contender[], rounds: Map<string, Outcome[]>, info: { rssBefore: number[]; rssAfter: number[]; plan: BenchPlan; nBmcs: number; repeat: number }): void {
  /** The round with the median throughput stands for the contender. */
  const pick = new Map(
    chosen.map((c) => {
      const os = [...rounds.get(c.name)!].sort((a, b) => a.calls / a.ms - b.calls / b.ms);
      return [c.name, os[Math.floor(os.length / 2)]!];
    }),
  );
  const ours = pick.get('ironbay');
  const peers = chosen.filter((c) => c.name !== 'ironbay');
  const head = ['', ...chosen.map((c) => c.name), ...(ours ? ['ironbay/best peer'] : [])];
  const table = ROWS.map((row) => {
    const cells = chosen.map((c) => fmt(row.cell(pick.get(c.name)!), row.digits));
    if (ours) {
      const vals = peers.map((c) => row.cell(pick.get(c.name)!)).filter((v): v is number => v !== undefined && Number.isFinite(v));
      const best = row.lower ? Math.min(...vals) : Math.max(...vals);
      const mine = row.cell(ours);
      cells.push(mine !== undefined && vals.length && best !== 0 ? fmt(mine / best, 2) : 'n/a');
    }
    return [row.label, ...cells];
  });
  console.log(`\nMedian round of ${info.repeat}: ${info.plan.calls} calls, ${info.nBmcs} BMCs, ${info.plan.parallel} in flight`);
  printTable(head, table);
  for (const c of chosen) console.log(`  ${c.name}: ${c.how}${pick.get(c.name)!.note ? ` — ${pick.get(c.name)!.note}` : ''}`);
  const kib = (xs: number[]): string => `median ${fmt(median(xs) / 1024, 1)} MiB, total ${fmt(xs.reduce((a, b) => a + b, 0) / 1024, 1)} MiB`;
  console.log(`ipmi_sim resident memory: at start ${kib(info.rssBefore)}; at the end ${kib(info.rssAfter)}`);
  writeFileSync(
    join(OUT_DIR, 'ipmi.json'),
    JSON.stringify({ cpus: cpus().length, loadavg: loadavg(), ...info, contenders: chosen.map((c) => ({ name: c.name, how: c.how, rounds: rounds.get(c.name)!.map(({ latencies, ...o }) => ({ ...o, medianMs: median(latencies), p95Ms: quantile(latencies, 0.95) })) })) }, null, 2) + '\n',
  );
}

// ironbay's own client, twice: as it runs in the daemon (one session per BMC, kept across
// calls), and with a new session for every call (opened, used once, closed), which is the
// work each peer's process does; the table's last column compares the first with the best peer.
const client = new IpmiClient({ timeoutMs: 1000, retries: 3 });
const target = (bmc: SimBmc): BmcTarget => ({ driver: 'ipmi', host: bmc.host, port: bmc.port, username: bmc.username, password: bmc.password, cipherSuite: 3 });
const IRONBAY: Contender[] = [
  perCall('ironbay-per-call', 'ironbay IpmiClient, a new session for each call (open, Get Chassis Status, close), suite 3', async (bmc) => {
    const c = new IpmiClient({ timeoutMs: 1000, retries: 3 });
    try {
      return (await new IpmiDriver(target(bmc), c).status()).power;
    } finally {
      await c.close();
    }
  }),
  perCall('ironbay', 'ironbay IpmiClient as the daemon runs it: one session per BMC, kept across calls, suite 3', async (bmc) => (await new IpmiDriver(target(bmc), client).status()).power),
];

if (import.meta.main) {
  try {
    await main([...PEERS, ...IRONBAY]);
  } finally {
    await client.close();
  }
}
