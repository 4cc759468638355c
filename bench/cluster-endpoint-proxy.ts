// Cluster endpoint proxy benchmark (issue 7): TCP forwarding by ironbay's EndpointProxy against
// socat doing the same forwarding, with a direct connection to the backend as the floor:
//   direct    the client connects to the backend itself
//   ironbay   daemon/clusters/endpoint-proxy.ts in its own process, run as the daemon runs
//             (`npm start`'s --max-semi-space-size=2 and MALLOC_MMAP_THRESHOLD_), one endpoint
//             with the backend, health-checked every 2 s
//   socat     `socat TCP-LISTEN:…,fork,reuseaddr,backlog=511,nodelay TCP:…,nodelay`: one
//             process per connection (its default 8 KiB buffer), TCP_NODELAY on both legs as
//             ironbay sets it, the listen backlog of Node's (socat's own is 5)
//   socat-64k the same with -b 65536, the read size Node uses: for information, how much of
//             the throughput difference is socat's default buffer
// Three measurements each round: one stream downloading --mib MiB from the backend, one
// uploading --mib MiB to it (the backend answers the byte count after the client's FIN:
// half-close), and --conns short connections, --parallel at a time (connect, "P\n", "pong\n",
// FIN both ways: the connection rate a kube-apiserver client or an ingress sees).
//
//   npx node bench/cluster-endpoint-proxy.ts [--rounds 3] [--mib 512] [--conns 3000] [--parallel 16]
//
// The backend (a Node server on 127.0.0.2) and the proxies are processes of their own; the
// client is this process. A warm-up round (not measured) first, then rounds interleaving the
// contenders (order rotating); the table shows each figure's median over the rounds. Proxy CPU
// is read from /proc (socat's connection processes are reaped by its listener and counted in
// its cutime/cstime). Loopback only. Writes bench/out/cluster-endpoint-proxy.json. A
// measurement, not a test: exits 0 whatever the figures.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { EndpointProxy } from '../daemon/clusters/endpoint-proxy.ts';
import { fmt, median, printTable, processCpuMs, quantile } from './_stats.ts';

const SELF = fileURLToPath(import.meta.url);
const OUT_DIR = fileURLToPath(new URL('out', import.meta.url));
const MiB = 1024 * 1024;
const BACKEND_HOST = '127.0.0.2';
const PROXY_HOST = '127.0.0.1';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// The backend (--role backend): "D n\n" → n bytes then FIN; "U\n" + bytes + FIN → the count
// then FIN; "P\n" → "pong\n" then FIN.

function backendMain(): void {
  const block = Buffer.alloc(MiB, 0x5a);
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    s.on('error', () => undefined);
    let head: Buffer = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      head = head.length ? Buffer.concat([head, c]) : c;
      const nl = head.indexOf(10);
      if (nl < 0) return;
      s.off('data', onData);
      const cmd = head.subarray(0, nl).toString();
      const rest = head.subarray(nl + 1);
      if (cmd === 'P') {
        s.end('pong\n');
      } else if (cmd === 'U') {
        let n = rest.length;
        s.on('data', (d: Buffer) => (n += d.length));
        s.on('end', () => s.end(`${n}\n`));
      } else if (cmd.startsWith('D ')) {
        let left = Number(cmd.slice(2));
        const pump = (): void => {
          while (left > 0) {
            const chunk = left >= block.length ? block : block.subarray(0, left);
            left -= chunk.length;
            if (!s.write(chunk)) return void s.once('drain', pump);
          }
          s.end();
        };
        pump();
        s.resume();
      } else s.destroy();
    };
    s.on('data', onData);
  });
  server.listen({ host: BACKEND_HOST, port: 0, backlog: 511 }, () => console.log(`ready ${(server.address() as net.AddressInfo).port}`));
}

// The ironbay proxy (--role proxy --port BACKEND_PORT): one endpoint, ready once its backend is healthy.
function proxyMain(backendPort: number): void {
  const p = new EndpointProxy({ listenHost: PROXY_HOST, log: pino({ level: 'warn' }, pino.destination(2)) });
  void p.set([{ name: 'bench/api', port: 0, backends: [{ id: 'vm-1', host: BACKEND_HOST, port: backendPort }] }]).then(async () => {
    while (p.status()[0]!.backends[0]!.healthy !== true) await sleep(10);
    console.log(`ready ${p.status()[0]!.port}`);
  });
  process.once('SIGTERM', () => void p.close().then(() => process.exit(0)));
}

