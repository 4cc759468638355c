// The clusters' endpoint proxy (issue 7) with real sockets on loopback: backends are small TCP
// servers on 127.0.0.x that answer with their id (or echo, or hash what they got), the proxy
// listens on 127.0.0.1. Round-robin, a backend dying (found by the next connection before
// any health check, then by the checks), coming back, all of them down, declarative changes,
// a taken port, 20 MiB each way with backpressure and half-close, metrics, nothing left open.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import net, { type Socket } from 'node:net';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { EndpointProxy, type BackendChange, type EndpointProxyOptions } from '../../daemon/clusters/endpoint-proxy.ts';
import { isIronbayError } from '../../daemon/errors.ts';

const HOST = '127.0.0.1';
const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * A backend VM's service. `id`: answers its id to the first bytes it gets, then ends (health
 * checks send nothing, so `served` counts clients only). `echo`: sends back what it gets.
 * `digest`: after the client's FIN, the sha256 of what it got, a newline, then `reply`.
 */
class TestBackend {
  readonly id: string;
  readonly host: string;
  port = 0;
  served = 0;
  reply: Buffer = Buffer.alloc(0);
  private readonly mode: 'id' | 'echo' | 'digest';
  private server: net.Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(id: string, host: string, mode: 'id' | 'echo' | 'digest' = 'id') {
    this.id = id;
    this.host = host;
    this.mode = mode;
  }

  get spec(): { id: string; host: string; port: number } {
    return { id: this.id, host: this.host, port: this.port };
  }

  async start(): Promise<this> {
    const server = net.createServer({ allowHalfOpen: true }, (s) => this.serve(s));
    server.listen(this.port, this.host);
    await once(server, 'listening');
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Gone as a dead VM is: nothing listens, open connections are cut. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }

  private serve(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
    if (this.mode === 'echo') {
      s.once('data', () => this.served++);
      s.pipe(s);
      return;
    }
    if (this.mode === 'id') {
      s.once('data', () => {
        this.served++;
        s.end(`${this.id}\n`);
      });
      s.on('end', () => s.end());
      return;
    }
    const h = createHash('sha256');
    s.once('data', () => this.served++);
    s.on('data', (c: Buffer) => h.update(c));
    s.on('end', () => {
      s.write(`${h.digest('hex')}\n`);
      s.end(this.reply);
    });
  }
}

const backends: TestBackend[] = [];
async function backend(id: string, host: string, mode?: 'id' | 'echo' | 'digest'): Promise<TestBackend> {
  const b = await new TestBackend(id, host, mode).start();
  backends.push(b);
  return b;
}

/**
 * A host that drops SYNs, as a VM whose kernel hangs: a listener with backlog 1 in a process
 * whose event loop sleeps (Atomics.wait), so nothing is ever accepted. Its accept queue takes
 * two connections (backlog + 1), then every SYN is dropped and a connect times out. `room`:
 * connections it still completes before that (the rest are filled here). It exits when the
 * test's process does.
 */
