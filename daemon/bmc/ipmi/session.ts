// One RMCP+ session with one BMC (IPMI v2.0 §13.14–13.24): opened on first use, reused by every
// call after, re-opened when the BMC has dropped it, closed when idle so it does not hold one
// of the BMC's few session slots. Commands go one at a time (BMCs are small and many serve one
// request per session at a time); each try is bounded and retried a bounded number of times.
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { BmcError } from '../driver.ts';
import {
  additionalKeys, AUTH, closeSession, decodeAsf, encodeAsfPing, decodeOpenSessionResponse, decodeRakp2, decodeRakp4, decodeResponse, decodeRmcp, decodeSession,
  encodeOpenSessionRequest, encodeRakp1, encodeRakp3, encodeRequest, encodeV15, encodeV2, getChannelAuthCapabilities,
  getChannelCipherSuites, parseAuthCapabilities, parseCipherSuiteChunk, parseCipherSuiteRecords, PAYLOAD, PREFERRED_SUITES, PRIVILEGE,
  rakp2AuthCode, rakp3AuthCode, rakp4Icv, rakp4IcvLength, required, RMCP_CLASS, sessionIntegrityKey, setSessionPrivilegeLevel, SUITES,
  CIPHER_SUITE_CHUNK, MAX_USERNAME, type Command, type IpmiResponse, type RakpValues, type SessionKeys, type V15Packet, type V2Packet,
} from './codec/index.ts';
import { completionError, rmcpStatusError } from './errors.ts';
import { ReplayWindow } from './replay.ts';
import type { IpmiTransport } from './transport.ts';

export interface SessionTarget {
  /** A literal IP address (resolved by the caller). */
  address: string;
  port: number;
  username: string;
  password: string;
  cipherSuite?: number | undefined;
  allowCipherSuiteZero?: boolean | undefined;
}

export interface SessionOptions {
  transport: IpmiTransport;
  /** Per-try wait for an answer. */
  timeoutMs: number;
  /** Tries after the first; the worst case of one exchange is timeoutMs × (retries + 1). */
  retries: number;
  /** Close the session after this long without a command (BMCs have ~4–16 session slots). */
  idleCloseMs: number;
  /** Privilege to log in at: operator covers chassis control and boot options (§G, Table G-1). */
  privilege?: number;
  /** A suite learned before (probe), so the list need not be fetched again. */
  knownSuite?: number | undefined;
  /** Called with the suites the BMC offers and the one chosen. */
  onSuite?: (offered: number[] | undefined, chosen: number) => void;
  /** Counts datagrams dropped by reason (malformed, failed integrity, replayed…). */
  onDrop?: (reason: string) => void;
  /** Called each time a session is established (first use, or after the BMC dropped one). */
  onOpen?: () => void;
}

type Packet = V15Packet | V2Packet;
interface Pending {
  match: (p: Packet) => boolean;
  resolve: (p: Packet) => void;
}

export class IpmiSession {
  readonly endpoint: string;
  private state: 'closed' | 'active' = 'closed';
  private keys: SessionKeys | undefined;
  private bmcSessionId = 0;
  private consoleSessionId = 0;
  private outSeq = 1;
  private rqSeq = 0;
  private replay = new ReplayWindow();
  private pending: Pending | undefined;
  private pong: ((tag: number, ipmi: boolean) => void) | undefined;
  /** Has the BMC answered anything since this session object exists: "unreachable" vs "stopped answering". */
  private heard = false;
  private chain: Promise<unknown> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly unregister: () => void;
  private readonly user: Buffer;
  private readonly password: Buffer;
  private readonly privilege: number;
  /** What the last successful open learned. */
  offeredSuites: number[] | undefined;
  suite: number | undefined;
  private disposed = false;
  private readonly target: SessionTarget;
  private readonly opts: SessionOptions;

  constructor(target: SessionTarget, opts: SessionOptions) {
    this.target = target;
    this.opts = opts;
    this.endpoint = `${target.address.includes(':') ? `[${target.address}]` : target.address}:${target.port}`;
    this.user = Buffer.from(target.username, 'utf8');
    this.password = Buffer.from(target.password, 'utf8');
    this.privilege = opts.privilege ?? PRIVILEGE.operator;
    this.suite = opts.knownSuite;
    this.unregister = opts.transport.register(target.address, target.port, (d) => this.onDatagram(d));
  }

  /** Runs one command in the session (opening it first if needed); rejects on a non-zero completion code. */
  command(c: Command, what: string): Promise<IpmiResponse> {
    return this.serial(async () => {
      const r = await this.commandOnce(c, what);
      if (r.completionCode !== 0) throw completionError(this.endpoint, what, r.completionCode);
      return r;
    });
  }

