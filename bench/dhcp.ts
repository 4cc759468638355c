// DHCP benchmark: ironbay's DHCP server against Kea (kea-dhcp4, memfile) and dnsmasq, all
// driven by Kea's own load generator, perfdhcp, acting as a relay (giaddr set) from another
// network namespace — the way one appliance serves many racks.
//
//   node_modules/.bin/node bench/dhcp.ts [--quick]
//
// 1. Loss-free rate: perfdhcp -r RATE for PERIOD_S seconds against a fresh server, rates
//    climbing until DORAs get lost; the highest rate without a single lost exchange counts.
// 2. Storm: 10,000 distinct clients all at once (perfdhcp --scenario avalanche: every
//    DISCOVER first, then each client retransmits with back-off until answered); the time
//    until every client holds a lease.
// ironbay runs as the real daemon in discovery mode, so every new client is also registered
// as a discovered machine, and every lease is committed to SQLite (fsynced) before its ACK
// leaves. Kea's memfile appends leases to a CSV without fsync; dnsmasq rewrites its lease
// file. Addresses: 198.18.0.0/15 (RFC 2544 benchmark networks) inside the namespaces only.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { TestDaemon } from '../test/helpers/daemon.ts';
import { Netns } from '../test/helpers/netns.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = join(REPO, 'bench/out');
const QUICK = process.argv.includes('--quick');
const PERIOD_S = QUICK ? 3 : 5;
const RATES = QUICK ? [1000, 2000, 3000] : [500, 1000, 2000, 3000, 3500, 4000, 4500, 5000, 6000, 8000];
/**
 * perfdhcp stops at the end of -p and counts answers still in flight as lost: a server that
 * answers in 1 ms instead of 0.1 ms would lose its last exchange of every run. -W makes it
 * wait (µs) for those, the same for every server.
 */
const EXIT_WAIT_US = 2_000_000;
const STORM_CLIENTS = QUICK ? 2000 : 10_000;
/** perfdhcp's back-off makes a slow server's storm run on for many minutes; it is cut here. */
const STORM_LIMIT_S = QUICK ? 60 : 300;
const SERVER = '198.18.0.1';
const RELAY = '198.18.0.2';
const POOL = { start: '198.18.1.0', end: '198.19.255.250' };

interface Exchange {
  sent: number;
  received: number;
  drops: number;
  avgDelayMs: number;
}
interface PerfResult {
  discover: Exchange;
  request: Exchange;
  /** Avalanche only: seconds until every client was provisioned. */
  provisionedS?: number;
  raw: string;
}

