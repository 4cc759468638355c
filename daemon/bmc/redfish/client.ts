// The Redfish client: authenticated JSON requests to one BMC, with the retry rules and the
// mapping of every failure to an IB_ERR_BMC_* code. Auth is a session (DSP0266 "Session login
// authentication": POST to the Sessions collection, then X-Auth-Token on each request), reused
// across calls and renewed once when the BMC forgets it; HTTP Basic (DSP0266 "HTTP Basic
// authentication") when the service has no SessionService or will not create sessions.
//
// The password goes into exactly two places — the login body and the Basic header — and every
// error message and detail passes through #error(), which strips it should a BMC echo it back.
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { BmcError, type BmcErrorCode, type BmcTarget } from '../driver.ts';
import { parseObject, parseRetryAfter, path as uriPath, readErrorBody, readServiceRoot, RedfishShapeError, type ServiceRoot } from './resources.ts';
import { TransportError, type Exchange, type Reply, type Transport } from './transport.ts';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}
export const realClock: Clock = { now: () => Date.now(), sleep: (ms) => delay(ms) };

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRIES = 2;
/** Longest Retry-After honoured; a BMC asking for minutes gets IB_ERR_BMC_BUSY instead. */
export const MAX_RETRY_AFTER_MS = 10_000;
/** Wait before retrying a 503/429 that gave no Retry-After. */
export const DEFAULT_BUSY_WAIT_MS = 1_000;
export const SERVICE_ROOT = '/redfish/v1/';
/** The Sessions collection's URI fixed by DSP0266 ("Redfish-defined URIs"). */
export const DEFAULT_SESSIONS = '/redfish/v1/SessionService/Sessions';

type Method = Exchange['method'];
type Obj = Record<string, unknown>;
type Auth = { kind: 'none' } | { kind: 'basic' } | { kind: 'session'; token: string; location: string | undefined };

/** Requests whose repetition cannot do anything twice: ironbay PATCHes absolute values only. */
const IDEMPOTENT = new Set<Method>(['GET', 'PATCH', 'DELETE']);

/** The code for an HTTP status that is not success (503/429 only once the retries are spent). */
export function codeForStatus(status: number): BmcErrorCode {
  if (status === 401) return 'IB_ERR_BMC_AUTH';
  if (status === 403) return 'IB_ERR_BMC_PRIVILEGE';
  if (status === 404 || status === 405 || status === 501) return 'IB_ERR_BMC_UNSUPPORTED';
  if (status === 429 || status === 503) return 'IB_ERR_BMC_BUSY';
  return 'IB_ERR_BMC_FAILED';
}

const TRANSPORT_CODES: Record<TransportError['kind'], BmcErrorCode> = {
  unreachable: 'IB_ERR_BMC_UNREACHABLE',
  timeout: 'IB_ERR_BMC_TIMEOUT',
  reset: 'IB_ERR_BMC_UNREACHABLE',
  tls: 'IB_ERR_BMC_TLS',
  protocol: 'IB_ERR_BMC_PROTOCOL',
};

export interface ClientOptions {
  target: BmcTarget;
  endpoint: string;
  transport: Transport;
  log: Logger;
  clock: Clock;
}

export interface Resource {
  body: Obj;
  /** The ETag header, else @odata.etag: sent back as If-Match (DSP0266 "ETags"). */
  etag?: string;
}

