// Draining a node through the Kubernetes API. No Kubernetes is installable here, so the peer is
// a small HTTPS API server with state (nodes, pods, a PodDisruptionBudget, a pod that never
// goes) speaking the endpoints drainNode uses, with the API server's Status bodies. Its TLS is
// real: a serving certificate from the cluster CA made by kvm/pki.ts, and client certificates
// required and checked against that CA, as kube-apiserver's --client-ca-file does.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { isIronbayError } from '../../daemon/errors.ts';
import { classifyNetError, CORDON_CONTENT_TYPE, decodePodList, decodeStatus, drainNode, evictionBody, isNotFound, podsPath, skipReason, type DrainOptions, type PodInfo } from '../../kvm/drain.ts';
import { createClusterCa, issueAdminCert, issueServerCert, type CertAndKey, type ClusterCa } from '../../kvm/pki.ts';

interface FakePod {
  namespace: string;
  name: string;
  uid: string;
  nodeName: string;
  phase?: string;
  ownerKind?: string;
  mirror?: boolean;
  /** Evictions refused with 429 before one is allowed (a PodDisruptionBudget at its minimum). */
  pdbRefusals?: number;
  /** Lists that still show the pod after its eviction (graceful termination). */
  terminatingLists?: number;
  /** Never leaves after its eviction (a finalizer nobody removes). */
  stuck?: boolean;
  /** Deleted by someone else after the first list, before its eviction. */
  vanishBeforeEviction?: boolean;
  evicted?: boolean;
}

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: unknown;
  cn: string | undefined;
}

/** A meta/v1 Status as kube-apiserver writes it; `details` only when it names an object. */
const status = (code: number, reason: string, message: string, details: { kind: string; name: string } | Record<string, never> = {}): Record<string, unknown> => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  details,
  code,
});

/** The part of kube-apiserver that drainNode talks to. */
class FakeApi {
  readonly nodes = new Map<string, { unschedulable: boolean }>();
  pods: FakePod[] = [];
  readonly seen: Seen[] = [];
  /** Answer GET /api/v1/pods without honouring the field selector (a broken peer). */
  ignoreFieldSelector = false;
  /** Never answer requests whose URL starts with this. */
  hangOn: string | undefined;
  /** Close this many requests' connections unanswered when they arrive on a kept-alive socket. */
  dropReused = 0;
  readonly #served = new WeakMap<object, number>();
  readonly #srv: https.Server;
  readonly #clientAuth: 'tls' | 'authenticator';