interface Server {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function parsePerf(out: string): PerfResult {
  const block = (title: string): Exchange => {
    const i = out.indexOf(`***Statistics for: ${title}***`);
    const part = i >= 0 ? out.slice(i, i + 800) : '';
    const num = (re: RegExp): number => Number(re.exec(part)?.[1] ?? NaN);
    return { sent: num(/sent packets: (\d+)/), received: num(/received packets: (\d+)/), drops: num(/drops: (\d+)/), avgDelayMs: num(/avg delay: ([\d.]+) ms/) };
  };
  const took = /It took (\d+):(\d+):([\d.]+) to provision/.exec(out);
  return {
    discover: block('DISCOVER-OFFER'),
    request: block('REQUEST-ACK'),
    ...(took ? { provisionedS: Number(took[1]) * 3600 + Number(took[2]) * 60 + Number(took[3]) } : {}),
    raw: out,
  };
}

const lossless = (r: PerfResult): boolean =>
  r.discover.drops === 0 && r.request.drops === 0 && r.discover.sent > 0 && r.request.received === r.discover.sent;

async function main(): Promise<void> {
  const lab = new Netns('bdh');
  const work = mkdtempSync(join(tmpdir(), 'ironbay-bench-dhcp-'));
  try {
    const gen = await lab.add('gen');
    const srv = await lab.add('srv');
    const [, srvIf] = await lab.veth({ ns: gen, suffix: 'g', cidr: `${RELAY}/15` }, { ns: srv, suffix: 's', cidr: `${SERVER}/15` });

    const waitExit = (p: ChildProcess): Promise<void> =>
      new Promise((resolve) => {
        if (p.exitCode !== null || p.signalCode !== null) return resolve();
        p.once('exit', () => resolve());
      });
    const stopProc = async (p: ChildProcess | undefined): Promise<void> => {
      if (!p) return;
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await waitExit(p);
      clearTimeout(t);
    };
    /** Resolves when `port` (UDP) is bound in the server namespace. */
    const waitBound = async (port: number): Promise<void> => {
      for (let i = 0; i < 100; i++) {
        const r = await lab.try(srv, 'ss', ['-Hlun', `sport = :${port}`]);
        if (r.stdout.trim()) return;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`nothing bound UDP ${port} in the server namespace`);
    };

    let ironbay: TestDaemon | undefined;
    const inventory = `networks:\n  boot:\n    - name: bench\n      subnet: 198.18.0.0/15\n      pool: { start: ${POOL.start}, end: ${POOL.end} }\n      leaseSeconds: 3600\n`;
    const ours: Server = {
      name: 'ironbay',
      start: async () => {
        ironbay = await TestDaemon.start({
          inventory,
          netns: srv,
          logLevel: 'info',
          configExtra: `boot: { interfaces: [${srvIf}], mode: discovery }\n`,
        });
      },
      stop: async () => {
        await ironbay?.stop();
        ironbay?.cleanup();
        ironbay = undefined;
      },
    };

    let keaProc: ChildProcess | undefined;
    const kea: Server = {
      name: 'kea',
      start: async () => {
        const dir = join(work, `kea-${Date.now()}`);
        mkdirSync(dir);
        const conf = join(dir, 'kea.json');
        writeFileSync(
          conf,
          JSON.stringify({
            Dhcp4: {
              'interfaces-config': { interfaces: [srvIf], 'dhcp-socket-type': 'udp' },
              'lease-database': { type: 'memfile', persist: true, name: join(dir, 'leases.csv'), 'lfc-interval': 0 },
              'valid-lifetime': 3600,
              subnet4: [{ id: 1, subnet: '198.18.0.0/15', pools: [{ pool: `${POOL.start} - ${POOL.end}` }] }],
              loggers: [{ name: 'kea-dhcp4', output_options: [{ output: join(dir, 'kea.log') }], severity: 'WARN' }],
            },
          }),
        );
        keaProc = lab.spawn(srv, 'env', [`KEA_LOCKFILE_DIR=${dir}`, `KEA_PIDFILE_DIR=${dir}`, 'kea-dhcp4', '-c', conf]);
        await waitBound(67);
      },
      stop: async () => {
        await stopProc(keaProc);
        keaProc = undefined;
      },
    };

    let dnsmasqProc: ChildProcess | undefined;
    const dnsmasq: Server = {
      name: 'dnsmasq',
      start: async () => {
        const dir = join(work, `dnsmasq-${Date.now()}`);
        mkdirSync(dir);
        dnsmasqProc = lab.spawn(srv, 'dnsmasq', [
          '--no-daemon',
          '--conf-file=/dev/null',
          '--port=0',
          `--interface=${srvIf}`,
          '--bind-interfaces',
          `--dhcp-range=${POOL.start},${POOL.end},255.254.0.0,1h`,
          `--dhcp-leasefile=${join(dir, 'leases')}`,
          '--dhcp-lease-max=200000',
          // Same terms as ours: no ICMP probe before an offer.
          '--no-ping',
          `--pid-file=${join(dir, 'pid')}`,
          '--user=root',
          '--log-facility=-',
          '--quiet-dhcp',
        ]);
        await waitBound(67);
      },
      stop: async () => {
        await stopProc(dnsmasqProc);
        dnsmasqProc = undefined;
      },
    };

    /** perfdhcp, stopped with SIGINT (it then prints its report) after `limitS` seconds. */
    const perf = async (args: string[], limitS = 600): Promise<PerfResult & { stoppedAtS?: number }> => {
      const p = lab.spawn(gen, 'perfdhcp', ['-4', '-l', RELAY, ...args, SERVER]);
      let out = '';
      p.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      let stopped = false;
      const timer = setTimeout(() => {
        stopped = true;
        p.kill('SIGINT');
      }, limitS * 1000);
      await waitExit(p);
      clearTimeout(timer);
      return { ...parsePerf(out), ...(stopped ? { stoppedAtS: limitS } : {}) };
    };

    const servers = [ours, kea, dnsmasq];
    const results: Record<string, { ladder: { rate: number; result: Omit<PerfResult, 'raw'> }[]; lossFree: number; storm?: Omit<PerfResult, 'raw'> & { stoppedAtS?: number } }> = {};
    for (const s of servers) results[s.name] = { ladder: [], lossFree: 0 };

    console.log(`DHCP benchmark: ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}; perfdhcp relays from ${RELAY} to ${SERVER}\n`);
    // Loss-free rate: the servers take turns at each rate, so a busy moment of the machine
    // does not favour one of them.
    const climbing = new Set(servers.map((s) => s.name));
    for (const rate of RATES) {
      for (const s of servers) {
        if (!climbing.has(s.name)) continue;
        await s.start();
        const r = await perf(['-r', String(rate), '-R', '1000000', '-p', String(PERIOD_S), '-W', String(EXIT_WAIT_US)]);
        await s.stop();
        const { raw: _raw, ...result } = r;
        results[s.name]!.ladder.push({ rate, result });
        const ok = lossless(r);
        console.log(
          `  ${s.name.padEnd(8)} ${String(rate).padStart(5)}/s  DORA ${String(r.request.received).padStart(6)}/${String(r.discover.sent).padEnd(6)} lost ${String(r.discover.drops + r.request.drops).padStart(5)}  delay ${r.discover.avgDelayMs.toFixed(1)}+${r.request.avgDelayMs.toFixed(1)} ms${ok ? '' : '  ← loss'}`,
        );
        if (ok) results[s.name]!.lossFree = rate;
        else climbing.delete(s.name);
      }
      if (!climbing.size) break;
    }

    console.log(`\nStorm: ${STORM_CLIENTS} clients at once (perfdhcp --scenario avalanche)`);
    for (const s of servers) {
      await s.start();
      const r = await perf(['--scenario', 'avalanche', '-R', String(STORM_CLIENTS)], STORM_LIMIT_S);
      await s.stop();
      const { raw: _raw, ...result } = r;
      results[s.name]!.storm = result;
      const done = r.provisionedS !== undefined && r.stoppedAtS === undefined;
      console.log(`  ${s.name.padEnd(8)} ${done ? `${r.provisionedS!.toFixed(1)} s` : `unfinished after ${String(STORM_LIMIT_S)} s`}  (${r.request.received}/${STORM_CLIENTS} ACKed)`);
    }

    const o = results.ironbay!;
    const k = results.kea!;
    const d = results.dnsmasq!;
    const ratio = (a: number | undefined, b: number | undefined): string => (a && b ? (a / b).toFixed(2) : 'n/a');
    console.log('\n| | ironbay | Kea (memfile) | dnsmasq | ironbay / Kea |');
    console.log('|---|---|---|---|---|');
    console.log(`| loss-free DORA/s | ${o.lossFree} | ${k.lossFree} | ${d.lossFree} | ${ratio(o.lossFree, k.lossFree)} (target ≥ 1) |`);
    const st = (x: typeof o): string =>
      x.storm?.provisionedS === undefined || x.storm.stoppedAtS !== undefined
        ? `> ${String(STORM_LIMIT_S)} s (${String(x.storm?.request.received ?? 0)} ACKed)`
        : `${x.storm.provisionedS.toFixed(1)} s`;
    console.log(`| ${STORM_CLIENTS}-client storm | ${st(o)} | ${st(k)} | ${st(d)} | ${ratio(o.storm?.provisionedS, k.storm?.provisionedS)} (target < 1) |`);
    mkdirSync(OUT_DIR, { recursive: true });
    writeFileSync(join(OUT_DIR, 'dhcp.json'), JSON.stringify({ when: new Date().toISOString(), quick: QUICK, results }, null, 2));
  } finally {
    await lab.dispose();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
