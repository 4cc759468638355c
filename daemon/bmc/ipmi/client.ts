// The process's IPMI client: one UDP socket (transport.ts), one session per BMC, an overall cap
// on operations in flight, and what was learned about each BMC (its cipher suite).
import { BmcError } from '../driver.ts';
import { Limiter } from '../../lib/limiter.ts';
import { IpmiSession, type SessionTarget } from './session.ts';
import { IpmiTransport, resolveAddress } from './transport.ts';

export interface IpmiClientOptions {
  /** Per-try wait; default 1000 ms (a BMC on a healthy LAN answers within ~10 ms). */
  timeoutMs?: number;
  /** Tries after the first; default 3. */
  retries?: number;
  /** Idle sessions are closed after this long; default 20 s (BMCs time them out at 30–60 s). */
  idleCloseMs?: number;
  /** Operations in flight over all BMCs; default 256. Per BMC it is 1: a session runs one command at a time. */
  maxConcurrent?: number;
}

export interface IpmiEndpoint {
  host: string;
  port?: number | undefined;
  username: string;
  password: string;
  cipherSuite?: number | undefined;
  allowCipherSuiteZero?: boolean | undefined;
  timeoutMs?: number | undefined;
  retries?: number | undefined;
}

export class IpmiClient {
  readonly transport = new IpmiTransport();
  private readonly sessions = new Map<string, { session: IpmiSession; fingerprint: string }>();
  private readonly suites = new Map<string, number>();
  readonly drops = new Map<string, number>();
  /** Sessions established since the client started (a BMC that keeps dropping them shows here). */
  sessionsOpened = 0;
  private readonly limiter: Limiter;
  private readonly opts: Required<IpmiClientOptions>;

  constructor(opts: IpmiClientOptions = {}) {
    this.opts = { timeoutMs: opts.timeoutMs ?? 1000, retries: opts.retries ?? 3, idleCloseMs: opts.idleCloseMs ?? 20_000, maxConcurrent: opts.maxConcurrent ?? 256 };
    this.limiter = new Limiter(this.opts.maxConcurrent);
  }

  /** Runs fn with the BMC's session, within the overall cap. */
  async with<T>(endpoint: IpmiEndpoint, fn: (s: IpmiSession) => Promise<T>): Promise<T> {
    return this.limiter.run(async () => fn(await this.session(endpoint)));
  }

  /** The cipher suite a BMC settled on, once a session has been opened. */
  suiteOf(endpoint: IpmiEndpoint): number | undefined {
    return this.suites.get(`${endpoint.host}|${endpoint.port ?? 623}`);
  }

  private async session(e: IpmiEndpoint): Promise<IpmiSession> {
    const port = e.port ?? 623;
    const shown = `${e.host}:${port}`;
    let address: string;
    try {
      address = await resolveAddress(e.host);
    } catch (err) {
      throw new BmcError('IB_ERR_BMC_UNREACHABLE', shown, `cannot resolve "${e.host}": ${(err as Error).message}`, { cause: err });
    }
    const key = `${address}|${port}`;
    // A changed user, password or suite (an inventory edit) replaces the session.
    const fingerprint = JSON.stringify([e.username, e.password, e.cipherSuite, e.allowCipherSuiteZero, e.timeoutMs, e.retries]);
    const existing = this.sessions.get(key);
    if (existing?.fingerprint === fingerprint) return existing.session;
    if (existing) {
      this.sessions.delete(key);
      await existing.session.close();
    }
    const target: SessionTarget = { address, port, username: e.username, password: e.password, cipherSuite: e.cipherSuite, allowCipherSuiteZero: e.allowCipherSuiteZero };
    const suiteKey = `${e.host}|${port}`;
    const session = new IpmiSession(target, {
      transport: this.transport,
      timeoutMs: e.timeoutMs ?? this.opts.timeoutMs,
      retries: e.retries ?? this.opts.retries,
      idleCloseMs: this.opts.idleCloseMs,
      knownSuite: this.suites.get(suiteKey),
      onSuite: (_offered, chosen) => this.suites.set(suiteKey, chosen),
      onDrop: (reason) => this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1),
      onOpen: () => this.sessionsOpened++,
    });
    this.sessions.set(key, { session, fingerprint });
    return session;
  }

  get openSessions(): number {
    let n = 0;
    for (const { session } of this.sessions.values()) if (session.active) n++;
    return n;
  }

  /** Closes every session on its BMC, then the socket. */
  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(({ session }) => session.close()));
    this.transport.close();
  }
}