  /**
   * clientAuth 'tls': the TLS layer refuses a client certificate not from the CA (what the
   * brief's peer does). 'authenticator': kube-apiserver's own way — TLS asks for a certificate
   * but lets any through, and the x509 authenticator answers 401 for one it cannot verify.
   */
  constructor(tlsOpts: { cert: string; key: string; ca: string }, clientAuth: 'tls' | 'authenticator' = 'tls') {
    this.#clientAuth = clientAuth;
    this.#srv = https.createServer({ ...tlsOpts, requestCert: true, rejectUnauthorized: clientAuth === 'tls' }, (req, res) => void this.#handle(req, res));
    this.#srv.on('tlsClientError', () => undefined);
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.#srv.listen(0, '127.0.0.1', r));
    return `https://127.0.0.1:${(this.#srv.address() as net.AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.#srv.closeAllConnections();
    return new Promise((r) => this.#srv.close(() => r()));
  }

  evictions(name: string): number {
    return this.seen.filter((s) => s.method === 'POST' && s.url.endsWith(`/pods/${name}/eviction`)).length;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString();
    const socket = req.socket;
    if (!(socket instanceof TLSSocket)) throw new Error('not TLS');
    const cert = socket.getPeerCertificate();
    const url = req.url ?? '';
    const served = this.#served.get(socket) ?? 0;
    this.#served.set(socket, served + 1);
    if (served > 0 && this.dropReused > 0) {
      this.dropReused--;
      socket.destroy();
      return;
    }
    this.seen.push({ method: req.method ?? '', url, contentType: req.headers['content-type'], body: raw === '' ? undefined : JSON.parse(raw), cn: String(cert.subject?.CN) });
    if (this.hangOn !== undefined && url.startsWith(this.hangOn)) return;
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (this.#clientAuth === 'authenticator' && !socket.authorized) {
      return send(401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    // RBAC: only the kubeadm:cluster-admins group may do any of this.
    if (cert.subject.O !== 'kubeadm:cluster-admins') return send(403, status(403, 'Forbidden', `User "${String(cert.subject.CN)}" cannot ${req.method} here`));

    let m: RegExpExecArray | null;
    if (req.method === 'PATCH' && (m = /^\/api\/v1\/nodes\/([^/?]+)$/.exec(url))) {
      const node = this.nodes.get(decodeURIComponent(m[1]!));
      if (!node) return send(404, status(404, 'NotFound', `nodes "${m[1]}" not found`, { kind: 'nodes', name: decodeURIComponent(m[1]!) }));
      if (req.headers['content-type'] !== 'application/strategic-merge-patch+json') return send(415, status(415, 'UnsupportedMediaType', 'bad patch type'));
      node.unschedulable = (JSON.parse(raw) as { spec: { unschedulable: boolean } }).spec.unschedulable;
      return send(200, { kind: 'Node', metadata: { name: m[1] }, spec: { unschedulable: node.unschedulable } });
    }
    if (req.method === 'GET' && url.startsWith('/api/v1/pods?')) {
      const sel = new URL(url, 'https://x').searchParams.get('fieldSelector') ?? '';
      const node = /^spec\.nodeName=(.+)$/.exec(sel)?.[1];
      const items = this.pods
        .filter((p) => this.ignoreFieldSelector || p.nodeName === node)
        .filter((p) => {
          if (!p.evicted || p.stuck) return true;
          if ((p.terminatingLists ?? 0) > 0) {
            p.terminatingLists!--;
            return true;
          }
          this.pods = this.pods.filter((q) => q !== p);
          return false;
        })
        .map((p) => ({
          metadata: {
            namespace: p.namespace,
            name: p.name,
            uid: p.uid,
            ...(p.ownerKind ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: p.ownerKind, name: 'owner', uid: 'o-1', controller: true }] } : {}),
            ...(p.mirror ? { annotations: { 'kubernetes.io/config.mirror': 'abc', 'kubernetes.io/config.source': 'file' } } : {}),
          },
          spec: { nodeName: p.nodeName, containers: [{ name: 'c', image: 'x' }] },
          status: { phase: p.phase ?? 'Running' },
        }));
      return send(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items });
    }
    if (req.method === 'POST' && (m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/eviction$/.exec(url))) {
      const [ns, name] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
      const body = JSON.parse(raw) as { apiVersion: string; kind: string; metadata: { name: string; namespace: string } };
      if (body.apiVersion !== 'policy/v1' || body.kind !== 'Eviction' || body.metadata.name !== name || body.metadata.namespace !== ns) {
        return send(400, status(400, 'BadRequest', 'not an Eviction of this pod'));
      }
      const pod = this.pods.find((p) => p.namespace === ns && p.name === name);
      if (pod?.vanishBeforeEviction) this.pods = this.pods.filter((p) => p !== pod);
      if (!pod || pod.vanishBeforeEviction) return send(404, status(404, 'NotFound', `pods "${name}" not found`, { kind: 'pods', name }));
      if ((pod.pdbRefusals ?? 0) > 0) {
        pod.pdbRefusals!--;
        return send(429, status(429, 'TooManyRequests', 'Cannot evict pod as it would violate the pod\'s disruption budget.'));
      }
      pod.evicted = true;
      return send(201, { kind: 'Status', apiVersion: 'v1', status: 'Success', code: 201 });
    }
    send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
  }
}

let ca: ClusterCa;
let admin: CertAndKey;
let serving: CertAndKey;
before(async () => {
  ca = await createClusterCa('c1');
  [admin, serving] = await Promise.all([issueAdminCert(ca), issueServerCert(ca, { sans: ['127.0.0.1'] })]);
});

const cluster = (): Promise<{ api: FakeApi; server: string }> => {
  const api = new FakeApi({ cert: serving.certPem, key: serving.keyPem, ca: ca.certPem });
  return api.listen().then((server) => ({ api, server }));
};
const opts = (server: string, extra: Partial<DrainOptions> = {}): DrainOptions => ({
  server,
  caPem: ca.certPem,
  certPem: admin.certPem,
  keyPem: admin.keyPem,
  node: 'w-0',
  timeoutMs: 5_000,
  pollMs: 20,
  ...extra,
});

describe('drainNode against a fake API server', () => {
  let api: FakeApi;
  let server: string;
  before(async () => ({ api, server } = await cluster()));
  after(() => api.close());

  const reset = (): void => {
    api.nodes.clear();
    api.nodes.set('w-0', { unschedulable: false });
    api.nodes.set('w-1', { unschedulable: false });
    api.seen.length = 0;
    api.ignoreFieldSelector = false;
    api.hangOn = undefined;
    api.pods = [
      { namespace: 'default', name: 'web-1', uid: 'u1', nodeName: 'w-0', ownerKind: 'ReplicaSet', terminatingLists: 2 },
      { namespace: 'db', name: 'pg-0', uid: 'u2', nodeName: 'w-0', ownerKind: 'StatefulSet' },
      { namespace: 'kube-system', name: 'calico-node-x', uid: 'u3', nodeName: 'w-0', ownerKind: 'DaemonSet' },
      { namespace: 'kube-system', name: 'kube-apiserver-w-0', uid: 'u4', nodeName: 'w-0', ownerKind: 'Node', mirror: true },
      { namespace: 'jobs', name: 'done-1', uid: 'u5', nodeName: 'w-0', ownerKind: 'Job', phase: 'Succeeded' },
      { namespace: 'default', name: 'web-2', uid: 'u6', nodeName: 'w-1', ownerKind: 'ReplicaSet' },
    ];
  };

  test('cordons, evicts what kubectl drain --ignore-daemonsets would, waits for it to go', async () => {
    reset();
    const logs: string[] = [];
    const r = await drainNode(opts(server, { log: (m) => logs.push(m) }));
    assert.deepEqual(r, { cordoned: true, evicted: ['default/web-1', 'db/pg-0'], remaining: [], timedOut: false });

    const patch = api.seen[0]!;
    assert.equal(patch.method, 'PATCH');
    assert.equal(patch.url, '/api/v1/nodes/w-0');
    assert.equal(patch.contentType, CORDON_CONTENT_TYPE);
    assert.deepEqual(patch.body, { spec: { unschedulable: true } });
    assert.equal(api.nodes.get('w-0')!.unschedulable, true);
    assert.equal(api.nodes.get('w-1')!.unschedulable, false);
    assert.ok(api.seen.every((s) => s.cn === 'ironbay-admin'), 'every request carried the admin client certificate');
    assert.equal(api.seen[1]!.url, '/api/v1/pods?fieldSelector=spec.nodeName%3Dw-0');

    // DaemonSet, mirror and finished pods untouched, and nothing on another node.
    for (const name of ['calico-node-x', 'kube-apiserver-w-0', 'done-1', 'web-2']) assert.equal(api.evictions(name), 0, name);
    assert.equal(api.evictions('web-1'), 1);
    assert.deepEqual(api.seen.find((s) => s.url.endsWith('/web-1/eviction'))!.body, evictionBody({ namespace: 'default', name: 'web-1' }));
    assert.equal(api.seen.find((s) => s.url.endsWith('/web-1/eviction'))!.contentType, 'application/json');
    // web-1 took two more lists to terminate: drainNode waited for it.
    assert.ok(api.seen.filter((s) => s.method === 'GET').length >= 3);
    assert.deepEqual(api.pods.map((p) => p.name), ['calico-node-x', 'kube-apiserver-w-0', 'done-1', 'web-2']);
    assert.ok(logs.includes('pod kube-system/calico-node-x left in place (daemonset)'), logs.join('\n'));
    assert.ok(logs.includes('pod kube-system/kube-apiserver-w-0 left in place (mirror)'));
    assert.ok(logs.includes('pod jobs/done-1 left in place (finished)'));
    assert.ok(logs.includes('node w-0 drained'));
  });

  test('draining again is harmless: still cordoned, nothing left to evict', async () => {
    reset();
    await drainNode(opts(server));
    api.seen.length = 0;
    assert.deepEqual(await drainNode(opts(server)), { cordoned: true, evicted: [], remaining: [], timedOut: false });
    assert.equal(api.seen.filter((s) => s.method === 'POST').length, 0);
  });

  test('a PodDisruptionBudget that answers 429 twice: retried every pollMs, then evicted', async () => {
    reset();
    api.pods.find((p) => p.name === 'pg-0')!.pdbRefusals = 2;
    const logs: string[] = [];
    const t0 = Date.now();
    const r = await drainNode(opts(server, { pollMs: 50, log: (m) => logs.push(m) }));
    assert.deepEqual(r, { cordoned: true, evicted: ['default/web-1', 'db/pg-0'], remaining: [], timedOut: false });
    assert.equal(api.evictions('pg-0'), 3);
    assert.equal(api.evictions('web-1'), 1, 'an accepted eviction is not repeated');
    assert.ok(Date.now() - t0 >= 100, 'two waits of pollMs between the tries');
    assert.equal(logs.filter((l) => l.includes('db/pg-0 eviction refused for now')).length, 1, 'logged once, not on every retry');
    assert.ok(logs.some((l) => l.includes("would violate the pod's disruption budget")));
  });

  test('a PDB that never allows it: the deadline ends the retries and the pod is reported', async () => {
    reset();
    api.pods.find((p) => p.name === 'pg-0')!.pdbRefusals = Infinity;
    const r = await drainNode(opts(server, { timeoutMs: 300, pollMs: 50 }));
    assert.deepEqual(r, { cordoned: true, evicted: ['default/web-1'], remaining: ['db/pg-0'], timedOut: true });
  });

  test('a pod that never goes: timed out, bounded, the pod named as remaining', async () => {
    reset();
    api.pods.find((p) => p.name === 'pg-0')!.stuck = true;
    const t0 = Date.now();
    const r = await drainNode(opts(server, { timeoutMs: 400, pollMs: 50 }));
    const took = Date.now() - t0;
    assert.deepEqual(r, { cordoned: true, evicted: ['default/web-1', 'db/pg-0'], remaining: ['db/pg-0'], timedOut: true });
    assert.ok(took >= 400 && took < 2_000, `${took} ms`);
    assert.equal(api.evictions('pg-0'), 1, 'an accepted eviction is waited for, not repeated');
  });

  test('a pod gone between the list and its eviction (404 for that pod) is neither evicted nor remaining', async () => {
    reset();
    api.pods.find((p) => p.name === 'pg-0')!.vanishBeforeEviction = true;
    const logs: string[] = [];
    const r = await drainNode(opts(server, { log: (m) => logs.push(m) }));
    assert.deepEqual(r, { cordoned: true, evicted: ['default/web-1'], remaining: [], timedOut: false });
    assert.ok(logs.includes('pod db/pg-0 already gone'));
  });

  test('a pod replaced by another of the same name (new UID) counts as gone', async () => {
    reset();
    const pg = api.pods.find((p) => p.name === 'pg-0')!;
    pg.stuck = true;
    const run = drainNode(opts(server, { timeoutMs: 2_000 }));
    const swap = setInterval(() => {
      if (pg.evicted) {
        api.pods = api.pods.map((p) => (p === pg ? { ...p, uid: 'u2-new', evicted: false } : p));
        clearInterval(swap);
      }
    }, 1);
    const r = await run;
    clearInterval(swap);
    assert.deepEqual(r, { cordoned: true, evicted: ['default/web-1', 'db/pg-0'], remaining: [], timedOut: false });
  });

  test('a node the cluster does not know: nothing cordoned, nothing listed', async () => {
    reset();
    const logs: string[] = [];
    assert.deepEqual(await drainNode(opts(server, { node: 'w-9', log: (m) => logs.push(m) })), { cordoned: false, evicted: [], remaining: [], timedOut: false });
    assert.deepEqual(api.seen.map((s) => s.method), ['PATCH']);
    assert.deepEqual(logs, ['node w-9 is not in the cluster: nothing to drain']);
  });

  test('a 404 for an unknown path (a wrong prefix in server) is an error, not "nothing to drain"', async () => {
    reset();
    // The API server answers an unknown path 404 NotFound too, but its Status names no object.
    await assert.rejects(drainNode(opts(server + '/not-kubernetes')), (e) => {
      assert.ok(isIronbayError(e, 'IB_ERR_KUBE_API'), String(e));
      assert.match(e.message, /PATCH \/api\/v1\/nodes\/w-0 answered 404: the server could not find the requested resource$/);
      return true;
    });
    assert.equal(api.seen[0]!.url, '/not-kubernetes/api/v1/nodes/w-0', 'the prefix of server is kept');
    assert.equal(api.seen.length, 1);
  });

  test('a peer that ignores the field selector does not make drainNode evict other nodes\' pods', async () => {
    reset();
    api.ignoreFieldSelector = true;
    const r = await drainNode(opts(server));
    assert.deepEqual(r.evicted, ['default/web-1', 'db/pg-0']);
    assert.equal(api.evictions('web-2'), 0);
  });

  test('the client certificate lacks the group: IB_ERR_KUBE_API with the API\'s message', async () => {
    reset();
    const viewer = await issueAdminCert(ca, { user: 'viewer', group: 'viewers' });
    await assert.rejects(drainNode(opts(server, { certPem: viewer.certPem, keyPem: viewer.keyPem })), (e) => {
      assert.ok(isIronbayError(e, 'IB_ERR_KUBE_API'), String(e));
      assert.match(e.message, /^draining node w-0 via https:\/\/127\.0\.0\.1:\d+: PATCH \/api\/v1\/nodes\/w-0 answered 403 \(the client certificate's group lacks the permission\): User "viewer" cannot PATCH here$/);
      assert.equal(e.details?.['status'], 403);
      return true;
    });
  });

  test('no answer within requestTimeoutMs: IB_ERR_KUBE_TIMEOUT', async () => {
    reset();
    api.hangOn = '/api/v1/pods';
    await assert.rejects(drainNode(opts(server, { requestTimeoutMs: 200 })), (e) => isIronbayError(e, 'IB_ERR_KUBE_TIMEOUT') && /GET \/api\/v1\/pods\?\S+: no answer within 200 ms/.test(e.message));
  });

  test('a kept-alive connection the server closed under a request: sent again once on a new one', async () => {
    reset();
    api.dropReused = 1;
    const r = await drainNode(opts(server));
    assert.deepEqual(r, { cordoned: true, evicted: ['default/web-1', 'db/pg-0'], remaining: [], timedOut: false });
    assert.equal(api.dropReused, 0, 'one request was dropped');
  });

  test('aborted while waiting: rejects with the reason', async () => {
    reset();
    api.pods.find((p) => p.name === 'pg-0')!.stuck = true;
    const ac = new AbortController();
    const run = drainNode(opts(server, { signal: ac.signal, timeoutMs: 10_000 }));
    setTimeout(() => ac.abort(new Error('operator cancelled')), 150);
    await assert.rejects(run, /operator cancelled/);
  });
});

describe('failures below HTTP', () => {
  test('server down: IB_ERR_KUBE_UNREACHABLE naming the node and the server', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const server = `https://127.0.0.1:${port}`;
    await assert.rejects(drainNode(opts(server)), (e) => {
      assert.ok(isIronbayError(e, 'IB_ERR_KUBE_UNREACHABLE'), String(e));
      assert.equal(e.message, `draining node w-0 via ${server}: PATCH /api/v1/nodes/w-0: cannot connect (ECONNREFUSED)`);
      assert.deepEqual(e.details, { node: 'w-0', server });
      return true;
    });
  });

  test("a server whose certificate is not from the cluster's CA: IB_ERR_KUBE_TLS", async () => {
    const other = await createClusterCa('c2', { days: 1 });
    const impostor = await issueServerCert(other, { sans: ['127.0.0.1'] });
    const api = new FakeApi({ cert: impostor.certPem, key: impostor.keyPem, ca: ca.certPem });
    const server = await api.listen();
    try {
      await assert.rejects(drainNode(opts(server)), (e) => isIronbayError(e, 'IB_ERR_KUBE_TLS') && /TLS failed \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)/.test(e.message));
      assert.equal(api.seen.length, 0);
    } finally {
      await api.close();
    }
  });

  test("a server certificate without the server's address: IB_ERR_KUBE_TLS", async () => {
    const wrongName = await issueServerCert(ca, { sans: ['api.example'] });
    const api = new FakeApi({ cert: wrongName.certPem, key: wrongName.keyPem, ca: ca.certPem });
    const server = await api.listen();
    try {
      await assert.rejects(drainNode(opts(server)), (e) => isIronbayError(e, 'IB_ERR_KUBE_TLS') && /ERR_TLS_CERT_ALTNAME_INVALID/.test(e.message));
    } finally {
      await api.close();
    }
  });

  test('a client certificate from another CA, refused in the TLS layer: IB_ERR_KUBE_TLS saying so', async () => {
    const other = await createClusterCa('c2', { days: 1 });
    const stranger = await issueAdminCert(other);
    const api = new FakeApi({ cert: serving.certPem, key: serving.keyPem, ca: ca.certPem });
    const server = await api.listen();
    try {
      // node's TLS server closes such a connection without an alert (Go's sends one, which
      // arrives as ERR_SSL_TLSV1_ALERT_UNKNOWN_CA or _BAD_CERTIFICATE: IB_ERR_KUBE_TLS as well).
      await assert.rejects(drainNode(opts(server, { certPem: stranger.certPem, keyPem: stranger.keyPem })), (e) => {
        assert.ok(isIronbayError(e, 'IB_ERR_KUBE_TLS'), String(e));
        assert.match(e.message, /closed the connection right after the TLS handshake, before answering \(ECONNRESET\): it does not accept the client certificate\?$/);
        return true;
      });
      assert.equal(api.seen.length, 0);
    } finally {
      await api.close();
    }
  });

  test('a client certificate from another CA, refused by the API server\'s authenticator: 401, IB_ERR_KUBE_API', async () => {
    const other = await createClusterCa('c2', { days: 1 });
    const stranger = await issueAdminCert(other);
    const api = new FakeApi({ cert: serving.certPem, key: serving.keyPem, ca: ca.certPem }, 'authenticator');
    const server = await api.listen();
    try {
      await assert.rejects(drainNode(opts(server, { certPem: stranger.certPem, keyPem: stranger.keyPem })), (e) => {
        assert.ok(isIronbayError(e, 'IB_ERR_KUBE_API'), String(e));
        assert.match(e.message, /PATCH \/api\/v1\/nodes\/w-0 answered 401 \(the cluster does not accept the client certificate\): Unauthorized$/);
        return true;
      });
    } finally {
      await api.close();
    }
  });

  test('plain HTTP on the port: IB_ERR_KUBE_TLS', async () => {
    const plain = net.createServer((s) => {
      s.on('error', () => undefined);
      s.resume();
      s.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      await assert.rejects(drainNode(opts(`https://127.0.0.1:${(plain.address() as net.AddressInfo).port}`)), (e) => isIronbayError(e, 'IB_ERR_KUBE_TLS') && /TLS failed \(EPROTO: wrong version number\)$/.test(e.message));
    } finally {
      await new Promise<void>((r) => plain.close(() => r()));
    }
  });

  test('arguments that cannot be right are refused before any connection', async () => {
    await assert.rejects(drainNode(opts('https://127.0.0.1:1', { node: 'W_0' })), /not a DNS-1123 subdomain/);
    await assert.rejects(drainNode(opts('http://127.0.0.1:1')), /is not https/);
    await assert.rejects(drainNode(opts('https://127.0.0.1:1', { timeoutMs: -1 })), /not a duration/);
  });
});