// ---------------------------------------------------------------------------------------
// Processes

interface Peer {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

async function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, port?: () => Promise<number>): Promise<Peer> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
  const exited = once(child, 'exit');
  let p: number;
  if (port) p = await port();
  else {
    const line = await Promise.race([once(createInterface({ input: child.stdout }), 'line') as Promise<[string]>, exited.then(() => [''] as [string])]);
    const m = /^ready (\d+)$/.exec(line[0]);
    if (!m) throw new Error(`${cmd} ${args.join(' ')} did not start`);
    p = Number(m[1]);
  }
  return {
    child,
    port: p,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** A free port on PROXY_HOST for socat, and a wait until it answers there. */
async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, PROXY_HOST);
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect({ host: PROXY_HOST, port });
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`nothing listens on ${PROXY_HOST}:${port}`);
}

// ---------------------------------------------------------------------------------------
// The client: this process

function connect(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
    s.once('connect', () => (s.off('error', reject), resolve(s)));
    s.once('error', reject);
  });
}

/** One stream from the backend; MiB/s, or an error. */
async function download(host: string, port: number, bytes: number): Promise<number> {
  const s = await connect(host, port);
  const t0 = performance.now();
  s.write(`D ${bytes}\n`);
  let n = 0;
  s.on('data', (c: Buffer) => (n += c.length));
  await once(s, 'end');
  const ms = performance.now() - t0;
  s.destroy();
  if (n !== bytes) throw new Error(`download: ${n} bytes, not ${bytes}`);
  return bytes / MiB / (ms / 1000);
}

/** One stream to the backend, then FIN; the backend's count read after it. */
async function upload(host: string, port: number, bytes: number): Promise<number> {
  const block = Buffer.alloc(MiB, 0xa5);
  const s = await connect(host, port);
  let reply = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (reply += d));
  const ended = once(s, 'end');
  const t0 = performance.now();
  s.write('U\n');
  for (let left = bytes; left > 0; left -= block.length) {
    if (!s.write(left >= block.length ? block : block.subarray(0, left))) await once(s, 'drain');
  }
  s.end();
  await ended;
  const ms = performance.now() - t0;
  s.destroy();
  if (reply !== `${bytes}\n`) throw new Error(`upload: the backend counted ${JSON.stringify(reply)}, not ${bytes}`);
  return bytes / MiB / (ms / 1000);
}

/** Short connections, `parallel` at a time: per connection ms, and failures. */
async function connections(host: string, port: number, total: number, parallel: number): Promise<{ ms: number; perConn: number[]; failed: number; errors: string[] }> {
  const perConn: number[] = [];
  const errors = new Set<string>();
  let failed = 0;
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const s = net.connect({ host, port, noDelay: true });
      let got = '';
      s.setEncoding('utf8');
      s.on('connect', () => s.write('P\n'));
      s.on('data', (d: string) => (got += d));
      s.on('end', () => {
        if (got === 'pong\n') perConn.push(performance.now() - t0);
        else {
          failed++;
          errors.add(`answer ${JSON.stringify(got)}`);
        }
      });
      s.on('error', (e) => {
        failed++;
        errors.add(e.message);
      });
      s.on('close', () => resolve());
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next++ < total) await one();
    }),
  );
  return { ms: performance.now() - t0, perConn, failed, errors: [...errors].slice(0, 3) };
}

// ---------------------------------------------------------------------------------------
// Rounds

interface Contender {
  name: string;
  how: string;
  host: string;
  port: number;
  /** The forwarding process (none for direct). */
  pid: number | undefined;
}

interface Outcome {
  downMiBs: number;
  upMiBs: number;
  connPerS: number;
  connMedianMs: number;
  connP95Ms: number;
  /** Proxy CPU over both streams, ms per GiB carried. */
  cpuMsPerGiB: number;
  /** Proxy CPU over the short connections, µs per connection. */
  cpuUsPerConn: number;
  failed: number;
  errors: string[];
}

