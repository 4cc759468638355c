// TFTP boot-storm benchmark: 200 clients at once fetching a 1 MiB file (an iPXE-sized binary)
// and 200 fetching a 64 KiB one, in three modes — plain RFC 1350 (512-byte lock-step),
// blksize 1468 (RFC 2348), blksize 1468 + windowsize 16 (RFC 7440) — against ironbay's
// server and three peers: tftpd-hpa, atftpd and dnsmasq.
//
//   node_modules/.bin/node bench/tftp.ts [--only 64k|1m] [--servers ironbay,atftpd]
//
// --only and --servers shorten a run to the files and servers of interest (comparing against
// atftpd within one run keeps the comparison fair on a machine with other load).
// Every server runs as its own process, and the load generator (bench/tftp-load.ts, checking
// each file's sha256) as another, so the server's CPU is its own. Server CPU is read from a
// cpuacct cgroup holding the server and everything it forks (tftpd-hpa forks per transfer and
// its children are not waited for, so /proc/PID/stat would miss them); without cgroup access
// it falls back to /proc/PID/stat (utime + stime + children). Loopback only, ports 16900+ and,
// for dnsmasq (whose TFTP port is fixed), 69 on 127.0.0.1. Writes bench/out/tftp.json.
// A measurement, not a test: exits 0 whether or not the targets are met.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { run } from '../test/helpers/run.ts';
import type { LoadResult } from './tftp-load.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const NODE = process.execPath;
const OUT_DIR = join(REPO, 'bench/out');
const CLIENTS = 200;
const HOST = '127.0.0.1';
const ARGS = parseArgs({ options: { only: { type: 'string' }, servers: { type: 'string' } } }).values;
const FILES = [
  { name: 'ipxe-1m.efi', size: 1024 * 1024, label: '1 MiB', key: '1m' },
  { name: 'script-64k.bin', size: 64 * 1024, label: '64 KiB', key: '64k' },
].filter((f) => ARGS.only === undefined || ARGS.only.split(',').includes(f.key));
const MODES = [
  { key: 'plain-512', options: {} },
  { key: 'blksize-1468', options: { blksize: '1468' } },
  { key: 'blksize-1468+window-16', options: { blksize: '1468', windowsize: '16' } },
] as const;
type ModeKey = (typeof MODES)[number]['key'];

interface ServerSpec {
  name: string;
  port: number;
  /** Command and arguments, or why this server cannot run here. */
  command(root: string): Promise<{ cmd: string; args: string[] } | { unavailable: string }>;
  /** Line on stdout that says it is ready; otherwise wait for the port. */
  readyLine?: RegExp;
}

// ---------------------------------------------------------------------------------------
// CPU accounting

interface CpuMeter {
  seconds(): number;
  dispose(): void;
}

const CLK_TCK = 100;

function cpuMeter(pid: number, tag: string): CpuMeter {
  const base = '/sys/fs/cgroup/cpuacct';
  const dir = join(base, `ironbay-bench-${process.pid}-${tag}`);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    return {
      seconds: () => Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8')) / 1e9,
      dispose: () => {
        try {
          rmdirSync(dir);
        } catch {
          // Still holds a process that has not been reaped yet; it is empty and harmless.
        }
      },
    };
  } catch {
    return {
      seconds: () => {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
        // Fields 14–17 of stat (utime stime cutime cstime) are 11–14 after the command.
        return fields.slice(11, 15).reduce((a, b) => a + Number(b), 0) / CLK_TCK;
      },
      dispose: () => undefined,
    };
  }
}

// ---------------------------------------------------------------------------------------
// Servers

async function atftpdBinary(): Promise<string | undefined> {
  if (existsSync('/usr/sbin/atftpd')) return '/usr/sbin/atftpd';
  // atftpd conflicts with tftpd-hpa as a package (PEERS.md): unpack it beside the bench.
  const unpacked = join(OUT_DIR, 'atftpd/usr/sbin/atftpd');
  if (existsSync(unpacked)) return unpacked;
  const cache = '/var/cache/apt/archives';
  let deb = existsSync(cache) ? (await run('sh', ['-c', `ls ${cache}/atftpd_*.deb 2>/dev/null | tail -1`])).stdout.trim() : '';
  if (!deb) {
    const r = await run('apt-get', ['download', 'atftpd'], { cwd: OUT_DIR });
    if (r.code !== 0) return undefined;
    deb = (await run('sh', ['-c', `ls ${OUT_DIR}/atftpd_*.deb | tail -1`])).stdout.trim();
  }
  if (!deb || (await run('dpkg', ['-x', deb, join(OUT_DIR, 'atftpd')])).code !== 0) return undefined;
  return existsSync(unpacked) ? unpacked : undefined;
}

