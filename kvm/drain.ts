// Draining a workload cluster's node before its VM is stopped or removed (issue #7): what
// `kubectl drain NODE --ignore-daemonsets --delete-emptydir-data` does, spoken directly to the
// Kubernetes API over HTTPS with the appliance's admin client certificate (kvm/pki.ts).
//
//   1. cordon   PATCH /api/v1/nodes/NODE  (strategic merge patch {"spec":{"unschedulable":true}})
//   2. list     GET   /api/v1/pods?fieldSelector=spec.nodeName=NODE
//   3. evict    POST  /api/v1/namespaces/NS/pods/NAME/eviction  (policy/v1 Eviction)
//               429 = a PodDisruptionBudget forbids it now: retried every pollMs until the deadline
//   4. wait     list again every pollMs until the evicted pods are gone or the deadline passes
//
// Pods left alone, as kubectl leaves them: DaemonSet pods (--ignore-daemonsets; their controller
// tolerates `unschedulable` and would recreate them at once), mirror pods (the kubelet's static
// pods; the API cannot delete them) and pods already Succeeded or Failed (they hold nothing).
// Unlike kubectl without --force, pods with no controller are evicted too: the VM is about to
// go, and they would not survive it either way. emptyDir data goes with its pod.
//
// The pure parts (pod selection, request bodies, answer decoding) are exported and tested on
// their own; drainNode() owns the sockets and the clock.
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { TLSSocket } from 'node:tls';
import { IronbayError, type ErrorCode } from '../daemon/errors.ts';

export interface DrainOptions {
  /** The cluster's API endpoint, https://host:port (the appliance's proxy to the control planes). */
  server: string;
  /** The cluster CA: the only issuer trusted for the API server's certificate. */
  caPem: string;
  /** The admin client certificate and key (kvm/pki.ts issueAdminCert). */
  certPem: string;
  keyPem: string;
  node: string;
  /** Bound on evicting and waiting; cordon and the first list are always done. */
  timeoutMs: number;
  /** Interval between eviction retries and between checks for gone pods. */
  pollMs?: number;
  /** Bound on each HTTP request (connect, TLS, full answer). */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  log?: (msg: string) => void;
}

export interface DrainResult {
  /** The node is now unschedulable (false only when the cluster does not know the node). */
  cordoned: boolean;
  /** `namespace/name` of each pod whose eviction the API accepted. */
  evicted: string[];
  /** `namespace/name` of each pod to be evicted that was still on the node at the end. */
  remaining: string[];
  /** The deadline passed with pods remaining. */
  timedOut: boolean;
}

export const DEFAULT_POLL_MS = 1_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** A node holds at most 110 pods by default (kubelet maxPods); 32 MiB is far beyond their list. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

// ---- pure: selection, bodies, decoding ------------------------------------------------------

/** The parts of a v1 Pod that draining looks at. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid: string | undefined;
  nodeName: string | undefined;
  phase: string | undefined;
  /** Kind of the controller ownerReference (metadata.ownerReferences[].controller = true). */
  controllerKind: string | undefined;
  mirror: boolean;
}

export type SkipReason = 'daemonset' | 'mirror' | 'finished';

/** Why a pod is left on the node, or undefined when it is to be evicted. */
export function skipReason(p: PodInfo): SkipReason | undefined {
  // kubectl's mirrorPodFilter and daemonSetFilter (k8s.io/kubectl/pkg/drain/filters.go), and
  // pods that finished: Succeeded and Failed are terminal phases (v1 PodStatus.phase).
  if (p.mirror) return 'mirror';
  if (p.controllerKind === 'DaemonSet') return 'daemonset';
  if (p.phase === 'Succeeded' || p.phase === 'Failed') return 'finished';
  return undefined;
}

export const podKey = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;

/** Strategic merge patch that cordons a node (what `kubectl cordon` sends). */
export const CORDON_PATCH = { spec: { unschedulable: true } } as const;
export const CORDON_CONTENT_TYPE = 'application/strategic-merge-patch+json';

/** The body of POST …/pods/NAME/eviction (policy/v1 Eviction, Kubernetes ≥ 1.22). */
export function evictionBody(p: { namespace: string; name: string }): Record<string, unknown> {
  return { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: p.name, namespace: p.namespace } };
}