async function round(c: Contender, o: { mib: number; conns: number; parallel: number }): Promise<Outcome> {
  const cpu = (): number => (c.pid === undefined ? NaN : processCpuMs([c.pid]));
  const errors: string[] = [];
  let failed = 0;
  const guard = async (what: string, f: () => Promise<number>): Promise<number> => {
    try {
      return await f();
    } catch (e) {
      failed++;
      errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      return NaN;
    }
  };
  const cpu0 = cpu();
  const downMiBs = await guard('download', () => download(c.host, c.port, o.mib * MiB));
  const upMiBs = await guard('upload', () => upload(c.host, c.port, o.mib * MiB));
  // socat's per-connection processes are counted once reaped.
  await sleep(300);
  const cpu1 = cpu();
  const r = await connections(c.host, c.port, o.conns, o.parallel);
  await sleep(300);
  const cpu2 = cpu();
  return {
    downMiBs,
    upMiBs,
    connPerS: (r.perConn.length / r.ms) * 1000,
    connMedianMs: median(r.perConn),
    connP95Ms: quantile(r.perConn, 0.95),
    cpuMsPerGiB: (cpu1 - cpu0) / ((2 * o.mib) / 1024),
    cpuUsPerConn: ((cpu2 - cpu1) * 1000) / o.conns,
    failed: failed + r.failed,
    errors: [...errors, ...r.errors],
  };
}

interface Row {
  label: string;
  key: keyof Omit<Outcome, 'errors'>;
  digits: number;
  /** Higher is better (the ratio column reads ironbay ÷ socat either way). */
  higher: boolean;
}

const ROWS: Row[] = [
  { label: 'download, MiB/s (1 stream)', key: 'downMiBs', digits: 0, higher: true },
  { label: 'upload then reply after FIN, MiB/s', key: 'upMiBs', digits: 0, higher: true },
  { label: 'connections/s', key: 'connPerS', digits: 0, higher: true },
  { label: 'connection median, ms', key: 'connMedianMs', digits: 2, higher: false },
  { label: 'connection p95, ms', key: 'connP95Ms', digits: 2, higher: false },
  { label: 'proxy CPU, ms per GiB', key: 'cpuMsPerGiB', digits: 0, higher: false },
  { label: 'proxy CPU, µs per connection', key: 'cpuUsPerConn', digits: 0, higher: false },
  { label: 'failures', key: 'failed', digits: 0, higher: false },
];

