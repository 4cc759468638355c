// HTTP boot benchmark: a 30 MiB initrd to 50 concurrent clients with wrk, served by the boot
// app (in a child process, as the daemon would: same V8 flags and environment) and by nginx
// (sendfile on) from the same file. Target: ours ≥ 0.8 × nginx's throughput with as many
// nginx workers as we have processes (1); nginx with `worker_processes auto` is reported too.
//
//   node_modules/.bin/node bench/http.ts [--duration 10] [--rounds 3]
//
// Prints a table and writes bench/out/http.json. Exits 0 when the target is missed: this is
// a measurement, not a test. Traffic stays on 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../daemon/runtime.ts';
import { run } from '../test/helpers/run.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = join(REPO, 'bench/out');
const FILE_BYTES = 30 * 1024 * 1024;
const CONNECTIONS = 50;
const THREADS = 2;
const NGINX = '/usr/sbin/nginx';
const WRK = '/usr/bin/wrk';
const TARGET = 0.8;

// ---------------------------------------------------------------------------------------
// Child mode: build the boot app over a scratch store and listen on loopback.

async function serve(dir: string): Promise<void> {
  const { pino } = await import('pino');
  const { Store } = await import('../daemon/store/db.ts');
  const { parseConfig } = await import('../daemon/config/load.ts');
  const { buildBootApp } = await import('../daemon/boot/http-app.ts');
  const { bootAssets, IPXE_ROOT } = await import('../daemon/boot/assets.ts');
  const cfg = parseConfig(join(dir, 'ironbay.yaml'), `dataDir: ${dir}\n`);
  if (!cfg.ok) throw new Error('bench config invalid');
  const store = Store.open(join(dir, 'ironbay.db'));
  const app = await buildBootApp({ config: cfg.config, store, log: pino({ level: 'warn' }), assets: bootAssets([IPXE_ROOT, join(dir, 'assets')]), advertise: 'http://127.0.0.1' });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`listening ${url}\n`);
  process.once('SIGTERM', () => void app.close().then(() => store.close()));
}

// ---------------------------------------------------------------------------------------
// Parent mode.

function started(p: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer): void => {
      out += c.toString();
      const m = pattern.exec(out);
      if (m) resolve(m);
    };
    p.stdout?.on('data', onData);
    p.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    p.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready:\n${out}`)));
  });
}

async function waitForPort(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', url]);
    if (r.stdout === '200') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never answered 200`);
}

function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  });
}

interface WrkResult {
  mbPerSec: number;
  requestsPerSec: number;
  requests: number;
  errors: string | null;
}

const UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const r = await run(WRK, [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '30s', url]);
  if (r.code !== 0) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
  const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(r.stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  const total = /(\d+) requests in/.exec(r.stdout);
  if (!transfer || !rps || !total) throw new Error(`cannot read wrk output:\n${r.stdout}`);
  const errors = /Socket errors:.*|Non-2xx or 3xx responses:.*/.exec(r.stdout);
  return { mbPerSec: (Number(transfer[1]) * UNITS[transfer[2]!]!) / 1024 ** 2, requestsPerSec: Number(rps[1]), requests: Number(total[1]), errors: errors ? errors[0] : null };
}