  /** Like command() but hands back non-zero completion codes for the caller to judge. */
  commandRaw(c: Command, what: string): Promise<IpmiResponse> {
    return this.serial(() => this.commandOnce(c, what));
  }

  /** Ends the session on the BMC (best effort) and stops listening. */
  close(): Promise<void> {
    this.disposed = true;
    return this.serial(async () => {
      await this.closeOnBmc();
      this.unregister();
    });
  }

  /**
   * ASF presence ping (DSP0136 §3.2.4.3): is anything at this address speaking RMCP, and does
   * it say it has IPMI? Needs no credentials; undefined when nothing answered.
   */
  ping(): Promise<{ ipmi: boolean } | undefined> {
    return this.serial(async () => {
      // Two tries at most: a BMC may rightly ignore pings, and probe() should not wait long for that.
      for (let i = 0; i < Math.min(2, this.opts.retries + 1); i++) {
        const tag = randomInt(0, 255);
        const answer = new Promise<{ ipmi: boolean } | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), this.opts.timeoutMs);
          this.pong = (t, ipmi) => {
            if (t !== tag) return;
            clearTimeout(timer);
            resolve({ ipmi });
          };
        });
        await this.opts.transport.send(this.target.address, this.target.port, encodeAsfPing(tag)).catch(() => undefined);
        const a = await answer;
        this.pong = undefined;
        if (a) return a;
      }
      return undefined;
    });
  }

  get active(): boolean {
    return this.state === 'active';
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async commandOnce(c: Command, what: string): Promise<IpmiResponse> {
    if (this.disposed && this.state === 'closed') throw new BmcError('IB_ERR_BMC_FAILED', this.endpoint, `${what}: session closed`);
    clearTimeout(this.idleTimer);
    const wasActive = this.state === 'active';
    if (!wasActive) await this.open();
    let r: IpmiResponse;
    try {
      r = await this.inSession(c, what);
    } catch (e) {
      // A BMC that forgot the session (rebooted, timed it out) answers nothing: open a new
      // one once and repeat. If the BMC is gone, the new handshake says so.
      if (!wasActive || !(e instanceof BmcError) || e.code !== 'IB_ERR_BMC_TIMEOUT') throw e;
      this.drop();
      await this.open();
      r = await this.inSession(c, what);
    }
    this.idleTimer = setTimeout(() => void this.serial(() => this.closeOnBmc()), this.opts.idleCloseMs);
    this.idleTimer.unref();
    return r;
  }

  private inSession(c: Command, what: string, tries = this.opts.retries + 1): Promise<IpmiResponse> {
    const seq = this.nextRqSeq();
    const payload = encodeRequest({ netFn: c.netFn, cmd: c.cmd, seq, data: c.data });
    return this.exchangeMessage(
      () => encodeV2({ payloadType: PAYLOAD.ipmi, sessionId: this.bmcSessionId, sequence: this.nextOutSeq(), payload, keys: this.keys }),
      c,
      seq,
      'v2.0',
      what,
      tries,
    );
  }

  private nextRqSeq(): number {
    this.rqSeq = (this.rqSeq + 1) & 0x3f;
    return this.rqSeq;
  }

  private nextOutSeq(): number {
    const s = this.outSeq;
    this.outSeq = this.outSeq >= 0xffffffff ? 1 : this.outSeq + 1;
    return s;
  }

  /** A request outside any session, in the v1.5 format every IPMI v2.0 BMC accepts (§13.6). */
  private outside(c: Command, what: string): Promise<IpmiResponse> {
    const seq = this.nextRqSeq();
    const payload = encodeRequest({ netFn: c.netFn, cmd: c.cmd, seq, data: c.data });
    return this.exchangeMessage(() => encodeV15(payload), c, seq, 'v1.5', what, this.opts.retries + 1);
  }

  private async exchangeMessage(build: () => Buffer, c: Command, seq: number, format: 'v1.5' | 'v2.0', what: string, tries: number): Promise<IpmiResponse> {
    let response: IpmiResponse | undefined;
    await this.exchange(
      build,
      (p) => {
        if (p.format !== format || (p.format === 'v2.0' && p.payloadType !== PAYLOAD.ipmi)) return false;
        const m = decodeResponse(p.payload);
        if (!m.ok) {
          this.opts.onDrop?.(m.reason);
          return false;
        }
        if (m.value.seq !== seq || m.value.cmd !== c.cmd || m.value.netFn !== c.netFn + 1) return false;
        response = m.value;
        return true;
      },
      what,
      tries,
    );
    return response!;
  }

  /** Sends, waits timeoutMs for a matching answer, and tries again up to `retries` times. */
  private async exchange(build: () => Buffer, match: (p: Packet) => boolean, what: string, tries = this.opts.retries + 1): Promise<Packet> {
    for (let i = 0; i < tries; i++) {
      const answer = new Promise<Packet | undefined>((resolve) => {
        const timer = setTimeout(() => {
          this.pending = undefined;
          resolve(undefined);
        }, this.opts.timeoutMs);
        this.pending = {
          match,
          resolve: (p) => {
            clearTimeout(timer);
            this.pending = undefined;
            resolve(p);
          },
        };
      });
      try {
        await this.opts.transport.send(this.target.address, this.target.port, build());
      } catch (e) {
        this.pending = undefined;
        throw new BmcError('IB_ERR_BMC_UNREACHABLE', this.endpoint, `${what}: cannot send: ${(e as Error).message}`, { cause: e });
      }
      const p = await answer;
      if (p) return p;
    }
    const span = `${tries} ${tries === 1 ? 'try' : 'tries'} of ${this.opts.timeoutMs} ms`;
    if (!this.heard) throw new BmcError('IB_ERR_BMC_UNREACHABLE', this.endpoint, `${what}: no answer after ${span} (no BMC listening, or the address is wrong)`);
    throw new BmcError('IB_ERR_BMC_TIMEOUT', this.endpoint, `${what}: the BMC stopped answering (${span})`);
  }

  private onDatagram(d: Buffer): void {
    const r = decodeRmcp(d);
    if (!r.ok) return this.opts.onDrop?.(r.reason);
    if (r.value.cls === RMCP_CLASS.asf) {
      const a = decodeAsf(r.value.body);
      if (a.ok && 'tag' in a.value && this.pong) {
        this.heard = true;
        this.pong(a.value.tag, a.value.ipmi);
      } else this.opts.onDrop?.(a.ok ? 'asf-unexpected' : a.reason);
      return;
    }
    const s = decodeSession(r.value.body, this.state === 'active' ? this.keys : undefined);
    if (!s.ok) return this.opts.onDrop?.(s.reason);
    const p = s.value;
    if (p.format === 'v2.0' && this.state === 'active' && p.payloadType === PAYLOAD.ipmi) {
      if (p.sessionId !== this.consoleSessionId) return this.opts.onDrop?.('session-id');
      const need = required(this.keys!);
      if ((need.authenticated && !p.authenticated) || (need.encrypted && !p.encrypted)) return this.opts.onDrop?.('session-unprotected');
      if (!this.replay.accept(p.sequence)) return this.opts.onDrop?.('session-replay');
    }
    this.heard = true;
    if (this.pending?.match(p)) this.pending.resolve(p);
    else this.opts.onDrop?.('unexpected');
  }

  // ---- opening (§13.14: Get Channel Auth Caps → Open Session → RAKP 1–4 → Set Session Privilege)

  private async open(): Promise<void> {
    if (this.user.length > MAX_USERNAME) throw new BmcError('IB_ERR_BMC_AUTH_USER', this.endpoint, `user name "${this.target.username}" is longer than IPMI's ${MAX_USERNAME} bytes`);
    if (this.password.length > 20) throw new BmcError('IB_ERR_BMC_AUTH_PASSWORD', this.endpoint, 'the password is longer than the 20 bytes IPMI v2.0 can carry');
    const caps = await this.outside(getChannelAuthCapabilities(this.privilege), 'Get Channel Authentication Capabilities');
    if (caps.completionCode !== 0) throw completionError(this.endpoint, 'Get Channel Authentication Capabilities', caps.completionCode);
    const c = parseAuthCapabilities(caps.data);
    if (!c.ok) throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, `Get Channel Authentication Capabilities: ${c.reason}`);
    if (!c.value.ipmi20) throw new BmcError('IB_ERR_BMC_UNSUPPORTED', this.endpoint, 'the BMC does not speak IPMI v2.0 (RMCP+); ironbay does not use IPMI v1.5 sessions');
    if (c.value.kgRequired) throw new BmcError('IB_ERR_BMC_UNSUPPORTED', this.endpoint, 'the BMC requires a two-key (Kg) login, which ironbay does not configure');

    const candidates = await this.candidateSuites();
    let last: BmcError | undefined;
    for (const suite of candidates) {
      try {
        await this.handshake(suite);
        this.opts.onOpen?.();
        this.suite = suite;
        this.opts.onSuite?.(this.offeredSuites, suite);
        return;
      } catch (e) {
        if (!(e instanceof BmcError) || e.code !== 'IB_ERR_BMC_CIPHER') throw e;
        last = e;
      }
    }
    throw last ?? new BmcError('IB_ERR_BMC_CIPHER', this.endpoint, 'no cipher suite to try');
  }

  private async candidateSuites(): Promise<number[]> {
    const fixed = this.target.cipherSuite;
    if (fixed !== undefined) {
      if (!SUITES.has(fixed)) throw new BmcError('IB_ERR_BMC_CIPHER', this.endpoint, `cipher suite ${fixed} is not one ironbay speaks (${[...SUITES.keys()].join(', ')})`);
      if (fixed === 0 && !this.target.allowCipherSuiteZero) {
        throw new BmcError('IB_ERR_BMC_CIPHER', this.endpoint, 'cipher suite 0 (no authentication) is refused; allow it per machine with allowCipherSuiteZero');
      }
      return [fixed];
    }
    if (this.suite !== undefined) return [this.suite];
    this.offeredSuites = await this.listSuites();
    if (!this.offeredSuites) return [...PREFERRED_SUITES];
    const usable = PREFERRED_SUITES.filter((s) => this.offeredSuites!.includes(s));
    if (!usable.length) {
      throw new BmcError('IB_ERR_BMC_CIPHER', this.endpoint, `the BMC offers cipher suites ${this.offeredSuites.join(', ') || 'none'}; ironbay needs 17 or 3 (set cipherSuite on the machine to use another)`);
    }
    return usable;
  }

  /** Get Channel Cipher Suites, 16 bytes at a time (§22.15); undefined if the BMC lacks the command. */
  private async listSuites(): Promise<number[] | undefined> {
    const records: Buffer[] = [];
    for (let index = 0; index < 64; index++) {
      const r = await this.outside(getChannelCipherSuites(index), 'Get Channel Cipher Suites');
      if (r.completionCode !== 0) return undefined;
      const chunk = parseCipherSuiteChunk(r.data);
      if (!chunk.ok) return undefined;
      records.push(Buffer.from(chunk.value));
      if (chunk.value.length < CIPHER_SUITE_CHUNK) break;
    }
    return parseCipherSuiteRecords(Buffer.concat(records));
  }

  private async handshake(suiteId: number): Promise<void> {
    const suite = SUITES.get(suiteId)!;
    const consoleSessionId = randomInt(1, 0xffffffff);
    const tag = randomInt(0, 256);
    const open = await this.exchange(
      () => encodeV2({ payloadType: PAYLOAD.openSessionRequest, sessionId: 0, sequence: 0, payload: encodeOpenSessionRequest({ tag, maxPrivilege: this.privilege, consoleSessionId, ...suite }) }),
      (p) => p.format === 'v2.0' && p.payloadType === PAYLOAD.openSessionResponse && p.payload[0] === tag,
      'Open Session',
    );
    const os = decodeOpenSessionResponse(open.payload);
    if (!os.ok) throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, `Open Session Response: ${os.reason}`);
    if (os.value.status !== 0) throw rmcpStatusError(this.endpoint, `Open Session with cipher suite ${suiteId}`, os.value.status, this.target.username);
    const o = os.value;
    if (o.consoleSessionId !== consoleSessionId || o.auth !== suite.auth || o.integrity !== suite.integrity || o.confidentiality !== suite.confidentiality || o.bmcSessionId === 0) {
      throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, `Open Session Response does not match the request (suite ${suiteId})`);
    }

    const values: RakpValues = {
      auth: suite.auth,
      consoleSessionId,
      bmcSessionId: o.bmcSessionId,
      consoleRandom: randomBytes(16),
      bmcRandom: Buffer.alloc(0),
      bmcGuid: Buffer.alloc(0),
      role: 0x10 | this.privilege, // name-only lookup (§13.20): the user is found by name alone
      username: this.user,
      password: this.password,
    };
    const tag1 = (tag + 1) & 0xff;
    const r2p = await this.exchange(
      () => encodeV2({ payloadType: PAYLOAD.rakp1, sessionId: 0, sequence: 0, payload: encodeRakp1({ tag: tag1, bmcSessionId: o.bmcSessionId, consoleRandom: values.consoleRandom, role: values.role, username: this.user }) }),
      (p) => p.format === 'v2.0' && p.payloadType === PAYLOAD.rakp2 && p.payload[0] === tag1,
      'RAKP 1',
    );
    const r2 = decodeRakp2(r2p.payload);
    if (!r2.ok) throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, `RAKP 2: ${r2.reason}`);
    if (r2.value.status !== 0) throw rmcpStatusError(this.endpoint, 'RAKP 2', r2.value.status, this.target.username);
    values.bmcRandom = r2.value.bmcRandom;
    values.bmcGuid = r2.value.bmcGuid;
    const tag3 = (tag + 2) & 0xff;
    const expected = rakp2AuthCode(values);
    if (expected.length !== r2.value.authCode.length || !timingSafeEqual(expected, r2.value.authCode)) {
      // Tell the BMC we rejected it (RAKP 3 with a status), so its session slot frees at once.
      await this.sendQuietly(encodeV2({ payloadType: PAYLOAD.rakp3, sessionId: 0, sequence: 0, payload: encodeRakp3({ tag: tag3, status: 0x0f, bmcSessionId: o.bmcSessionId, authCode: Buffer.alloc(0) }) }));
      throw new BmcError('IB_ERR_BMC_AUTH_PASSWORD', this.endpoint, `RAKP 2: the BMC's proof does not match the configured password for "${this.target.username}" (wrong password)`);
    }

    const r4p = await this.exchange(
      () => encodeV2({ payloadType: PAYLOAD.rakp3, sessionId: 0, sequence: 0, payload: encodeRakp3({ tag: tag3, status: 0, bmcSessionId: o.bmcSessionId, authCode: rakp3AuthCode(values) }) }),
      (p) => p.format === 'v2.0' && p.payloadType === PAYLOAD.rakp4 && p.payload[0] === tag3,
      'RAKP 3',
    );
    const r4 = decodeRakp4(r4p.payload);
    if (!r4.ok) throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, `RAKP 4: ${r4.reason}`);
    if (r4.value.status !== 0) throw rmcpStatusError(this.endpoint, 'RAKP 4', r4.value.status, this.target.username);
    const sik = sessionIntegrityKey(values);
    const icvLength = rakp4IcvLength(suite.auth);
    const icv = rakp4Icv(values, sik).subarray(0, icvLength);
    if (suite.auth !== AUTH.none && (r4.value.icv.length < icvLength || !timingSafeEqual(icv, r4.value.icv.subarray(0, icvLength)))) {
      throw new BmcError('IB_ERR_BMC_PROTOCOL', this.endpoint, 'RAKP 4: the integrity check value is wrong (the session keys do not agree)');
    }
    const { k1, k2 } = additionalKeys(suite.auth, sik);
    this.keys = { integrity: suite.integrity, confidentiality: suite.confidentiality, k1, aesKey: k2.subarray(0, 16) };
    this.bmcSessionId = o.bmcSessionId;
    this.consoleSessionId = consoleSessionId;
    this.outSeq = 1;
    this.replay = new ReplayWindow();
    this.state = 'active';

    const priv = await this.inSession(setSessionPrivilegeLevel(this.privilege), 'Set Session Privilege Level');
    if (priv.completionCode !== 0) {
      // The BMC has the session active: close it there, or each refused try holds one of its
      // few slots until it times out, and the next try (or ipmitool) meets "out of sessions".
      await this.closeOnBmc();
      const err = completionError(this.endpoint, 'Set Session Privilege Level', priv.completionCode);
      // 80h–83h here: the level is above the user's or the channel's limit (§22.18).
      if (priv.completionCode >= 0x80 && priv.completionCode <= 0x83) {
        throw new BmcError('IB_ERR_BMC_PRIVILEGE', this.endpoint, `user "${this.target.username}" may not act at operator level (Set Session Privilege Level: 0x${priv.completionCode.toString(16)})`);
      }
      throw err;
    }
  }

  private async sendQuietly(datagram: Buffer): Promise<void> {
    await this.opts.transport.send(this.target.address, this.target.port, datagram).catch(() => undefined);
  }

  /** Forgets the session locally (the BMC dropped it, or it is being replaced). */
  private drop(): void {
    this.state = 'closed';
    this.keys = undefined;
    clearTimeout(this.idleTimer);
  }

  private async closeOnBmc(): Promise<void> {
    clearTimeout(this.idleTimer);
    if (this.state !== 'active') return;
    try {
      // One try: a BMC that does not answer the goodbye times the session out by itself.
      await this.inSession(closeSession(this.bmcSessionId), 'Close Session', 1);
    } catch {
      // best effort
    } finally {
      this.drop();
    }
  }
}