const holes: ChildProcess[] = [];
async function blackhole(host: string, room: 0 | 1): Promise<{ id: string; host: string; port: number }> {
  const script = `const s = require('node:net').createServer().listen({ host: ${JSON.stringify(host)}, port: 0, backlog: 1 }, () => {
    process.stdout.write(s.address().port + '\\n', () => {
      // Asleep until this test's process is gone (killed or not), then gone too.
      const parent = process.ppid;
      while (process.ppid === parent) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
      process.exit(0);
    });
  });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  holes.push(child);
  const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  const port = Number(line);
  for (let i = room; i < 2; i++) {
    const filler = net.connect({ host, port });
    filler.on('error', () => undefined);
    await once(filler, 'connect');
  }
  return { id: 'hole', host, port };
}

const proxies: EndpointProxy[] = [];
function proxy(opts: Partial<EndpointProxyOptions> = {}): { p: EndpointProxy; changes: BackendChange[] } {
  const changes: BackendChange[] = [];
  const p = new EndpointProxy({ listenHost: HOST, log: pino({ level: 'silent' }), healthIntervalMs: 100, healthTimeoutMs: 500, onChange: (e) => changes.push(e), ...opts });
  proxies.push(p);
  return { p, changes };
}

after(async () => {
  for (const h of holes) h.kill('SIGKILL');
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(backends.map((b) => b.stop()));
});

const portOf = (p: EndpointProxy, name: string): number => p.status().find((e) => e.name === name)!.port;
const healthy = (p: EndpointProxy, name: string, id: string): boolean | null | undefined =>
  p
    .status()
    .find((e) => e.name === name)
    ?.backends.find((b) => b.id === id)?.healthy;

/** One client: sends a line, reads to the end. Resolves with the answer, or the error code. */
function ask(port: number): Promise<{ answer: string; error?: string }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    let answer = '';
    let error: string | undefined;
    s.setEncoding('utf8');
    s.on('connect', () => s.write('hello\n'));
    s.on('data', (d: string) => (answer += d));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => resolve({ answer: answer.trim(), ...(error === undefined ? {} : { error }) }));
  });
}

async function askMany(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await ask(port);
    out.push(r.error ? `error:${r.error}` : r.answer);
  }
  return out;
}

test('connections go round-robin across the healthy backends', async () => {
  const a = await backend('a', '127.0.0.2');
  const b = await backend('b', '127.0.0.3');
  const { p } = proxy();
  await p.set([{ name: 'demo/api', port: 0, backends: [a.spec, b.spec] }]);
  await until('both backends checked', () => healthy(p, 'demo/api', 'a') === true && healthy(p, 'demo/api', 'b') === true);
  const answers = await askMany(portOf(p, 'demo/api'), 10);
  assert.deepEqual(answers.toSorted(), ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b']);
  for (let i = 1; i < answers.length; i++) assert.notEqual(answers[i], answers[i - 1], `answers alternate: ${answers.join(' ')}`);
  const st = p.status()[0]!;
  assert.equal(st.total, 10);
  assert.equal(st.failed, 0);
  assert.deepEqual(
    st.backends.map((x) => [x.id, x.host, x.port, x.healthy, x.lastError]),
    [
      ['a', '127.0.0.2', a.port, true, null],
      ['b', '127.0.0.3', b.port, true, null],
    ],
  );
  assert.ok(st.backends.every((x) => x.lastCheckAt !== null && !Number.isNaN(Date.parse(x.lastCheckAt))));
  await p.close();
  await a.stop();
  await b.stop();
});

test('a backend that dies costs the clients nothing, before any health check runs', async () => {
  const a = await backend('a', '127.0.0.4');
  const b = await backend('b', '127.0.0.5');
  // Only the first check of each backend (when it is added) runs in this test.
  const { p, changes } = proxy({ healthIntervalMs: 600_000 });
  await p.set([{ name: 'demo/api', port: 0, backends: [a.spec, b.spec] }]);
  await until('first checks', () => changes.length === 2);
  await b.stop();
  const answers = await askMany(portOf(p, 'demo/api'), 10);
  assert.deepEqual(answers, Array(10).fill('a'));
  // Connects refused twice (failAfter 2): down without a health check.
  assert.equal(healthy(p, 'demo/api', 'b'), false);
  const down = changes.filter((c) => !c.healthy);
  assert.equal(down.length, 1);
  assert.equal(down[0]!.backend, 'b');
  assert.match(down[0]!.reason!, /ECONNREFUSED/);
  const st = p.status()[0]!;
  assert.equal(st.total, 10);
  assert.equal(st.failed, 0);
  assert.match(st.backends[1]!.lastError!, /ECONNREFUSED/);
  await p.close();
  await a.stop();
});

test('a backend that stops answering SYNs: connects time out, the clients get the next backend', async () => {
  const a = await backend('a', '127.0.0.20');
  // The first check still connects: it looks healthy until clients are sent to it.
  const hole = await blackhole('127.0.0.21', 1);
  const { p, changes } = proxy({ healthIntervalMs: 600_000, connectTimeoutMs: 150, healthTimeoutMs: 150 });
  await p.set([{ name: 'demo/api', port: 0, backends: [hole, a.spec] }]);
  await until('first checks', () => changes.length === 2);
  assert.equal(healthy(p, 'demo/api', 'hole'), true);
  const answers = await askMany(portOf(p, 'demo/api'), 6);
  assert.deepEqual(answers, Array(6).fill('a'));
  assert.equal(healthy(p, 'demo/api', 'hole'), false);
  assert.deepEqual(
    changes.filter((c) => !c.healthy),
    [{ endpoint: 'demo/api', backend: 'hole', healthy: false, reason: 'connect timed out after 150 ms (forwarding a connection)' }],
  );
  assert.equal(p.status()[0]!.failed, 0);
  await p.close();
  await a.stop();
});

test('health checks take a dead backend out and bring it back when it answers again', async () => {
  const a = await backend('a', '127.0.0.6');
  const b = await backend('b', '127.0.0.7');
  const { p, changes } = proxy();
  await p.set([{ name: 'demo/ingress-http', port: 0, backends: [a.spec, b.spec] }]);
  await until('both up', () => changes.filter((c) => c.healthy).length === 2);
  assert.deepEqual(changes.map((c) => [c.backend, c.healthy]).toSorted(), [
    ['a', true],
    ['b', true],
  ]);
  await b.stop();
  await until('b down', () => changes.some((c) => c.backend === 'b' && !c.healthy));
  const servedBefore = b.served;
  assert.deepEqual(await askMany(portOf(p, 'demo/ingress-http'), 6), Array(6).fill('a'));
  assert.equal(b.served, servedBefore);
  const st = p.status()[0]!;
  assert.equal(st.failed, 0);
  assert.equal(st.backends[1]!.healthy, false);
  assert.match(st.backends[1]!.lastError!, /ECONNREFUSED/);

  await b.start(); // the same address and port: the VM is back
  await until('b up again', () => changes.at(-1)!.backend === 'b' && changes.at(-1)!.healthy);
  const answers = await askMany(portOf(p, 'demo/ingress-http'), 6);
  assert.deepEqual(answers.toSorted(), ['a', 'a', 'a', 'b', 'b', 'b']);
  assert.deepEqual(
    changes.map((c) => [c.backend, c.healthy]),
    [
      ...changes.slice(0, 2).map((c) => [c.backend, c.healthy]),
      ['b', false],
      ['b', true],
    ],
  );
  assert.equal(healthy(p, 'demo/ingress-http', 'b'), true);
  assert.equal(p.status()[0]!.backends[1]!.lastError, null);
  await p.close();
  await a.stop();
  await b.stop();
});

test('with every backend down they are tried all the same (one may be back before its check); none answering, the client is reset at once and counted', async () => {
  const a = await backend('a', '127.0.0.8');
  const b = await backend('b', '127.0.0.9');
  const registry = new Registry();
  const { p, changes } = proxy({ registry });
  await p.set([{ name: 'demo/api', port: 0, backends: [a.spec, b.spec] }]);
  await until('both up', () => changes.length === 2);
  assert.equal((await ask(portOf(p, 'demo/api'))).answer.length, 1);
  await a.stop();
  await b.stop();
  await until('both down', () => changes.filter((c) => !c.healthy).length === 2);
  const r = await ask(portOf(p, 'demo/api'));
  // A RST, not a FIN: the client knows it got no answer.
  assert.deepEqual(r, { answer: '', error: 'ECONNRESET' });
  await until('the reset connection released', () => p.status()[0]!.open === 0);
  const st = p.status()[0]!;
  assert.equal(st.total, 2);
  assert.equal(st.failed, 1);
  const text = await registry.metrics();
  assert.match(text, /ironbay_cluster_endpoint_connections_total\{endpoint="demo\/api",result="ok"\} 1/);
  assert.match(text, /ironbay_cluster_endpoint_connections_total\{endpoint="demo\/api",result="unreachable"\} 1/);
  assert.match(text, /ironbay_cluster_endpoint_backend_up\{endpoint="demo\/api",backend="a"\} 0/);
  assert.match(text, /ironbay_cluster_endpoint_backend_up\{endpoint="demo\/api",backend="b"\} 0/);

  // Backends that never answered, asked before their first check has surely come back: each
  // is tried, each refuses, the client is reset all the same.
  const dead = await backend('c', '127.0.0.10');
  await dead.stop();
  await p.set([
    { name: 'demo/api', port: 0, backends: [a.spec, b.spec] },
    { name: 'demo/ingress-https', port: 0, backends: [dead.spec] },
  ]);
  const r2 = await ask(portOf(p, 'demo/ingress-https'));
  assert.deepEqual(r2, { answer: '', error: 'ECONNRESET' });
  assert.equal(p.status()[1]!.failed, 1);
  await p.close();
});

test('set() changes backends in place, and a removed endpoint stops listening and ends its connections', async () => {
  const a = await backend('a', '127.0.0.11', 'echo');
  const b = await backend('b', '127.0.0.12', 'id');
  const c = await backend('c', '127.0.0.13', 'id');
  const { p } = proxy();
  await p.set([
    { name: 'demo/api', port: 0, backends: [a.spec] },
    { name: 'demo/ingress-http', port: 0, backends: [c.spec] },
  ]);
  const apiPort = portOf(p, 'demo/api');
  const httpPort = portOf(p, 'demo/ingress-http');
  // A long connection to a, open while a is removed from the endpoint.
  const long = net.connect({ host: HOST, port: apiPort });
  long.on('error', () => undefined);
  long.setEncoding('utf8');
  let echoed = '';
  long.on('data', (d: string) => (echoed += d));
  long.write('one\n');
  await until('echo', () => echoed === 'one\n');

  await p.set([
    { name: 'demo/api', port: 0, backends: [b.spec] },
    { name: 'demo/ingress-http', port: 0, backends: [c.spec] },
  ]);
  assert.equal(portOf(p, 'demo/api'), apiPort, 'the listener is kept');
  assert.deepEqual(await askMany(apiPort, 4), Array(4).fill('b'));
  assert.equal(a.served, 1);
  long.write('two\n');
  await until('the removed backend’s connection still works', () => echoed === 'one\ntwo\n');
  assert.deepEqual(
    p.status()[0]!.backends.map((x) => x.id),
    ['b'],
  );
  assert.equal(p.status()[0]!.open, 1);

  // demo/api removed: its port refuses, its open connection is ended; ingress goes on.
  const longClosed = new Promise((r) => long.on('close', r));
  await p.set([{ name: 'demo/ingress-http', port: httpPort, backends: [c.spec] }]);
  await longClosed;
  assert.deepEqual(
    p.status().map((e) => e.name),
    ['demo/ingress-http'],
  );
  assert.deepEqual(await ask(apiPort), { answer: '', error: 'ECONNREFUSED' });
  assert.deepEqual(await ask(httpPort), { answer: 'c' });
  assert.equal(portOf(p, 'demo/ingress-http'), httpPort);

  // Moved to another port: the old one stops listening.
  const spare = await backend('spare', '127.0.0.14');
  await spare.stop();
  await p.set([{ name: 'demo/ingress-http', port: spare.port, backends: [c.spec] }]);
  assert.equal(portOf(p, 'demo/ingress-http'), spare.port);
  assert.deepEqual(await ask(httpPort), { answer: '', error: 'ECONNREFUSED' });
  assert.deepEqual(await ask(spare.port), { answer: 'c' });

  // Rejected whole, nothing changed.
  await assert.rejects(
    p.set([
      { name: 'x/api', port: 0, backends: [] },
      { name: 'x/api', port: 0, backends: [] },
    ]),
    (e) => isIronbayError(e, 'IB_ERR_BAD_REQUEST') && /x\/api listed twice/.test(e.message),
  );
  await assert.rejects(p.set([{ name: 'x/api', port: 70000, backends: [] }]), (e) => isIronbayError(e, 'IB_ERR_BAD_REQUEST'));
  assert.deepEqual(
    p.status().map((e) => e.name),
    ['demo/ingress-http'],
  );
  await p.close();
  await Promise.all([a.stop(), b.stop(), c.stop()]);
});

test('a taken port fails naming the endpoint and its port; the other endpoints work', async () => {
  const a = await backend('a', '127.0.0.15');
  const squatter = net.createServer();
  squatter.listen(0, HOST);
  await once(squatter, 'listening');
  const taken = (squatter.address() as net.AddressInfo).port;
  const { p } = proxy();
  await assert.rejects(
    p.set([
      { name: 'demo/api', port: taken, backends: [a.spec] },
      { name: 'demo/ingress-http', port: 0, backends: [a.spec] },
    ]),
    (e) => isIronbayError(e, 'IB_ERR_CONFLICT') && e.message.includes('demo/api') && e.message.includes(`:${taken}`) && /EADDRINUSE/.test(e.message),
  );
  const st = p.status();
  assert.deepEqual(
    st.map((e) => [e.name, e.listening]),
    [
      ['demo/api', false],
      ['demo/ingress-http', true],
    ],
  );
  assert.match(st[0]!.listenError!, /EADDRINUSE/);
  assert.deepEqual(await ask(portOf(p, 'demo/ingress-http')), { answer: 'a' });
  // Once the port is free, the next set() listens.
  await new Promise((r) => squatter.close(r));
  await p.set([
    { name: 'demo/api', port: taken, backends: [a.spec] },
    { name: 'demo/ingress-http', port: 0, backends: [a.spec] },
  ]);
  assert.equal(p.status()[0]!.listening, true);
  assert.deepEqual(await ask(taken), { answer: 'a' });
  await p.close();
  await a.stop();
});

/** Writes `data` with backpressure, then FIN. */
async function writeAll(s: Socket, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; off += 64 * 1024) {
    if (!s.write(data.subarray(off, off + 64 * 1024))) await once(s, 'drain');
  }
  s.end();
}

/** Reads to the end, stopping for a while part way (the proxy must hold the sender back). */
function readAll(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let paused = false;
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      n += c.length;
      if (!paused && n > 4 * MiB) {
        paused = true;
        s.pause();
        setTimeout(() => s.resume(), 300);
      }
    });
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

test('20 MiB each way, with backpressure and half-close', async () => {
  const digest = await backend('d', '127.0.0.16', 'digest');
  digest.reply = randomBytes(20 * MiB);
  const echo = await backend('e', '127.0.0.17', 'echo');
  const { p } = proxy();
  await p.set([
    { name: 'big/half-close', port: 0, backends: [digest.spec] },
    { name: 'big/echo', port: 0, backends: [echo.spec] },
  ]);
  const upload = randomBytes(20 * MiB);

  // The client ends its writing first; the backend answers only after that FIN, and the client still reads it all.
  const s1 = net.connect({ host: HOST, port: portOf(p, 'big/half-close'), allowHalfOpen: true });
  await once(s1, 'connect');
  const [, got1] = await Promise.all([writeAll(s1, upload), readAll(s1)]);
  assert.equal(got1.subarray(0, 65).toString(), `${sha(upload)}\n`);
  assert.equal(got1.length, 65 + digest.reply.length);
  assert.equal(sha(got1.subarray(65)), sha(digest.reply));
  s1.destroy();

  // Both directions at once.
  const s2 = net.connect({ host: HOST, port: portOf(p, 'big/echo'), allowHalfOpen: true });
  await once(s2, 'connect');
  const [, got2] = await Promise.all([writeAll(s2, upload), readAll(s2)]);
  assert.equal(got2.length, upload.length);
  assert.equal(sha(got2), sha(upload));
  s2.destroy();

  await until('connections closed', () => p.status().every((e) => e.open === 0));
  const [half, ech] = p.status();
  assert.deepEqual([half!.bytesIn, half!.bytesOut], [upload.length, 65 + digest.reply.length]);
  assert.deepEqual([ech!.bytesIn, ech!.bytesOut], [upload.length, upload.length]);
  await p.close();
  await Promise.all([digest.stop(), echo.stop()]);
});

const handles = (): Record<string, number> => {
  const n: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) n[r] = (n[r] ?? 0) + 1;
  return n;
};

test('close() leaves no listener, connection or timer behind, and is safe twice', async () => {
  const a = await backend('a', '127.0.0.18', 'echo');
  const dead = await backend('dead', '127.0.0.19');
  await dead.stop();
  const hole = await blackhole('127.0.0.22', 0);
  await sleep(50);
  const before = handles();
  const { p } = proxy({ healthIntervalMs: 50, healthTimeoutMs: 5000, connectTimeoutMs: 5000 });
  await p.set([
    { name: 'h/api', port: 0, backends: [dead.spec, hole] },
    { name: 'h/ingress-http', port: 0, backends: [a.spec] },
  ]);
  // A connection mid-conversation when the proxy closes.
  const s = net.connect({ host: HOST, port: portOf(p, 'h/ingress-http') });
  s.on('error', () => undefined);
  s.write('x');
  await once(s, 'data');
  // A connection still connecting (to the hole) and a check in flight (to the hole) too.
  const connecting = net.connect({ host: HOST, port: portOf(p, 'h/api') });
  connecting.on('error', () => undefined);
  await until('a connection waiting on the hole', () => p.status()[0]!.open === 1);
  await sleep(120);
  const closed = Promise.all([s, connecting].map((c) => new Promise((r) => c.on('close', r))));
  await Promise.all([p.close(), p.close()]);
  await p.close();
  await closed;
  await assert.rejects(p.set([]), (e) => isIronbayError(e, 'IB_ERR_CONFLICT'));
  await sleep(50); // the echo backend's side of the connection closes
  assert.deepEqual(handles(), before);
  await a.stop();
});