function nginxConf(dir: string, port: number, workers: string): string {
  return `worker_processes ${workers};
pid ${dir}/nginx-${workers}.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/nginx-tmp;
  proxy_temp_path ${dir}/nginx-tmp;
  fastcgi_temp_path ${dir}/nginx-tmp;
  uwsgi_temp_path ${dir}/nginx-tmp;
  scgi_temp_path ${dir}/nginx-tmp;
  server {
    listen 127.0.0.1:${port};
    location /boot/assets/ { alias ${dir}/assets/; }
  }
}
`;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function main(): Promise<void> {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const seconds = arg('--duration', 10);
  const rounds = arg('--rounds', 3);
  const dir = mkdtempSync(join(tmpdir(), 'ironbay-bench-http-'));
  // nginx workers run as an unprivileged user when started as root: they must read the file.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'assets'), { mode: 0o755 });
  mkdirSync(join(dir, 'nginx-tmp'));
  writeFileSync(join(dir, 'assets/initrd.img'), randomBytes(FILE_BYTES), { mode: 0o644 });
  const children: ChildProcess[] = [];
  try {
    const ours = spawn(process.execPath, [...DAEMON_NODE_FLAGS, fileURLToPath(import.meta.url), '--serve', dir], { env: { ...process.env, ...DAEMON_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(ours);
    const base = (await started(ours, /listening (\S+)\n/, 'boot app'))[1]!;
    const oursUrl = `${base}/boot/assets/initrd.img`;
    const check = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', oursUrl]);
    if (check.stdout !== `200 ${FILE_BYTES}`) throw new Error(`boot app served ${check.stdout}, expected 200 ${FILE_BYTES}`);

    // Both nginx configurations run beside ours (an idle server costs nothing), and rounds
    // alternate ours / nginx 1 / nginx auto: on a shared machine the load changes from one
    // minute to the next, and alternating lets each round compare like with like. The
    // figure is the median over rounds.
    const servers: { server: string; workers: string; url: string; results: WrkResult[] }[] = [{ server: 'ironbay boot app', workers: '1 process', url: oursUrl, results: [] }];
    for (const workers of ['1', 'auto']) {
      const port = await freePort();
      const conf = join(dir, `nginx-${workers}.conf`);
      writeFileSync(conf, nginxConf(dir, port, workers));
      const nginx = spawn(NGINX, ['-c', conf, '-p', dir, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(nginx);
      const url = `http://127.0.0.1:${port}/boot/assets/initrd.img`;
      await waitForPort(url);
      servers.push({ server: 'nginx (sendfile)', workers: workers === '1' ? '1 worker' : `auto (${cpus().length} workers)`, url, results: [] });
    }
    for (const s of servers) await wrk(s.url, 2); // warm the page cache and our memory cache
    for (let round = 0; round < rounds; round++) for (const s of servers) s.results.push(await wrk(s.url, seconds));

    const median = (xs: number[]): number => {
      const v = [...xs].sort((a, b) => a - b);
      const mid = v.length >> 1;
      return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
    };
    const rows = servers.map((s) => ({ server: s.server, workers: s.workers, mbPerSec: median(s.results.map((r) => r.mbPerSec)), rounds: s.results }));
    const ourRate = rows[0]!.mbPerSec;
    console.log(`\nHTTP boot: ${FILE_BYTES / 1024 ** 2} MiB file, wrk -t${THREADS} -c${CONNECTIONS} -d${seconds}s × ${rounds} alternating rounds, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg()[0]!.toFixed(2)}\n`);
    console.log('server               workers          median MB/s   per round MB/s');
    for (const r of rows) {
      const errors = r.rounds.map((x) => x.errors).filter((e) => e !== null);
      console.log(`${r.server.padEnd(20)} ${r.workers.padEnd(16)} ${r.mbPerSec.toFixed(0).padStart(11)}   ${r.rounds.map((x) => x.mbPerSec.toFixed(0)).join(' ')}${errors.length ? `  errors: ${errors.join('; ')}` : ''}`);
    }
    const ratio1 = ourRate / rows[1]!.mbPerSec;
    const ratioAuto = ourRate / rows[2]!.mbPerSec;
    const paired = servers[0]!.results.map((r, i) => r.mbPerSec / servers[1]!.results[i]!.mbPerSec);
    console.log(`\nours / nginx (1 worker):    ${ratio1.toFixed(2)}  target ≥ ${TARGET}: ${ratio1 >= TARGET ? 'PASS' : 'MISS'}   (per round: ${paired.map((x) => x.toFixed(2)).join(' ')})`);
    console.log(`ours / nginx (auto):        ${ratioAuto.toFixed(2)}  (for information: ours is one process)`);
    mkdirSync(OUT_DIR, { recursive: true });
    writeFileSync(
      join(OUT_DIR, 'http.json'),
      JSON.stringify({ date: new Date().toISOString(), fileBytes: FILE_BYTES, connections: CONNECTIONS, threads: THREADS, seconds, rounds, load: loadavg(), cpus: cpus().length, rows, ratio1, ratioAuto, target: TARGET, pass: ratio1 >= TARGET }, null, 2) + '\n',
    );
  } finally {
    for (const c of children) await stop(c);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') await serve(process.argv[3]!);
else await main();
