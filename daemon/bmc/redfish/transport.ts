// One HTTPS exchange with a BMC: request out, status + headers + body back, bounded in time and
// size. Failures below HTTP come back as a TransportError of a known kind; what they mean for
// the caller (retry? which IB_ERR_BMC_* code?) is the client's decision. Injected into the
// client (STYLE.md §5) so the session and retry logic can be driven without sockets.
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { MAX_BODY_BYTES } from './resources.ts';
import { TlsRejectedError, VerifyingAgent, type TlsPolicy } from './tls.ts';

export interface Exchange {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Transport {
  send(x: Exchange): Promise<Reply>;
  /** Closes pooled sockets; the transport stays usable (a later send connects again). */
  close(): void;
}

/**
 * - unreachable: no TCP connection (refused, no route, name not found).
 * - timeout: no complete answer within the per-try timeout.
 * - reset: the connection broke before an answer; `reused` tells whether it was a pooled
 *   keep-alive socket the BMC had already closed, the one case where any request may be resent.
 * - tls: the handshake failed or the certificate was rejected.
 * - protocol: an answer too large to be a Redfish resource.
 */
export type TransportFailure = 'unreachable' | 'timeout' | 'reset' | 'tls' | 'protocol';

export class TransportError extends Error {
  readonly kind: TransportFailure;
  readonly reused: boolean;
  constructor(kind: TransportFailure, message: string, options: { cause?: unknown; reused?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransportError';
    this.kind = kind;
    this.reused = options.reused ?? false;
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
const RESET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** A socket-level error → its kind. Exported for the unit tests. */
export function classify(e: unknown, reused: boolean): TransportError {
  if (e instanceof TransportError) return e;
  if (e instanceof TlsRejectedError) return new TransportError('tls', e.message, { cause: e });
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const msg = e instanceof Error ? e.message : String(e);
  if (UNREACHABLE.has(code)) return new TransportError('unreachable', `cannot connect (${code})`, { cause: e });
  if (code === 'ETIMEDOUT') return new TransportError('timeout', msg, { cause: e });
  if (RESET.has(code)) return new TransportError('reset', `connection closed before an answer (${code})`, { cause: e, reused });
  // OpenSSL and node TLS errors: ERR_SSL_WRONG_VERSION_NUMBER (plain HTTP on the port), EPROTO…
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code === 'EPROTO') {
    return new TransportError('tls', `TLS handshake failed (${code}: ${msg})`, { cause: e });
  }
  return new TransportError('reset', `connection failed (${code || msg})`, { cause: e, reused });
}

export interface HttpsTransportOptions {
  host: string;
  port: number;
  tls: TlsPolicy;
  /** Per-try bound on connect + handshake + full answer. */
  timeoutMs: number;
}

export function httpsTransport(o: HttpsTransportOptions): Transport {
  const agent = new VerifyingAgent(o.tls, o.timeoutMs);
  return {
    send: (x) => sendOnce(agent, o, x),
    close: () => agent.destroy(),
  };
}

function sendOnce(agent: https.Agent, o: HttpsTransportOptions, x: Exchange): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const headers = { ...x.headers, ...(x.body === undefined ? {} : { 'content-length': String(x.body.length) }) };
    const req = https.request({ host: o.host, port: o.port, method: x.method, path: x.path, headers, agent });
    let done = false;
    const finish = (err: TransportError | null, reply?: Reply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(reply!);
    };
    // One timer for the whole try: socket timeouts alone miss a BMC that trickles bytes.
    const timer = setTimeout(() => finish(new TransportError('timeout', `no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    req.on('error', (e) => finish(classify(e, req.reusedSocket)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) finish(new TransportError('protocol', `answer larger than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('error', (e) => finish(classify(e, req.reusedSocket)));
      res.on('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.end(x.body);
  });
}