async function main(args: { rounds: string; mib: string; conns: string; parallel: string }): Promise<void> {
  const rounds = Number(args.rounds);
  const o = { mib: Number(args.mib), conns: Number(args.conns), parallel: Number(args.parallel) };
  if (!(rounds >= 1 && o.mib >= 1 && o.conns >= 1 && o.parallel >= 1)) throw new Error('--rounds, --mib, --conns and --parallel ≥ 1');
  console.log(
    `Cluster endpoint proxy: ${o.mib} MiB down and up in one stream each, ${o.conns} short connections ${o.parallel} at a time, ${rounds} interleaved rounds after a warm-up; ` +
      `nproc ${availableParallelism()}, load average ${loadavg()[0]!.toFixed(2)} at start`,
  );
  const peers: Peer[] = [];
  const outcomes = new Map<string, Outcome[]>();
  let contenders: Contender[] = [];
  try {
    const backend = await start(process.execPath, [SELF, '--role', 'backend'], process.env);
    peers.push(backend);
    const ours = await start(process.execPath, ['--max-semi-space-size=2', SELF, '--role', 'proxy', '--port', String(backend.port)], { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072' });
    peers.push(ours);
    const socatArgs = (port: number | string): string[] => [`TCP-LISTEN:${port},bind=${PROXY_HOST},reuseaddr,fork,backlog=511,nodelay`, `TCP:${BACKEND_HOST}:${backend.port},nodelay`];
    const startSocat = async (extra: string[]): Promise<Peer> => {
      const port = await freePort();
      const peer = await start('socat', [...extra, ...socatArgs(port)], process.env, async () => {
        await waitListening(port);
        return port;
      });
      peers.push(peer);
      return peer;
    };
    const socat = await startSocat([]);
    const socat64k = await startSocat(['-b', '65536']);
    contenders = [
      { name: 'direct', how: `the client connects to the backend (${BACKEND_HOST}) itself`, host: BACKEND_HOST, port: backend.port, pid: undefined },
      { name: 'ironbay', how: 'EndpointProxy in a Node process of its own (--max-semi-space-size=2, as the daemon runs)', host: PROXY_HOST, port: ours.port, pid: ours.child.pid },
      { name: 'socat', how: `socat ${socatArgs('PORT').join(' ')} (socat 1.7: a process per connection, 8 KiB buffer)`, host: PROXY_HOST, port: socat.port, pid: socat.child.pid },
      { name: 'socat-64k', how: 'the same with -b 65536 (for information)', host: PROXY_HOST, port: socat64k.port, pid: socat64k.child.pid },
    ];
    for (const c of contenders) outcomes.set(c.name, []);
    for (const c of contenders) {
      const r = await round(c, { ...o, mib: Math.min(o.mib, 64), conns: Math.min(o.conns, 300) });
      console.log(`  warm-up ${c.name.padEnd(8)} ${r.failed} failed${r.errors.length ? `  ${r.errors.join('; ')}` : ''}`);
    }
    for (let i = 0; i < rounds; i++) {
      for (const c of contenders.map((_, k) => contenders[(k + i) % contenders.length]!)) {
        const r = await round(c, o);
        outcomes.get(c.name)!.push(r);
        console.log(
          `  round ${i + 1} ${c.name.padEnd(8)} down ${fmt(r.downMiBs, 0)} MiB/s  up ${fmt(r.upMiBs, 0)} MiB/s  ${fmt(r.connPerS, 0)} conn/s  median ${fmt(r.connMedianMs, 2)} ms` +
            `  proxy CPU ${fmt(r.cpuMsPerGiB, 0)} ms/GiB ${fmt(r.cpuUsPerConn, 0)} µs/conn${r.failed ? `  ${r.failed} failed: ${r.errors.join('; ')}` : ''}`,
        );
      }
    }
  } finally {
    for (const p of peers.reverse()) await p.stop();
  }
  report(contenders, outcomes, { rounds, ...o });
}

function report(contenders: Contender[], outcomes: Map<string, Outcome[]>, info: { rounds: number; mib: number; conns: number; parallel: number }): void {
  const med = (name: string, key: Row['key']): number => median(outcomes.get(name)!.map((r) => r[key]).filter((x) => !Number.isNaN(x)));
  const head = ['', ...contenders.map((c) => c.name), 'ironbay ÷ socat'];
  const rows = ROWS.map((row) => [
    row.label,
    ...contenders.map((c) => (c.pid === undefined && row.key.startsWith('cpu') ? '-' : fmt(med(c.name, row.key), row.digits))),
    row.key === 'failed' ? '' : `${fmt(med('ironbay', row.key) / med('socat', row.key), 2)}×`,
  ]);
  console.log(`\nMedians of ${info.rounds} rounds: ${info.mib} MiB each way, ${info.conns} connections ${info.parallel} at a time`);
  printTable(head, rows);
  for (const c of contenders) console.log(`  ${c.name}: ${c.how}`);
  console.log(
    `ours/socat: download ${fmt(med('ironbay', 'downMiBs') / med('socat', 'downMiBs'), 2)}×, upload ${fmt(med('ironbay', 'upMiBs') / med('socat', 'upMiBs'), 2)}×, ` +
      `connection rate ${fmt(med('ironbay', 'connPerS') / med('socat', 'connPerS'), 2)}× (above 1: ironbay faster)`,
  );
  console.log(`ours/socat-64k: download ${fmt(med('ironbay', 'downMiBs') / med('socat-64k', 'downMiBs'), 2)}×, upload ${fmt(med('ironbay', 'upMiBs') / med('socat-64k', 'upMiBs'), 2)}× (for information)`);
  console.log(`client, backend and proxy share this machine's ${availableParallelism()} cores (load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end): direct runs two processes where the proxies run three`);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(
    join(OUT_DIR, 'cluster-endpoint-proxy.json'),
    JSON.stringify({ nproc: availableParallelism(), loadavg: loadavg(), ...info, contenders: contenders.map((c) => ({ name: c.name, how: c.how, rounds: outcomes.get(c.name) })) }, null, 2) + '\n',
  );
}

if (import.meta.main) {
  const args = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      mib: { type: 'string', default: '512' },
      conns: { type: 'string', default: '3000' },
      parallel: { type: 'string', default: '16' },
      // The child processes: the backend, and ironbay's proxy in front of it.
      role: { type: 'string' },
      port: { type: 'string' },
    },
  }).values;
  if (args.role === 'backend') backendMain();
  else if (args.role === 'proxy') proxyMain(Number(args.port));
  else await main(args);
}