const ALL_SERVERS: ServerSpec[] = [
  {
    name: 'ironbay',
    port: 16931,
    readyLine: /"ready"/,
    command: async (root) => ({
      cmd: NODE,
      args: [join(REPO, 'test/helpers/tftp-serve.ts'), JSON.stringify({ roots: [root], port: 16931, address: HOST, maxTransfers: 1000, maxWindowsize: 16 })],
    }),
  },
  {
    name: 'tftpd-hpa',
    port: 16932,
    command: async (root) => (existsSync('/usr/sbin/in.tftpd') ? { cmd: '/usr/sbin/in.tftpd', args: ['-L', '-u', 'root', '-s', '-a', `${HOST}:16932`, root] } : { unavailable: 'in.tftpd not installed (package tftpd-hpa)' }),
  },
  {
    name: 'atftpd',
    port: 16933,
    command: async (root) => {
      const bin = await atftpdBinary();
      if (!bin) return { unavailable: 'atftpd not found and its package could not be unpacked' };
      return { cmd: bin, args: ['--daemon', '--no-fork', '--port', '16933', '--bind-address', HOST, '--user', 'root', '--group', 'root', '--maxthread', '1000', '--logfile', '/dev/null', root] };
    },
  },
  {
    name: 'dnsmasq',
    port: 69,
    command: async (root) =>
      existsSync('/usr/sbin/dnsmasq')
        ? {
            cmd: '/usr/sbin/dnsmasq',
            args: ['--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--enable-tftp', `--tftp-root=${root}`, '--tftp-max=1000', `--listen-address=${HOST}`, '--bind-interfaces', '--user=root', '--pid-file=', '--quiet-tftp', '--log-facility=/dev/null'],
          }
        : { unavailable: 'dnsmasq not installed (package dnsmasq-base)' },
  },
];

const SERVERS = ALL_SERVERS.filter((s) => ARGS.servers === undefined || ARGS.servers.split(',').includes(s.name));

async function waitForPort(port: number, child: ChildProcess, ms = 5000): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    const r = await run('ss', ['-Huln', `sport = :${port}`]);
    if (r.stdout.includes(`${HOST}:${port}`)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not listening on ${HOST}:${port} after ${ms} ms`);
}

async function startServer(spec: ServerSpec, root: string): Promise<{ child: ChildProcess; meter: CpuMeter } | { unavailable: string }> {
  const c = await spec.command(root);
  if ('unavailable' in c) return c;
  const child = spawn(c.cmd, c.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const meter = cpuMeter(child.pid!, spec.name);
  try {
    if (spec.readyLine) {
      const re = spec.readyLine;
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (re.test(out)) resolve();
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr.trim()}`)));
      });
    } else await waitForPort(spec.port, child);
  } catch (e) {
    child.kill('SIGKILL');
    meter.dispose();
    return { unavailable: `${spec.name} did not start: ${(e as Error).message} ${stderr.trim()}` };
  }
  child.stdout.resume();
  return { child, meter };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------------------------------
// Load

