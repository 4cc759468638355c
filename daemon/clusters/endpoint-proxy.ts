// The workload clusters' stable endpoints on the appliance's production side (issue 7): per
// endpoint one TCP listener (a cluster's Kubernetes API, its ingress HTTP, its ingress HTTPS)
// whose connections are forwarded, round-robin, to the endpoint's healthy backends. A backend
// is an address:port on a KVM host that the host DNATs to one VM; to this module it is only
// `{ id, host, port }`.
//
// Health: every backend is TCP-connect checked each interval (never two checks at once). A
// new backend is "unknown" and usable until its first check; a healthy one is down after
// `failAfter` failed checks in a row, a down one healthy again after `riseAfter` good ones. A
// connection that cannot reach its backend counts as a failed check of that backend and goes
// on to the next usable one, so a VM that just died costs a client latency, not an error.
// With no backend reachable the client's connection is reset and counted.
//
// Forwarding is `pipe` both ways (backpressure), half-close honoured (allowHalfOpen: a client
// that shuts down its writing still reads the whole reply); an error on either side resets
// both. Everything the proxy opens — listeners, connections, checks, timers — is ended by
// close().
import net, { type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { IronbayError, type ErrorCode } from '../errors.ts';

export interface Backend {
  /** Stable name, e.g. the VM's name; a changed host or port under the same id is a new backend. */
  id: string;
  host: string;
  port: number;
}

export interface EndpointSpec {
  /** `cluster/role`, e.g. "demo/api", "demo/ingress-https". */
  name: string;
  /** Listen port on the proxy's listenHost; 0 takes a free one (status() tells which). */
  port: number;
  backends: Backend[];
}

/** A backend's state changed: first checked (from unknown), gone down, or come back. */
export interface BackendChange {
  endpoint: string;
  backend: string;
  healthy: boolean;
  /** Why it went down (the failed check's error), absent when it comes up. */
  reason?: string;
}

/** Opens a TCP connection; net.connect unless a test injects another. */
export type Dial = (host: string, port: number) => Socket;

export interface EndpointProxyOptions {
  listenHost: string;
  log: Logger;
  /** Default 2000. */
  healthIntervalMs?: number;
  /** A check not connected by then has failed. Default 1000. */
  healthTimeoutMs?: number;
  /** A forwarded connection's connect to one backend; past it the next backend is tried. Default 3000. */
  connectTimeoutMs?: number;
  /** Failed checks in a row that take a healthy backend down. Default 2. */
  failAfter?: number;
  /** Good checks in a row that bring a down backend back. Default 1. */
  riseAfter?: number;
  onChange?: (e: BackendChange) => void;
  /** Registers ironbay_cluster_endpoint_* metrics here. */
  registry?: Registry;
  dial?: Dial;
}

export interface BackendStatus {
  id: string;
  host: string;
  port: number;
  /** null until the first check. */
  healthy: boolean | null;
  lastError: string | null;
  /** ISO time of the last health check, null before the first. */
  lastCheckAt: string | null;
  /** Connections forwarded to it and still open. */
  open: number;
}

export interface EndpointStatus {
  name: string;
  /** The port listened on (the one taken when 0 was asked). */
  port: number;
  listening: boolean;
  /** Why the last attempt to listen failed, while not listening. */
  listenError: string | null;
  /** Client connections open now, including those still connecting to a backend. */
  open: number;
  /** Client connections accepted. */
  total: number;
  /** Connections reset because no backend was usable or none could be reached. */
  failed: number;
  /** Bytes from clients to backends, and back. */
  bytesIn: number;
  bytesOut: number;
  backends: BackendStatus[];
}

/** Connection results as counted in the metric: forwarded; no usable backend; every usable one failed to connect. */
type Result = 'ok' | 'no-backend' | 'unreachable';

/** Keepalive on both legs: a VM that vanishes without a RST (host gone) is noticed in minutes, not never. */
const KEEPALIVE_MS = 60_000;

interface BackendState extends Backend {
  health: 'unknown' | 'healthy' | 'down';
  okStreak: number;
  failStreak: number;
  lastError: string | null;
  lastCheckAt: number | null;
  /** Cancels the check in flight. */
  checking: (() => void) | null;
  removed: boolean;
  open: number;
}

interface Conn {
  client: Socket;
  /** The listener that accepted it (an endpoint moved to another port ends the old one's). */
  server: Server;
  /** The backend connection: being tried, then piped. */
  backend: Socket | null;
  target: BackendState | null;
  connectTimer: NodeJS.Timeout | null;
  piping: boolean;
  clientClosed: boolean;
  backendClosed: boolean;
}

interface EndpointState {
  name: string;
  /** As asked (0: any); compared on the next set(). */
  wantPort: number;
  port: number;
  server: Server | null;
  listenError: string | null;
  backends: BackendState[];
  rr: number;
  conns: Set<Conn>;
  accepted: number;
  results: Record<Result, number>;
  /** Bytes of connections already closed; open ones are added in status(). */
  bytesIn: number;
  bytesOut: number;
  log: Logger;
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Ends a socket with a RST (the client sees a failure, not an empty answer). */
function reset(s: Socket | null): void {
  if (!s || s.destroyed) return;
  // resetAndDestroy() on a socket still connecting waits for the connect: drop it now instead.
  if (s.connecting) {
    s.destroy();
    return;
  }
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy(); // Not a TCP handle (an injected dialer's socket).
  }
}

/** Both directions ended by FIN: nothing was cut short. */
const endedCleanly = (s: Socket): boolean => s.readableEnded && s.writableFinished;

function validate(specs: EndpointSpec[]): void {
  const bad = (msg: string): never => {
    throw new IronbayError('IB_ERR_BAD_REQUEST', `cluster endpoints: ${msg}`);
  };
  const names = new Set<string>();
  const validPort = (p: number, min: number): boolean => Number.isInteger(p) && p >= min && p <= 65535;
  for (const e of specs) {
    if (!e.name) bad('an endpoint without a name');
    if (names.has(e.name)) bad(`endpoint ${e.name} listed twice`);
    names.add(e.name);
    if (!validPort(e.port, 0)) bad(`endpoint ${e.name}: port ${e.port} is not 0–65535`);
    const ids = new Set<string>();
    for (const b of e.backends) {
      if (!b.id) bad(`endpoint ${e.name}: a backend without an id`);
      if (ids.has(b.id)) bad(`endpoint ${e.name}: backend ${b.id} listed twice`);
      ids.add(b.id);
      if (!b.host) bad(`endpoint ${e.name} backend ${b.id}: no host`);
      if (!validPort(b.port, 1)) bad(`endpoint ${e.name} backend ${b.id}: port ${b.port} is not 1–65535`);
    }
  }
}

export class EndpointProxy {
  private readonly listenHost: string;
  private readonly log: Logger;
  private readonly healthIntervalMs: number;
  private readonly healthTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly failAfter: number;
  private readonly riseAfter: number;
  private readonly onChange: ((e: BackendChange) => void) | undefined;
  private readonly dial: Dial;
  private readonly endpoints = new Map<string, EndpointState>();
  private healthTimer: NodeJS.Timeout | null = null;
  /** set() calls run one after the other. */
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(opts: EndpointProxyOptions) {
    this.listenHost = opts.listenHost;
    this.log = opts.log.child({ mod: 'endpoint-proxy' });
    this.healthIntervalMs = opts.healthIntervalMs ?? 2000;
    this.healthTimeoutMs = opts.healthTimeoutMs ?? 1000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    this.failAfter = opts.failAfter ?? 2;
    this.riseAfter = opts.riseAfter ?? 1;
    for (const [k, v] of Object.entries({ healthIntervalMs: this.healthIntervalMs, healthTimeoutMs: this.healthTimeoutMs, connectTimeoutMs: this.connectTimeoutMs, failAfter: this.failAfter, riseAfter: this.riseAfter })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`endpoint proxy ${k} must be a positive integer, not ${v}`);
    }
    this.onChange = opts.onChange;
    this.dial = opts.dial ?? ((host, port) => net.connect({ host, port, allowHalfOpen: true }));
    if (opts.registry) this.registerMetrics(opts.registry);
  }

  /**
   * Makes the listeners and backends these. Validated whole first (IB_ERR_BAD_REQUEST, nothing
   * changed). An endpoint that cannot listen is kept (tried again on the next set()) and the
   * call throws naming it and its port once the others are applied: IB_ERR_CONFLICT when the
   * port is taken, IB_ERR_INTERNAL otherwise.
   */
  async set(specs: EndpointSpec[]): Promise<void> {
    validate(specs);
    const run = this.queue.then(() => this.apply(specs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  status(): EndpointStatus[] {
    return [...this.endpoints.values()].map((ep) => {
      let bytesIn = ep.bytesIn;
      let bytesOut = ep.bytesOut;
      for (const c of ep.conns) {
        if (c.clientClosed) continue;
        bytesIn += c.client.bytesRead;
        bytesOut += c.client.bytesWritten;
      }
      return {
        name: ep.name,
        port: ep.port,
        listening: ep.server !== null,
        listenError: ep.server ? null : ep.listenError,
        open: ep.conns.size,
        total: ep.accepted,
        failed: ep.results['no-backend'] + ep.results.unreachable,
        bytesIn,
        bytesOut,
        backends: ep.backends.map((b) => ({
          id: b.id,
          host: b.host,
          port: b.port,
          healthy: b.health === 'unknown' ? null : b.health === 'healthy',
          lastError: b.lastError,
          lastCheckAt: b.lastCheckAt === null ? null : new Date(b.lastCheckAt).toISOString(),
          open: b.open,
        })),
      };
    });
  }

  /** Closes every listener, connection, check and timer. Safe to call again. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.healthTimerFor(false);
      // A set() under way finishes first; the ones queued after it find the proxy closed.
      this.closing = this.queue.then(async () => {
        await Promise.all([...this.endpoints.values()].map((ep) => this.removeEndpoint(ep)));
      });
    }
    return this.closing;
  }

  // -------------------------------------------------------------------------------------
  // Declarative changes

  private async apply(specs: EndpointSpec[]): Promise<void> {
    if (this.closed) throw new IronbayError('IB_ERR_CONFLICT', 'cluster endpoints: the endpoint proxy is closed');
    const wanted = new Set(specs.map((s) => s.name));
    await Promise.all([...this.endpoints.values()].filter((ep) => !wanted.has(ep.name)).map((ep) => this.removeEndpoint(ep)));
    const failures: { ep: EndpointState; port: number; err: unknown }[] = [];
    await Promise.all(
      specs.map(async (spec) => {
        let ep = this.endpoints.get(spec.name);
        if (!ep) {
          ep = {
            name: spec.name,
            wantPort: spec.port,
            port: spec.port,
            server: null,
            listenError: null,
            backends: [],
            rr: 0,
            conns: new Set(),
            accepted: 0,
            results: { ok: 0, 'no-backend': 0, unreachable: 0 },
            bytesIn: 0,
            bytesOut: 0,
            log: this.log.child({ endpoint: spec.name }),
          };
          this.endpoints.set(spec.name, ep);
        }
        this.updateBackends(ep, spec.backends);
        // Unchanged, or now asked by the number it was given for 0.
        if (ep.server && (ep.wantPort === spec.port || ep.port === spec.port)) {
          ep.wantPort = spec.port;
          return;
        }
        try {
          // The new port first: if it cannot be had, the old one keeps serving.
          const server = await this.listen(ep, spec.port);
          const old = ep.server;
          const oldPort = ep.port;
          ep.server = server;
          ep.wantPort = spec.port;
          ep.port = (server.address() as net.AddressInfo).port;
          ep.listenError = null;
          ep.log.info({ port: ep.port, was: old ? oldPort : undefined }, 'cluster endpoint listening');
          if (old) await this.closeServer(ep, old);
        } catch (err) {
          ep.listenError = errText(err);
          if (!ep.server) ep.port = spec.port;
          failures.push({ ep, port: spec.port, err });
        }
      }),
    );
    this.healthTimerFor(this.endpoints.size > 0);
    if (!failures.length) return;
    const codeOf = (err: unknown): ErrorCode => ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'IB_ERR_CONFLICT' : 'IB_ERR_INTERNAL');
    const what = failures.map(({ ep, port, err }) => `endpoint ${ep.name} cannot listen on ${this.listenHost}:${port}: ${errText(err)}`);
    throw new IronbayError(codeOf(failures[0]!.err), what.join('; '), { cause: failures[0]!.err, details: { endpoints: failures.map((f) => f.ep.name) } });
  }

  private listen(ep: EndpointState, port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS }, (s) => this.accept(ep, server, s));
      server.once('error', reject);
      server.listen({ host: this.listenHost, port }, () => {
        server.off('error', reject);
        // After listening, errors are accept() failures (EMFILE…): logged, the listener stays.
        server.on('error', (err) => ep.log.error({ err }, 'cluster endpoint listener error'));
        resolve(server);
      });
    });
  }

  /** Backends in the new order; the same id at the same address keeps its state and connections. */
  private updateBackends(ep: EndpointState, specs: Backend[]): void {
    const old = new Map(ep.backends.map((b) => [b.id, b]));
    ep.backends = specs.map((s) => {
      const b = old.get(s.id);
      if (b && b.host === s.host && b.port === s.port) {
        old.delete(s.id);
        return b;
      }
      const fresh: BackendState = { id: s.id, host: s.host, port: s.port, health: 'unknown', okStreak: 0, failStreak: 0, lastError: null, lastCheckAt: null, checking: null, removed: false, open: 0 };
      if (!this.closed) queueMicrotask(() => this.check(ep, fresh));
      return fresh;
    });
    // A removed backend's open connections may finish; none are started to it.
    for (const b of old.values()) {
      b.removed = true;
      b.checking?.();
      ep.log.info({ backend: b.id, open: b.open }, 'cluster endpoint backend removed');
    }
  }

  private async removeEndpoint(ep: EndpointState): Promise<void> {
    this.endpoints.delete(ep.name);
    for (const b of ep.backends) {
      b.removed = true;
      b.checking?.();
    }
    if (ep.server) await this.closeServer(ep, ep.server);
    ep.server = null;
    ep.log.info('cluster endpoint closed');
  }

  /** Stops accepting and ends the connections it accepted. */
  private async closeServer(ep: EndpointState, server: Server): Promise<void> {
    const done = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of ep.conns) {
      if (c.server !== server) continue;
      if (c.connectTimer) clearTimeout(c.connectTimer);
      c.connectTimer = null;
      reset(c.client);
      reset(c.backend);
    }
    await done;
  }

  // -------------------------------------------------------------------------------------
  // Health

  /** The check timer runs while there are endpoints (not unref'd: a leak shows in tests). */
  private healthTimerFor(wanted: boolean): void {
    if (wanted && !this.healthTimer && !this.closed) this.healthTimer = setInterval(() => this.checkAll(), this.healthIntervalMs);
    if (!wanted && this.healthTimer) {
      clearInterval(this.healthTimer);
      this.healthTimer = null;
    }
  }

  private checkAll(): void {
    for (const ep of this.endpoints.values()) for (const b of ep.backends) this.check(ep, b);
  }

  private check(ep: EndpointState, b: BackendState): void {
    if (b.checking || b.removed || this.closed) return;
    const sock = this.dial(b.host, b.port);
    let done = false;
    const finish = (error: string | null, record: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      b.checking = null;
      if (record && !b.removed && !this.closed) this.record(ep, b, error, true);
    };
    const timer = setTimeout(() => finish(`connect timed out after ${this.healthTimeoutMs} ms`, true), this.healthTimeoutMs);
    b.checking = () => finish(null, false);
    sock.once('connect', () => finish(null, true));
    sock.once('error', (err) => finish(errText(err), true));
    sock.once('close', () => finish('closed before connecting', true));
  }

  /** One check's result (or a forwarded connection's failed connect), through the hysteresis. */
  private record(ep: EndpointState, b: BackendState, error: string | null, isCheck: boolean): void {
    if (isCheck) b.lastCheckAt = Date.now();
    if (error === null) {
      b.lastError = null;
      b.failStreak = 0;
      b.okStreak++;
      if (b.health === 'unknown' || (b.health === 'down' && b.okStreak >= this.riseAfter)) this.transition(ep, b, true);
    } else {
      b.lastError = isCheck ? error : `${error} (forwarding a connection)`;
      b.okStreak = 0;
      b.failStreak++;
      if (b.health === 'unknown' || (b.health === 'healthy' && b.failStreak >= this.failAfter)) this.transition(ep, b, false, b.lastError);
    }
  }

  private transition(ep: EndpointState, b: BackendState, healthy: boolean, reason?: string): void {
    b.health = healthy ? 'healthy' : 'down';
    if (healthy) ep.log.info({ backend: b.id, host: b.host, port: b.port }, 'cluster endpoint backend up');
    else ep.log.warn({ backend: b.id, host: b.host, port: b.port, reason }, 'cluster endpoint backend down');
    try {
      this.onChange?.({ endpoint: ep.name, backend: b.id, healthy, ...(reason === undefined ? {} : { reason }) });
    } catch (err) {
      ep.log.error({ err }, 'cluster endpoint onChange callback threw');
    }
  }

  // -------------------------------------------------------------------------------------
  // Forwarding

  private accept(ep: EndpointState, server: Server, client: Socket): void {
    const c: Conn = { client, server, backend: null, target: null, connectTimer: null, piping: false, clientClosed: false, backendClosed: false };
    ep.conns.add(c);
    ep.accepted++;
    client.on('error', (err) => {
      ep.log.debug({ err: errText(err), remote: client.remoteAddress }, 'cluster endpoint client connection error');
      reset(c.backend);
    });
    client.once('close', () => {
      c.clientClosed = true;
      ep.bytesIn += client.bytesRead;
      ep.bytesOut += client.bytesWritten;
      if (!c.piping) {
        // Gone while a backend was being tried.
        if (c.connectTimer) clearTimeout(c.connectTimer);
        c.connectTimer = null;
        c.backend?.destroy();
        c.backend = null;
      } else if (!endedCleanly(client)) reset(c.backend);
      this.released(ep, c);
    });
    // The usable backends from the next in turn on; tried in this order. With none usable, the
    // down ones are tried all the same: one may be back before its next check says so (a VM
    // just restarted), and a refused connect costs the client no more than the reset would.
    const usable = ep.backends.filter((b) => b.health !== 'down');
    const lastResort = usable.length === 0;
    const pool = lastResort ? ep.backends.filter((b) => !b.removed) : usable;
    const start = pool.length ? ep.rr++ % pool.length : 0;
    const order = [...pool.slice(start), ...pool.slice(0, start)];
    this.tryNext(ep, c, order, false, lastResort);
  }

  private tryNext(ep: EndpointState, c: Conn, order: BackendState[], tried: boolean, lastResort = false): void {
    let b = order.shift();
    // One that went down or was removed since the order was made is passed over.
    while (b && (b.removed || (b.health === 'down' && !lastResort))) b = order.shift();
    if (!b) {
      const result = tried ? 'unreachable' : 'no-backend';
      ep.results[result]++;
      ep.log.debug({ result, remote: c.client.remoteAddress }, 'cluster endpoint connection refused: no backend reachable');
      reset(c.client);
      return;
    }
    const target = b;
    const sock = this.dial(target.host, target.port);
    c.backend = sock;
    c.target = target;
    const fail = (why: string, suspect: boolean): void => {
      if (c.backend !== sock) return;
      if (c.connectTimer) clearTimeout(c.connectTimer);
      c.connectTimer = null;
      // onError stays: a late error of this socket lands in the guard above.
      sock.destroy();
      c.backend = null;
      c.target = null;
      if (suspect) this.record(ep, target, why, false);
      ep.log.debug({ backend: target.id, why }, 'cluster endpoint backend connect failed; trying the next');
      if (!c.clientClosed) this.tryNext(ep, c, order, true, lastResort);
    };
    const onError = (err: Error): void => fail(errText(err), true);
    sock.once('error', onError);
    c.connectTimer = setTimeout(() => fail(`connect timed out after ${this.connectTimeoutMs} ms`, true), this.connectTimeoutMs);
    sock.once('connect', () => {
      if (c.backend !== sock) return;
      if (target.removed) {
        fail('removed while connecting', false);
        return;
      }
      if (c.connectTimer) clearTimeout(c.connectTimer);
      c.connectTimer = null;
      sock.off('error', onError);
      // A down backend that accepted is up again, as a check would have found.
      if (target.health === 'down') this.record(ep, target, null, false);
      this.splice(ep, c, target, sock);
    });
  }

  private splice(ep: EndpointState, c: Conn, b: BackendState, sock: Socket): void {
    c.piping = true;
    ep.results.ok++;
    b.open++;
    sock.setNoDelay(true);
    sock.setKeepAlive(true, KEEPALIVE_MS);
    sock.on('error', (err) => {
      ep.log.debug({ err: errText(err), backend: b.id }, 'cluster endpoint backend connection error');
      reset(c.client);
    });
    sock.once('close', () => {
      c.backendClosed = true;
      b.open--;
      if (!endedCleanly(sock)) reset(c.client);
      this.released(ep, c);
    });
    c.client.pipe(sock);
    sock.pipe(c.client);
  }

  private released(ep: EndpointState, c: Conn): void {
    if (c.clientClosed && (!c.piping || c.backendClosed)) ep.conns.delete(c);
  }

  // -------------------------------------------------------------------------------------
  // Metrics, read from the endpoints' own tallies at scrape time

  private registerMetrics(registry: Registry): void {
    const endpoints = this.endpoints;
    new Counter({
      name: 'ironbay_cluster_endpoint_connections_total',
      help: 'Client connections to the clusters’ endpoints by result: ok (forwarded), no-backend (the endpoint has none), unreachable (every one tried failed to connect; with none healthy, the down ones are tried)',
      labelNames: ['endpoint', 'result'],
      registers: [registry],
      collect() {
        this.reset();
        for (const ep of endpoints.values()) for (const [result, n] of Object.entries(ep.results)) this.inc({ endpoint: ep.name, result }, n);
      },
    });
    new Gauge({
      name: 'ironbay_cluster_endpoint_backend_up',
      help: 'Whether a cluster endpoint’s backend passes its health checks (1) or is down (0); absent before its first check',
      labelNames: ['endpoint', 'backend'],
      registers: [registry],
      collect() {
        this.reset();
        for (const ep of endpoints.values()) for (const b of ep.backends) if (b.health !== 'unknown') this.set({ endpoint: ep.name, backend: b.id }, b.health === 'healthy' ? 1 : 0);
      },
    });
  }
}