/** A DNS-1123 subdomain: what Kubernetes allows as a node name. */
const NODE_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function podsPath(node: string): string {
  return `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const optString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export class ShapeError extends Error {
  override name = 'ShapeError';
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new ShapeError(`not JSON (${body.length} bytes)`);
  }
}

/** A v1 PodList → PodInfo[]; anything that is not one is a ShapeError naming the bad item. */
export function decodePodList(body: Buffer): PodInfo[] {
  const list = parseJson(body);
  if (!isObj(list) || !Array.isArray(list['items'])) throw new ShapeError('not a PodList: no items array');
  return list['items'].map((item: unknown, i): PodInfo => {
    if (!isObj(item) || !isObj(item['metadata'])) throw new ShapeError(`items[${i}] has no metadata`);
    const md = item['metadata'];
    const name = md['name'];
    const namespace = md['namespace'];
    if (typeof name !== 'string' || name === '' || typeof namespace !== 'string' || namespace === '') {
      throw new ShapeError(`items[${i}] has no metadata.name or metadata.namespace`);
    }
    const owners = Array.isArray(md['ownerReferences']) ? md['ownerReferences'] : [];
    const controller = owners.find((o: unknown) => isObj(o) && o['controller'] === true) as Obj | undefined;
    const annotations = isObj(md['annotations']) ? md['annotations'] : {};
    return {
      namespace,
      name,
      uid: optString(md['uid']),
      nodeName: isObj(item['spec']) ? optString(item['spec']['nodeName']) : undefined,
      phase: isObj(item['status']) ? optString(item['status']['phase']) : undefined,
      controllerKind: controller === undefined ? undefined : optString(controller['kind']),
      // kubetypes.ConfigMirrorAnnotationKey: set by the kubelet on a static pod's API mirror.
      mirror: Object.hasOwn(annotations, 'kubernetes.io/config.mirror'),
    };
  });
}

export interface Status {
  reason: string | undefined;
  message: string | undefined;
  /** StatusDetails: the object concerned, e.g. kind "nodes", name "w-0". */
  kind: string | undefined;
  name: string | undefined;
}

/** A meta/v1 Status (the API's error body), when the body is one. */
export function decodeStatus(body: Buffer): Status | undefined {
  let s: unknown;
  try {
    s = parseJson(body);
  } catch {
    return undefined;
  }
  if (!isObj(s) || s['kind'] !== 'Status') return undefined;
  const d = isObj(s['details']) ? s['details'] : {};
  return { reason: optString(s['reason']), message: optString(s['message']), kind: optString(d['kind']), name: optString(d['name']) };
}

/**
 * Whether a 404 is the API server saying "no such <kind> <name>". An unknown path (a wrong
 * prefix in `server`) is answered 404 NotFound too, but without details; so is a proxy's page
 * without any Status. Taking either for "gone" would drain nothing and report success.
 */
export function isNotFound(body: Buffer, kind: string, name: string): boolean {
  const st = decodeStatus(body);
  return st?.reason === 'NotFound' && st.kind === kind && st.name === name;
}

// ---- the HTTPS exchange -----------------------------------------------------------------

interface Reply {
  status: number;
  body: Buffer;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
const RESET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** OpenSSL's reason ("wrong version number") out of an error, without its file:line noise. */
function tlsReason(e: unknown): string {
  const reason = (e as { reason?: unknown }).reason;
  if (typeof reason === 'string' && reason !== '') return reason;
  const msg = e instanceof Error ? e.message : String(e);
  return /SSL routines:[^:]*:([^:]+):/.exec(msg)?.[1] ?? msg.trim();
}

export interface NetFailure {
  code: ErrorCode;
  why: string;
  /** A pooled keep-alive socket the server had already closed: the request never arrived; send it again. */
  retry: boolean;
}

/**
 * A socket-level error → its code. `reused`: the request went out on a pooled socket;
 * `handshakeDone`: this connection's TLS handshake had completed (and the server certificate
 * was verified). Exported for the unit tests.
 */
export function classifyNetError(e: unknown, ctx: { reused: boolean; handshakeDone: boolean } = { reused: false, handshakeDone: false }): NetFailure {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const msg = e instanceof Error ? e.message : String(e);
  // Certificate verification errors carry OpenSSL's X509_V_ERR names (UNABLE_TO_VERIFY_LEAF_SIGNATURE,
  // SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED…); handshake failures and alerts ERR_SSL_*.
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code === 'EPROTO' || /CERT|SELF_SIGNED|ISSUER|LEAF|HOSTNAME/.test(code)) {
    return { code: 'IB_ERR_KUBE_TLS', why: `TLS failed (${code}: ${tlsReason(e)})`, retry: false };
  }
  if (UNREACHABLE.has(code)) return { code: 'IB_ERR_KUBE_UNREACHABLE', why: `cannot connect (${code})`, retry: false };
  if (code === 'ETIMEDOUT') return { code: 'IB_ERR_KUBE_TIMEOUT', why: msg, retry: false };
  if (RESET.has(code)) {
    if (ctx.reused) return { code: 'IB_ERR_KUBE_UNREACHABLE', why: `the connection closed before an answer (${code})`, retry: true };
    // In TLS 1.3 the client's side of the handshake is over before the server has looked at
    // the client certificate; a server that refuses it may just close the connection.
    if (ctx.handshakeDone) {
      return { code: 'IB_ERR_KUBE_TLS', why: `the server closed the connection right after the TLS handshake, before answering (${code}): it does not accept the client certificate?`, retry: false };
    }
    return { code: 'IB_ERR_KUBE_UNREACHABLE', why: `the connection closed before an answer (${code})`, retry: false };
  }
  return { code: 'IB_ERR_KUBE_UNREACHABLE', why: `connection failed (${code || msg})`, retry: false };
}

interface Endpoint {
  host: string;
  port: number;
  prefix: string;
}

function parseServer(server: string): Endpoint {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new RangeError(`server ${JSON.stringify(server)} is not a URL`);
  }
  if (u.protocol !== 'https:') throw new RangeError(`server ${server} is not https://`);
  // URL keeps an IPv6 literal in brackets; https.request wants it bare.
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: u.port === '' ? 443 : Number(u.port), prefix: u.pathname.replace(/\/+$/, '') };
}