async function load(port: number, file: string, sha256: string, clients: number, options: Record<string, string>): Promise<LoadResult> {
  const r = await run(NODE, [join(REPO, 'bench/tftp-load.ts'), JSON.stringify({ host: HOST, port, file, clients, options, sha256, timeoutMs: 1000 })]);
  if (r.code !== 0) throw new Error(`load generator failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as LoadResult;
}

interface Row {
  server: string;
  file: string;
  mode: ModeKey;
  /** Aggregate MiB/s over the storm, or undefined when the server could not run. */
  mibps?: number;
  /** Server CPU seconds per MiB delivered. */
  cpuPerMib?: number;
  negotiated?: string;
  failed?: number;
  note?: string;
}

function negotiatedLabel(n: Record<string, number>): string {
  return Object.entries(n)
    .sort((a, b) => b[1] - a[1])
    .map(([k, c]) => {
      const [b, w] = k.split('/');
      return `b${b} w${w}${Object.keys(n).length > 1 ? ` ×${c}` : ''}`;
    })
    .join(', ');
}

async function main(): Promise<void> {
  mkdirSync(OUT_DIR, { recursive: true });
  const root = mkdtempSync(join(tmpdir(), 'ironbay-tftp-bench-'));
  const sums = new Map<string, string>();
  for (const f of FILES) {
    const data = Buffer.allocUnsafe(f.size);
    // Deterministic, incompressible-looking content.
    for (let i = 0, x = 0x9e3779b9; i < f.size; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x & 0xff;
    }
    writeFileSync(join(root, f.name), data);
    sums.set(f.name, createHash('sha256').update(data).digest('hex'));
  }
  const t0 = performance.now();
  const rows: Row[] = [];
  console.log(`TFTP boot storm: ${CLIENTS} concurrent clients per run, loopback, ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(2)} at start`);
  // All servers run at once (idle ones cost nothing) and take turns per file and mode, so a
  // change in the machine's other load during the run is spread over all of them.
  const started: { spec: ServerSpec; child: ChildProcess; meter: CpuMeter }[] = [];
  try {
    for (const spec of SERVERS) {
      const s = await startServer(spec, root);
      if ('unavailable' in s) {
        console.log(`  ${spec.name}: n/a (${s.unavailable})`);
        for (const f of FILES) for (const m of MODES) rows.push({ server: spec.name, file: f.label, mode: m.key, note: s.unavailable });
        continue;
      }
      started.push({ spec, ...s });
      // Warm-up: first request (file cache, code paths) not measured.
      await load(spec.port, FILES[0]!.name, sums.get(FILES[0]!.name)!, 2, { blksize: '1468' });
    }
    let turn = 0;
    for (const f of FILES) {
      for (const m of MODES) {
        const order = started.map((_, i) => started[(i + turn) % started.length]!);
        turn++;
        for (const { spec, meter } of order) {
          const cpu0 = meter.seconds();
          const r = await load(spec.port, f.name, sums.get(f.name)!, CLIENTS, m.options);
          // tftpd-hpa's per-transfer children may still be exiting.
          await new Promise((res) => setTimeout(res, 150));
          const cpu = meter.seconds() - cpu0;
          const mib = r.bytes / 2 ** 20;
          const row: Row = { server: spec.name, file: f.label, mode: m.key, mibps: mib / (r.ms / 1000), cpuPerMib: mib ? cpu / mib : undefined, negotiated: negotiatedLabel(r.negotiated), failed: r.failed };
          if (r.failed) row.note = r.errors.join('; ');
          rows.push(row);
          console.log(`  ${spec.name.padEnd(9)} ${f.label.padEnd(6)} ${m.key.padEnd(22)} ${fmt(row.mibps, 1).padStart(7)} MiB/s  ${fmt(row.cpuPerMib, 4)} CPU-s/MiB  ${row.negotiated}${r.failed ? `  ${r.failed} failed` : ''}`);
        }
      }
    }
  } finally {
    for (const s of started) {
      await stopServer(s.child);
      s.meter.dispose();
    }
    rmSync(root, { recursive: true, force: true });
  }
  report(rows, performance.now() - t0);
}

const fmt = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));

function report(rows: Row[], ms: number): void {
  const names = SERVERS.map((s) => s.name);
  console.log('\nAggregate throughput, MiB/s (negotiated blksize/windowsize in brackets when a mode was not granted)');
  const head = ['file', 'mode', ...names, 'ours/best peer'];
  const table: string[][] = [];
  const cpuTable: string[][] = [];
  const summary: { file: string; mode: ModeKey; throughputRatio?: number; cpuRatioVsAtftpd?: number }[] = [];
  for (const f of FILES) {
    for (const m of MODES) {
      const get = (n: string): Row | undefined => rows.find((r) => r.server === n && r.file === f.label && r.mode === m.key);
      const ours = get('ironbay');
      const peers = names.filter((n) => n !== 'ironbay').map(get).filter((r): r is Row => r?.mibps !== undefined && !r.failed);
      const best = Math.max(...peers.map((r) => r.mibps!));
      const atftpd = get('atftpd');
      const tr = ours?.mibps !== undefined && peers.length ? ours.mibps / best : undefined;
      const cr = ours?.cpuPerMib !== undefined && atftpd?.cpuPerMib !== undefined ? ours.cpuPerMib / atftpd.cpuPerMib : undefined;
      summary.push({ file: f.label, mode: m.key, ...(tr !== undefined ? { throughputRatio: tr } : {}), ...(cr !== undefined ? { cpuRatioVsAtftpd: cr } : {}) });
      const wanted = m.key === 'plain-512' ? 'b512 w1' : m.key === 'blksize-1468' ? 'b1468 w1' : 'b1468 w16';
      const cell = (r: Row | undefined, v: number | undefined, d: number): string => (r?.mibps === undefined ? 'n/a' : `${fmt(v, d)}${r.negotiated !== wanted ? ` [${r.negotiated}]` : ''}${r.failed ? ` (${r.failed} failed)` : ''}`);
      table.push([f.label, m.key, ...names.map((n) => cell(get(n), get(n)?.mibps, 1)), fmt(tr, 2)]);
      cpuTable.push([f.label, m.key, ...names.map((n) => cell(get(n), get(n)?.cpuPerMib, 4)), fmt(cr, 2)]);
    }
  }
  printTable(head, table);
  console.log('\nServer CPU seconds per MiB delivered');
  printTable(['file', 'mode', ...names, 'ours/atftpd'], cpuTable);
  const tputOk = summary.filter((s) => s.throughputRatio !== undefined && s.throughputRatio >= 1).length;
  const cpuOk = summary.filter((s) => s.cpuRatioVsAtftpd !== undefined && s.cpuRatioVsAtftpd <= 1.5).length;
  console.log(`\nTargets: throughput ≥ best peer in ${tputOk}/${summary.length} runs; CPU per MiB ≤ 1.5 × atftpd in ${cpuOk}/${summary.length} runs. Bench took ${(ms / 1000).toFixed(0)} s.`);
  writeFileSync(join(OUT_DIR, 'tftp.json'), JSON.stringify({ clients: CLIENTS, cpus: cpus().length, loadavg: loadavg(), rows, summary }, null, 2) + '\n');
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

await main();
