// Whom the Redfish client trusts. BMCs mostly present self-signed certificates, so besides node's
// CA check there are two operator choices per machine (BmcTarget): pin the certificate's sha256
// fingerprint (preferred; replaces CA trust), or accept any certificate (insecureTls).
//
// The decision is taken before the HTTP layer gets the socket: VerifyingAgent hands a socket to
// node:https only after the handshake has been judged, so no request byte — above all no
// Authorization header or session login body — reaches a peer that failed the check.
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

export interface TlsPolicy {
  /** BmcTarget.insecureTls: any certificate is accepted (unless a pin is set: the pin wins). */
  insecure: boolean;
  /** Normalised sha256 fingerprint ("AB:CD:…"); when set only this certificate is accepted. */
  pin?: string;
  /** Trust anchors that replace node's CA list (a private PKI; the tests' own certificate). */
  ca?: string | Buffer;
}

/**
 * "AB:CD:…", "abcd…", "sha256 Fingerprint=AB:…" (openssl x509 -fingerprint) → "AB:CD:…" upper
 * case, the form of X509Certificate.fingerprint256; undefined unless it is 32 bytes of hex.
 */
export function normaliseFingerprint(s: string): string | undefined {
  const hex = s
    .trim()
    .replace(/^sha-?256\s*(fingerprint)?\s*[=:]?\s*/i, '')
    .replace(/[:\s-]/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

/** What the handshake showed about the peer. */
export interface PeerFacts {
  /** node's verdict: the chain reaches a trusted CA and the name matches. */
  authorized: boolean;
  /** node's reason when not authorized (DEPTH_ZERO_SELF_SIGNED_CERT, ERR_TLS_CERT_ALTNAME_INVALID…). */
  authorizationError?: string;
  fingerprint256?: string;
}

/** undefined when the peer is acceptable under `policy`, else a message for the operator. */
export function peerVerdict(peer: PeerFacts, policy: TlsPolicy): string | undefined {
  const presented = peer.fingerprint256 === undefined ? undefined : normaliseFingerprint(peer.fingerprint256);
  if (policy.pin !== undefined) {
    if (presented === policy.pin) return undefined;
    return `certificate fingerprint ${presented ?? 'unknown'} does not match the pinned tlsFingerprint ${policy.pin}`;
  }
  if (peer.authorized || policy.insecure) return undefined;
  const fp = presented ?? 'unknown';
  return (
    `certificate is not trusted (${peer.authorizationError ?? 'unverified'}); it presents sha256 fingerprint ${fp}. ` +
    `If this is the BMC's own certificate, pin it with tlsFingerprint: "${fp}" or accept any certificate with insecureTls: true`
  );
}

/** The peer failed the policy; the client reports IB_ERR_BMC_TLS with this message. */
export class TlsRejectedError extends Error {
  readonly fingerprint256: string | undefined;
  constructor(message: string, fingerprint256: string | undefined) {
    super(message);
    this.name = 'TlsRejectedError';
    this.fingerprint256 = fingerprint256;
  }
}

/**
 * A keep-alive https.Agent (one per driver) whose sockets are handed over only after
 * peerVerdict() accepted them. The handshake is bounded by `handshakeMs`; a BMC that takes the
 * TCP connection and never completes TLS does not leave a socket behind.
 */
export class VerifyingAgent extends https.Agent {
  readonly #policy: TlsPolicy;
  readonly #handshakeMs: number;

  constructor(policy: TlsPolicy, handshakeMs: number) {
    // Two sockets: BMC web servers are small; ironbay's calls to one BMC are sequential anyway.
    super({ keepAlive: true, maxSockets: 2, maxFreeSockets: 1 });
    this.#policy = policy;
    this.#handshakeMs = handshakeMs;
  }

  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    if (callback === undefined) throw new Error('VerifyingAgent creates sockets asynchronously only');
    const servername = typeof options.servername === 'string' && options.servername !== '' ? options.servername : undefined;
    const socket = tls.connect({
      host: options.host ?? undefined,
      port: Number(options.port),
      ...(servername === undefined ? {} : { servername }),
      ...(this.#policy.ca === undefined ? {} : { ca: this.#policy.ca }),
      // node's verdict is read below (socket.authorized) instead of aborting the handshake, so
      // that a pin can stand in for CA trust and a rejection can show the fingerprint.
      rejectUnauthorized: false,
    });
    let settled = false;
    const settle = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', settle);
      if (err) {
        // Whatever the dying socket still reports has been answered by `err`.
        socket.on('error', () => undefined);
        socket.destroy();
      }
      callback(err, socket);
    };
    const timer = setTimeout(() => {
      const e = new Error(`TLS handshake not finished after ${this.#handshakeMs} ms`) as NodeJS.ErrnoException;
      e.code = 'ETIMEDOUT';
      settle(e);
    }, this.#handshakeMs);
    socket.once('error', settle);
    socket.once('secureConnect', () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      const peer: PeerFacts = { authorized: socket.authorized, fingerprint256: fp };
      // At run time authorizationError is the OpenSSL/node code string, whatever @types says.
      if (!socket.authorized) peer.authorizationError = String(socket.authorizationError);
      const verdict = peerVerdict(peer, this.#policy);
      settle(verdict === undefined ? null : new TlsRejectedError(verdict, fp));
    });
    return undefined;
  }
}