class KubeApi {
  readonly #agent: https.Agent;
  readonly #ep: Endpoint;
  readonly #o: DrainOptions;
  readonly #timeoutMs: number;

  constructor(o: DrainOptions) {
    this.#o = o;
    this.#ep = parseServer(o.server);
    this.#timeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    // A dedicated agent: the cluster CA is the only trust anchor, and no other request shares
    // these sockets or this client certificate.
    this.#agent = new https.Agent({ ca: o.caPem, cert: o.certPem, key: o.keyPem, keepAlive: true, maxSockets: 4 });
  }

  error(code: ErrorCode, why: string, extra: { cause?: unknown; details?: Record<string, unknown> } = {}): IronbayError {
    return new IronbayError(code, `draining node ${this.#o.node} via ${this.#o.server}: ${why}`, {
      ...extra,
      details: { node: this.#o.node, server: this.#o.server, ...extra.details },
    });
  }

  /** An answer that is not what the step expects → IB_ERR_KUBE_API with the API's own message. */
  statusError(method: string, path: string, r: Reply): IronbayError {
    const st = decodeStatus(r.body);
    const hint = r.status === 401 ? ' (the cluster does not accept the client certificate)' : r.status === 403 ? " (the client certificate's group lacks the permission)" : '';
    const detail = st?.message ?? (r.body.length === 0 ? 'empty body' : 'no Kubernetes Status in the body');
    return this.error('IB_ERR_KUBE_API', `${method} ${path} answered ${r.status}${hint}: ${detail}`, { details: { status: r.status, reason: st?.reason } });
  }

  async send(method: 'GET' | 'PATCH' | 'POST', path: string, body?: { json: unknown; type: string }): Promise<Reply> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body.json));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined && payload !== undefined) {
      headers['content-type'] = body.type;
      headers['content-length'] = String(payload.length);
    }
    const first = await this.#once(method, path, headers, payload);
    if (!('retry' in first)) return first;
    // Once only, and only when the server closed a pooled socket under us: the request never
    // reached it. (A repeated eviction would be harmless anyway: 201 again, or 404.)
    const second = await this.#once(method, path, headers, payload);
    if ('retry' in second) throw second.error;
    return second;
  }

  #once(method: string, path: string, headers: Record<string, string>, payload: Buffer | undefined): Promise<Reply | { retry: true; error: IronbayError }> {
    const signal = this.#o.signal;
    return new Promise((resolve, reject) => {
      const req = https.request({ host: this.#ep.host, port: this.#ep.port, method, path: this.#ep.prefix + path, headers, agent: this.#agent, ...(signal ? { signal } : {}) });
      let socket: TLSSocket | undefined;
      req.on('socket', (s) => {
        if (s instanceof TLSSocket) socket = s;
      });
      let done = false;
      const settle = (f: () => void): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        f();
      };
      const fail = (err: Error): void => settle(() => (req.destroy(), reject(err)));
      // One timer for the whole exchange: socket idle timeouts miss a peer that trickles bytes.
      const timer = setTimeout(() => fail(this.error('IB_ERR_KUBE_TIMEOUT', `${method} ${path}: no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      const onError = (e: unknown): void => {
        if (signal?.aborted) return fail(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
        const c = classifyNetError(e, { reused: req.reusedSocket, handshakeDone: socket?.authorized === true });
        const error = this.error(c.code, `${method} ${path}: ${c.why}`, { cause: e });
        if (c.retry) settle(() => resolve({ retry: true, error }));
        else fail(error);
      };
      req.on('error', onError);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY_BYTES) fail(this.error('IB_ERR_KUBE_API', `${method} ${path}: answer larger than ${MAX_BODY_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('error', onError);
        res.on('end', () => settle(() => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) })));
      });
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

// ---- the drain --------------------------------------------------------------------------

const ok = (status: number): boolean => status >= 200 && status < 300;

/** `kubectl drain NODE --ignore-daemonsets --delete-emptydir-data`, bounded by timeoutMs. */
export async function drainNode(o: DrainOptions): Promise<DrainResult> {
  if (!NODE_NAME.test(o.node)) throw new RangeError(`node name ${JSON.stringify(o.node)} is not a DNS-1123 subdomain`);
  if (!Number.isFinite(o.timeoutMs) || o.timeoutMs < 0) throw new RangeError(`timeoutMs ${o.timeoutMs} is not a duration`);
  const pollMs = o.pollMs ?? DEFAULT_POLL_MS;
  const log = o.log ?? ((): void => undefined);
  const deadline = Date.now() + o.timeoutMs;
  o.signal?.throwIfAborted();
  const api = new KubeApi(o);
  try {
    const nodePath = `/api/v1/nodes/${encodeURIComponent(o.node)}`;
    const c = await api.send('PATCH', nodePath, { json: CORDON_PATCH, type: CORDON_CONTENT_TYPE });
    if (c.status === 404 && isNotFound(c.body, 'nodes', o.node)) {
      log(`node ${o.node} is not in the cluster: nothing to drain`);
      return { cordoned: false, evicted: [], remaining: [], timedOut: false };
    }
    if (!ok(c.status)) throw api.statusError('PATCH', nodePath, c);
    log(`node ${o.node} cordoned`);

    const listPods = async (): Promise<PodInfo[]> => {
      const path = podsPath(o.node);
      const r = await api.send('GET', path);
      if (!ok(r.status)) throw api.statusError('GET', path, r);
      let pods: PodInfo[];
      try {
        pods = decodePodList(r.body);
      } catch (e) {
        throw api.error('IB_ERR_KUBE_API', `GET ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      // The field selector is the server's job; a peer that ignored it must not make us evict
      // every pod in the cluster.
      return pods.filter((p) => p.nodeName === o.node);
    };

    /** Pods still to go, by namespace/name, with the UID they had: a new pod of the same name is another pod. */
    const waiting = new Map<string, { pod: PodInfo; accepted: boolean; blockedLogged: boolean }>();
    for (const pod of await listPods()) {
      const why = skipReason(pod);
      if (why === undefined) waiting.set(podKey(pod), { pod, accepted: false, blockedLogged: false });
      else log(`pod ${podKey(pod)} left in place (${why})`);
    }
    const evicted: string[] = [];

    for (;;) {
      for (const [key, w] of waiting) {
        if (w.accepted) continue;
        if (Date.now() >= deadline) break;
        const path = `/api/v1/namespaces/${encodeURIComponent(w.pod.namespace)}/pods/${encodeURIComponent(w.pod.name)}/eviction`;
        const r = await api.send('POST', path, { json: evictionBody(w.pod), type: 'application/json' });
        if (ok(r.status)) {
          w.accepted = true;
          evicted.push(key);
          log(`pod ${key} evicted`);
        } else if (r.status === 404 && isNotFound(r.body, 'pods', w.pod.name)) {
          waiting.delete(key);
          log(`pod ${key} already gone`);
        } else if (r.status === 429) {
          // The API refuses an eviction that would violate a PodDisruptionBudget with 429 Too
          // Many Requests; kubectl retries until its timeout, and so does this.
          if (!w.blockedLogged) log(`pod ${key} eviction refused for now (${decodeStatus(r.body)?.message ?? '429'}); retrying`);
          w.blockedLogged = true;
        } else throw api.statusError('POST', path, r);
      }
      if (waiting.size > 0) {
        const present = new Map((await listPods()).map((p) => [podKey(p), p.uid]));
        for (const [key, w] of waiting) {
          if (!present.has(key) || present.get(key) !== w.pod.uid) waiting.delete(key);
        }
      }
      if (waiting.size === 0) {
        log(`node ${o.node} drained`);
        return { cordoned: true, evicted, remaining: [], timedOut: false };
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const remaining = [...waiting.keys()];
        log(`node ${o.node}: ${remaining.length} pod(s) still there after ${o.timeoutMs} ms: ${remaining.join(', ')}`);
        return { cordoned: true, evicted, remaining, timedOut: true };
      }
      try {
        await sleep(Math.min(pollMs, left), undefined, o.signal ? { signal: o.signal } : {});
      } catch (e) {
        // Aborted: reject with the caller's reason, as an aborted request does.
        o.signal?.throwIfAborted();
        throw e;
      }
    }
  } finally {
    api.close();
  }
}