const ok = (r: Reply): boolean => r.status >= 200 && r.status < 300;
const header = (r: Reply, name: string): string | undefined => {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export class RedfishClient {
  readonly #o: ClientOptions;
  readonly #tries: number;
  #auth: Auth = { kind: 'none' };
  #loggingIn: Promise<void> | undefined;
  #root: ServiceRoot | undefined;
  /** The BMC answered 401 to an anonymous GET of the service root (against DSP0266, but seen). */
  #rootNeedsAuth = false;

  constructor(o: ClientOptions) {
    this.#o = o;
    this.#tries = 1 + Math.max(0, o.target.retries ?? DEFAULT_RETRIES);
  }

  /** The service root, learned once per client. */
  async root(): Promise<ServiceRoot> {
    const pub = await this.#publicRoot();
    if (pub !== undefined) return pub;
    const { body } = await this.get(SERVICE_ROOT, 'ServiceRoot');
    this.#root = this.#shape('GET', SERVICE_ROOT, () => readServiceRoot(body));
    return this.#root;
  }

  async get(path: string, what: string): Promise<Resource> {
    const reply = await this.#request('GET', path);
    const body = this.#shape('GET', path, () => parseObject(reply.body, what));
    const etag = header(reply, 'etag') ?? (typeof body['@odata.etag'] === 'string' ? body['@odata.etag'] : undefined);
    return etag === undefined ? { body } : { body, etag };
  }

  /** GET and decode with `reader`; a wrong shape is IB_ERR_BMC_PROTOCOL naming the resource. */
  async read<T>(path: string, what: string, reader: (o: Obj, path: string) => T): Promise<{ value: T; etag?: string }> {
    const { body, etag } = await this.get(path, what);
    const value = this.#shape('GET', path, () => reader(body, path));
    return etag === undefined ? { value } : { value, etag };
  }

  async patch(path: string, body: Obj, etag?: string): Promise<void> {
    await this.#request('PATCH', path, body, etag === undefined ? {} : { 'if-match': etag });
  }

  async post(path: string, body: Obj): Promise<void> {
    await this.#request('POST', path, body);
  }

  /** Deletes the session (best effort, one try) and closes the sockets. Safe to call twice. */
  async close(): Promise<void> {
    const auth = this.#auth;
    this.#auth = { kind: 'none' };
    if (auth.kind === 'session' && auth.location !== undefined) {
      try {
        const r = await this.#o.transport.send({ method: 'DELETE', path: auth.location, headers: { ...this.#base(), 'x-auth-token': auth.token } });
        if (!ok(r)) this.#o.log.debug({ status: r.status }, 'session delete refused');
      } catch (e) {
        // The session then times out on the BMC (SessionService.SessionTimeout); nothing to undo.
        this.#o.log.debug({ err: e instanceof Error ? e.message : String(e) }, 'session delete failed');
      }
    }
    this.#o.transport.close();
  }

  async #publicRoot(): Promise<ServiceRoot | undefined> {
    if (this.#root !== undefined || this.#rootNeedsAuth) return this.#root;
    // DSP0266 "Service root": readable without authentication.
    const reply = await this.#send('GET', SERVICE_ROOT, { headers: {} });
    if (reply.status === 401) {
      this.#rootNeedsAuth = true;
      return undefined;
    }
    if (!ok(reply)) throw this.#statusError('GET', SERVICE_ROOT, reply);
    this.#root = this.#shape('GET', SERVICE_ROOT, () => readServiceRoot(parseObject(reply.body, 'ServiceRoot')));
    return this.#root;
  }

  async #ensureAuth(): Promise<void> {
    if (this.#auth.kind !== 'none') return;
    // Calls made together share one login instead of opening a session each.
    this.#loggingIn ??= this.#login().finally(() => (this.#loggingIn = undefined));
    await this.#loggingIn;
  }

  async #login(): Promise<void> {
    const root = await this.#publicRoot();
    // Without a readable root, try the standard URI; a BMC without sessions answers 404/405.
    const sessions = root === undefined ? DEFAULT_SESSIONS : (root.sessions ?? (root.sessionService === undefined ? undefined : DEFAULT_SESSIONS));
    if (sessions === undefined) {
      this.#o.log.debug('no SessionService: HTTP Basic authentication');
      this.#auth = { kind: 'basic' };
      return;
    }
    const body = Buffer.from(JSON.stringify({ UserName: this.#o.target.username, Password: this.#o.target.password }));
    const reply = await this.#send('POST', sessions, { body, headers: { 'content-type': 'application/json' } });
    if (reply.status === 404 || reply.status === 405) {
      this.#o.log.debug({ status: reply.status }, 'session login not offered: HTTP Basic authentication');
      this.#auth = { kind: 'basic' };
      return;
    }
    if (!ok(reply)) throw this.#statusError('POST', sessions, reply);
    const token = header(reply, 'x-auth-token');
    if (token === undefined || token === '') throw this.#error('IB_ERR_BMC_PROTOCOL', `POST ${sessions}: session created without an X-Auth-Token header`);
    // Location names the session to DELETE at close(); a body @odata.id will do without it.
    let location: string | undefined;
    const loc = header(reply, 'location');
    try {
      location = loc !== undefined ? uriPath(loc, 'Location') : uriPath(parseObject(reply.body, 'Session')['@odata.id'], 'Session @odata.id');
    } catch {
      location = undefined;
    }
    this.#auth = { kind: 'session', token, location };
    this.#o.log.debug({ session: location }, 'session created');
  }

  #authHeaders(): Record<string, string> {
    const a = this.#auth;
    if (a.kind === 'session') return { 'x-auth-token': a.token };
    if (a.kind === 'basic') {
      const { username, password } = this.#o.target;
      return { authorization: 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64') };
    }
    return {};
  }

  async #request(method: Method, path: string, json?: Obj, extra: Record<string, string> = {}): Promise<Reply> {
    await this.#ensureAuth();
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const send = (): Promise<Reply> => {
      const headers = { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extra, ...this.#authHeaders() };
      return this.#send(method, path, body === undefined ? { headers } : { headers, body });
    };
    let reply = await send();
    if (reply.status === 401 && this.#auth.kind === 'session') {
      // The BMC dropped the session (timeout, reboot, another client's logout): log in once more.
      this.#o.log.debug({ method, path }, 'session no longer valid; logging in again');
      this.#auth = { kind: 'none' };
      await this.#ensureAuth();
      reply = await send();
    }
    if (!ok(reply)) throw this.#statusError(method, path, reply);
    return reply;
  }

  /**
   * One request with the bounded retries: 503/429 wait for Retry-After (capped); a timeout is
   * retried for idempotent methods; a broken connection for idempotent methods, or for any
   * method when it was a reused keep-alive socket (the BMC closed it; the request never left).
   */
  async #send(method: Method, path: string, x: { headers: Record<string, string>; body?: Buffer }): Promise<Reply> {
    const { clock, log, transport } = this.#o;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.#tries;
      let reply: Reply;
      try {
        reply = await transport.send({ method, path, headers: { ...this.#base(), ...x.headers }, ...(x.body === undefined ? {} : { body: x.body }) });
      } catch (e) {
        const t = e instanceof TransportError ? e : new TransportError('reset', e instanceof Error ? e.message : String(e), { cause: e });
        const again = (t.kind === 'timeout' && IDEMPOTENT.has(method)) || (t.kind === 'reset' && (t.reused || IDEMPOTENT.has(method)));
        log.debug({ method, path, attempt, failure: t.kind }, 'redfish request failed');
        if (again && !last) continue;
        const tries = attempt > 1 ? ` (${attempt} tries)` : '';
        throw this.#error(TRANSPORT_CODES[t.kind], `${method} ${path}: ${t.message}${tries}`, { cause: t, details: { method, path, attempts: attempt } });
      }
      log.debug({ method, path, status: reply.status, attempt }, 'redfish request');
      if ((reply.status === 503 || reply.status === 429) && !last) {
        const asked = parseRetryAfter(header(reply, 'retry-after'), clock.now());
        await clock.sleep(Math.min(asked ?? DEFAULT_BUSY_WAIT_MS, MAX_RETRY_AFTER_MS));
        continue;
      }
      return reply;
    }
  }

  #base(): Record<string, string> {
    // DSP0266 "Request headers": OData-Version 4.0; JSON is the only representation asked for.
    return { accept: 'application/json', 'odata-version': '4.0', 'user-agent': 'ironbay' };
  }

  #shape<T>(method: Method, path: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof RedfishShapeError) throw this.#error('IB_ERR_BMC_PROTOCOL', `${method} ${path}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  #statusError(method: Method, path: string, reply: Reply): BmcError {
    const code = codeForStatus(reply.status);
    const info = readErrorBody(reply.body);
    const user = this.#o.target.username;
    const why: Partial<Record<BmcErrorCode, string>> = {
      // A Redfish 401 does not say which of the two was wrong.
      IB_ERR_BMC_AUTH: `the BMC rejected the credentials of user "${user}" (wrong user name or password)`,
      IB_ERR_BMC_PRIVILEGE: `user "${user}" lacks the privilege for this`,
      IB_ERR_BMC_BUSY: `the BMC is busy${this.#tries > 1 ? ` (${this.#tries} tries)` : ''}`,
    };
    const said = info.messages.length ? `: ${info.messages.join(' ')}` : '';
    return this.#error(code, `${method} ${path}: HTTP ${reply.status}${why[code] === undefined ? '' : `, ${why[code]}`}${said}`, {
      details: { method, path, status: reply.status, messageIds: info.messageIds },
    });
  }

  /** Every BmcError leaves here, with the password scrubbed from the message and details. */
  #error(code: BmcErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}): BmcError {
    const pw = this.#o.target.password;
    const scrub = (v: unknown): unknown => {
      if (typeof v === 'string') return pw === '' ? v : v.split(pw).join('[redacted]');
      if (Array.isArray(v)) return v.map(scrub);
      return v;
    };
    const details = options.details === undefined ? undefined : Object.fromEntries(Object.entries(options.details).map(([k, v]) => [k, scrub(v)]));
    return new BmcError(code, this.#o.endpoint, scrub(message) as string, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      ...(details === undefined ? {} : { details }),
    });
  }
}