describe('pure parts', () => {
  const pod = (p: Partial<PodInfo>): PodInfo => ({ namespace: 'ns', name: 'p', uid: 'u', nodeName: 'n', phase: 'Running', controllerKind: 'ReplicaSet', mirror: false, ...p });

  test('which pods are left in place', () => {
    assert.equal(skipReason(pod({})), undefined);
    assert.equal(skipReason(pod({ controllerKind: undefined })), undefined, 'bare pods are evicted (the VM is going)');
    assert.equal(skipReason(pod({ controllerKind: 'DaemonSet' })), 'daemonset');
    assert.equal(skipReason(pod({ mirror: true, controllerKind: 'Node' })), 'mirror');
    assert.equal(skipReason(pod({ phase: 'Succeeded' })), 'finished');
    assert.equal(skipReason(pod({ phase: 'Failed' })), 'finished');
    assert.equal(skipReason(pod({ phase: 'Pending' })), undefined);
  });

  test('decoding a PodList: the controller reference decides, not any owner', () => {
    const list = {
      items: [
        { metadata: { namespace: 'a', name: 'x', uid: '1', ownerReferences: [{ kind: 'DaemonSet', controller: false }, { kind: 'ReplicaSet', controller: true }] }, spec: { nodeName: 'n' }, status: { phase: 'Running' } },
        { metadata: { namespace: 'a', name: 'y', annotations: { 'kubernetes.io/config.mirror': '' } } },
      ],
    };
    assert.deepEqual(decodePodList(Buffer.from(JSON.stringify(list))), [
      { namespace: 'a', name: 'x', uid: '1', nodeName: 'n', phase: 'Running', controllerKind: 'ReplicaSet', mirror: false },
      { namespace: 'a', name: 'y', uid: undefined, nodeName: undefined, phase: undefined, controllerKind: undefined, mirror: true },
    ]);
  });

  test('decoding a PodList: every wrong shape has its own message', () => {
    const bad = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
    assert.throws(() => decodePodList(bad('<html>')), /not JSON \(6 bytes\)/);
    assert.throws(() => decodePodList(bad([])), /not a PodList: no items array/);
    assert.throws(() => decodePodList(bad({ items: {} })), /not a PodList/);
    assert.throws(() => decodePodList(bad({ items: [null] })), /items\[0\] has no metadata/);
    assert.throws(() => decodePodList(bad({ items: [{ metadata: { namespace: 'a', name: 'x' } }, { metadata: { name: 'y' } }] })), /items\[1\] has no metadata\.name or metadata\.namespace/);
    assert.throws(() => decodePodList(bad({ items: [{ metadata: { namespace: 'a', name: 7 } }] })), /items\[0\]/);
  });

  test('Status bodies', () => {
    const nf = Buffer.from(JSON.stringify(status(404, 'NotFound', 'nodes "w-9" not found', { kind: 'nodes', name: 'w-9' })));
    assert.deepEqual(decodeStatus(nf), { reason: 'NotFound', message: 'nodes "w-9" not found', kind: 'nodes', name: 'w-9' });
    assert.equal(isNotFound(nf, 'nodes', 'w-9'), true);
    assert.equal(isNotFound(nf, 'nodes', 'w-8'), false);
    assert.equal(isNotFound(nf, 'pods', 'w-9'), false);
    assert.equal(isNotFound(Buffer.from(JSON.stringify(status(404, 'NotFound', 'the server could not find the requested resource'))), 'nodes', 'w-9'), false);
    assert.equal(isNotFound(Buffer.from('404 page not found'), 'nodes', 'w-9'), false);
    assert.equal(decodeStatus(Buffer.from('<html>404</html>')), undefined);
    assert.equal(decodeStatus(Buffer.from('{"kind":"Pod"}')), undefined);
  });

  test('the list path escapes the selector', () => {
    assert.equal(podsPath('w-0.c1'), '/api/v1/pods?fieldSelector=spec.nodeName%3Dw-0.c1');
  });

  test('socket errors → codes', () => {
    const err = (code: string): Error => Object.assign(new Error(code), { code });
    assert.equal(classifyNetError(err('ECONNREFUSED')).code, 'IB_ERR_KUBE_UNREACHABLE');
    assert.equal(classifyNetError(err('EHOSTUNREACH')).code, 'IB_ERR_KUBE_UNREACHABLE');
    assert.equal(classifyNetError(err('ETIMEDOUT')).code, 'IB_ERR_KUBE_TIMEOUT');
    assert.equal(classifyNetError(err('ERR_SSL_WRONG_VERSION_NUMBER')).code, 'IB_ERR_KUBE_TLS');
    assert.equal(classifyNetError(err('CERT_HAS_EXPIRED')).code, 'IB_ERR_KUBE_TLS');
    assert.equal(classifyNetError(err('DEPTH_ZERO_SELF_SIGNED_CERT')).code, 'IB_ERR_KUBE_TLS');
    assert.equal(classifyNetError(err('ERR_TLS_CERT_ALTNAME_INVALID')).code, 'IB_ERR_KUBE_TLS');
    assert.equal(classifyNetError(new Error('odd')).code, 'IB_ERR_KUBE_UNREACHABLE');
    assert.match(classifyNetError(Object.assign(new Error('x'), { code: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', reason: 'sslv3 alert bad certificate' })).why, /^TLS failed \(ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: sslv3 alert bad certificate\)$/);
    // A reset: on a pooled socket, sent again; right after a fresh handshake, the client certificate.
    const reset = err('ECONNRESET');
    assert.deepEqual(classifyNetError(reset, { reused: true, handshakeDone: true }).retry, true);
    assert.equal(classifyNetError(reset, { reused: false, handshakeDone: true }).code, 'IB_ERR_KUBE_TLS');
    assert.equal(classifyNetError(reset, { reused: false, handshakeDone: false }).code, 'IB_ERR_KUBE_UNREACHABLE');
    assert.equal(classifyNetError(reset, { reused: false, handshakeDone: false }).retry, false);
  });
});
