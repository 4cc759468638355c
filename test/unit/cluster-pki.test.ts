// A cluster's PKI, checked with the real openssl CLI as the peer: the chain verifies, the
// extensions are what kubeadm and the API server look at, the CA hash matches the recipe in
// kubeadm's docs, and a TLS handshake with the kubeconfig's credentials works (and fails with
// the wrong CA on either side).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { load } from 'js-yaml';
import { isIronbayError } from '../../daemon/errors.ts';
import {
  ADMIN_GROUP,
  bootstrapToken,
  caCertHash,
  certificateKey,
  createClusterCa,
  issueAdminCert,
  issueServerCert,
  kubeconfig,
  type CertAndKey,
  type ClusterCa,
} from '../../kvm/pki.ts';

const dir = mkdtempSync(join(tmpdir(), `ironbay-pki-test-${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const openssl = (args: string[], input?: string | Buffer): Buffer => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
const text = (pem: string): string => openssl(['x509', '-noout', '-text', '-in', file('t.pem', pem)]).toString();
const pkiDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith(`ironbay-pki-${process.pid}-`));

let ca: ClusterCa;
let admin: CertAndKey;
let server: CertAndKey;
before(async () => {
  ca = await createClusterCa('c1');
  admin = await issueAdminCert(ca);
  server = await issueServerCert(ca, { sans: ['127.0.0.1', 'localhost'] });
});

describe('certificates', () => {
  test('openssl verifies the admin and server certificates against the CA', () => {
    const out = openssl(['verify', '-CAfile', file('ca.pem', ca.certPem), file('admin.pem', admin.certPem), file('server.pem', server.certPem)]).toString();
    assert.match(out, /admin\.pem: OK/);
    assert.match(out, /server\.pem: OK/);
    // With the purpose checked too: the admin certificate is a TLS client's, the server's a server's.
    openssl(['verify', '-purpose', 'sslclient', '-CAfile', join(dir, 'ca.pem'), join(dir, 'admin.pem')]);
    openssl(['verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.pem'), join(dir, 'server.pem')]);
    assert.throws(() => openssl(['verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.pem'), join(dir, 'admin.pem')]));
  });

  test('the CA: CN=kubernetes, CA:TRUE critical, keyCertSign/cRLSign/digitalSignature, RSA 2048, 10 years', () => {
    const t = text(ca.certPem);
    assert.match(t, /Subject: CN = kubernetes\n/);
    assert.match(t, /Issuer: CN = kubernetes\n/);
    assert.match(t, /X509v3 Basic Constraints: critical\n\s+CA:TRUE/);
    assert.match(t, /X509v3 Key Usage: critical\n\s+Digital Signature, Certificate Sign, CRL Sign\n/);
    assert.match(t, /Public-Key: \(2048 bit\)/);
    const c = new X509Certificate(ca.certPem);
    assert.ok(c.ca);
    const years = (Date.parse(c.validTo) - Date.parse(c.validFrom)) / (365.25 * 86_400_000);
    assert.ok(Math.abs(years - 10) < 0.01, `${years} years`);
    assert.ok(c.checkPrivateKey(createPrivateKey(ca.keyPem)));
  });

  test('the admin certificate: O = kubeadm:cluster-admins, CN = ironbay-admin, clientAuth, not a CA, 1 year', () => {
    const t = text(admin.certPem);
    assert.match(t, /Subject: O = kubeadm:cluster-admins, CN = ironbay-admin\n/);
    assert.match(t, /X509v3 Extended Key Usage: \n\s+TLS Web Client Authentication\n/);
    assert.match(t, /CA:FALSE/);
    assert.match(t, /X509v3 Authority Key Identifier/);
    const c = new X509Certificate(admin.certPem);
    assert.ok(c.checkIssued(new X509Certificate(ca.certPem)));
    assert.ok(c.checkPrivateKey(createPrivateKey(admin.keyPem)));
    const days = (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000;
    assert.equal(days, 365);
  });

  test('another user, group and validity', async () => {
    const c = await issueAdminCert(ca, { user: 'alice', group: 'system:masters', days: 7 });
    assert.match(text(c.certPem), /Subject: O = system:masters, CN = alice\n/);
    const x = new X509Certificate(c.certPem);
    assert.equal((Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86_400_000, 7);
  });

  test('the server certificate carries its SANs and serverAuth', () => {
    const t = text(server.certPem);
    assert.match(t, /DNS:localhost/);
    assert.match(t, /IP Address:127\.0\.0\.1/);
    assert.match(t, /TLS Web Server Authentication/);
  });

  test('serial numbers are random and distinct', async () => {
    const again = await issueAdminCert(ca);
    assert.notEqual(new X509Certificate(again.certPem).serialNumber, new X509Certificate(admin.certPem).serialNumber);
  });

  test('no temp directory (and so no key) is left behind', () => {
    assert.deepEqual(pkiDirs(), []);
  });
});

describe('the CA hash kubeadm join needs', () => {
  test("equals the kubeadm docs' openssl recipe (RSA: openssl rsa -pubin)", () => {
    assert.match(ca.certHash, /^sha256:[0-9a-f]{64}$/);
    assert.equal(caCertHash(ca.certPem), ca.certHash);
    const pub = openssl(['x509', '-pubkey', '-noout', '-in', file('ca.pem', ca.certPem)]);
    const der = openssl(['rsa', '-pubin', '-outform', 'der'], pub);
    const dgst = openssl(['dgst', '-sha256', '-hex', '-r'], der).toString().split(' ')[0];
    assert.equal(ca.certHash, `sha256:${dgst}`);
  });

  test('and for an EC CA made by openssl itself (openssl pkey -pubin)', () => {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'ec.key'), '-out', join(dir, 'ec.pem'), '-subj', '/CN=kubernetes', '-days', '1']);
    const pem = openssl(['x509', '-in', join(dir, 'ec.pem')]).toString();
    const pub = openssl(['x509', '-pubkey', '-noout', '-in', join(dir, 'ec.pem')]);
    const der = openssl(['pkey', '-pubin', '-outform', 'der'], pub);
    const dgst = openssl(['dgst', '-sha256', '-hex', '-r'], der).toString().split(' ')[0];
    assert.equal(caCertHash(pem), `sha256:${dgst}`);
  });

  test('each CA has its own', async () => {
    const other = await createClusterCa('c2', { days: 1 });
    assert.notEqual(other.certHash, ca.certHash);
  });

  test('something that is not a certificate is IB_ERR_PKI', () => {
    assert.throws(() => caCertHash('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), (e) => isIronbayError(e, 'IB_ERR_PKI'));
    assert.throws(() => caCertHash(ca.keyPem), (e) => isIronbayError(e, 'IB_ERR_PKI') && /CA certificate is not a PEM certificate/.test(e.message));
  });
});

interface Kubeconfig {
  apiVersion: string;
  kind: string;
  'current-context': string;
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
  users: { name: string; user: { 'client-certificate-data': string; 'client-key-data': string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
}
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

/** A TLS server like the API server's: the cluster CA's serving certificate, client certificates required. */
async function apiLikeServer(trust: string): Promise<{ port: number; peers: tls.PeerCertificate[]; close: () => Promise<void> }> {
  const peers: tls.PeerCertificate[] = [];
  const srv = tls.createServer({ cert: server.certPem, key: server.keyPem, ca: trust, requestCert: true, rejectUnauthorized: true }, (s) => {
    peers.push(s.getPeerCertificate());
    s.end('hello\n');
  });
  srv.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  return { port, peers, close: () => new Promise((r) => srv.close(() => r())) };
}

/** Connects, reads until the server closes; resolves with what was read or rejects with the TLS error. */
function dial(port: number, o: { ca: string; cert: string; key: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...o });
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (got += d));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

describe('kubeconfig', () => {
  const kc = (): Kubeconfig =>
    load(kubeconfig({ cluster: 'c1', server: 'https://127.0.0.1:6443', caPem: ca.certPem, user: 'ironbay-admin', certPem: admin.certPem, keyPem: admin.keyPem })) as Kubeconfig;

  test('one cluster, user and context <user>@<cluster>, current; the PEMs base64 in *-data', () => {
    const k = kc();
    assert.equal(k.apiVersion, 'v1');
    assert.equal(k.kind, 'Config');
    assert.equal(k['current-context'], 'ironbay-admin@c1');
    assert.deepEqual(k.contexts, [{ name: 'ironbay-admin@c1', context: { cluster: 'c1', user: 'ironbay-admin' } }]);
    assert.equal(k.clusters[0]!.name, 'c1');
    assert.equal(k.clusters[0]!.cluster.server, 'https://127.0.0.1:6443');
    assert.equal(unb64(k.clusters[0]!.cluster['certificate-authority-data']), ca.certPem);
    assert.equal(k.users[0]!.name, 'ironbay-admin');
    assert.equal(unb64(k.users[0]!.user['client-certificate-data']), admin.certPem);
    assert.equal(unb64(k.users[0]!.user['client-key-data']), admin.keyPem);
  });

  test('a server that is not https:// is refused', () => {
    const o = { cluster: 'c1', caPem: ca.certPem, user: 'u', certPem: admin.certPem, keyPem: admin.keyPem };
    assert.throws(() => kubeconfig({ ...o, server: 'http://127.0.0.1:6443' }), /is not https/);
    assert.throws(() => kubeconfig({ ...o, server: '127.0.0.1:6443x' }), /not a URL|not https/);
  });

  test("TLS with the kubeconfig's credentials: the server sees the admin's CN and O", async () => {
    const k = kc();
    const srv = await apiLikeServer(ca.certPem);
    try {
      const got = await dial(srv.port, {
        ca: unb64(k.clusters[0]!.cluster['certificate-authority-data']),
        cert: unb64(k.users[0]!.user['client-certificate-data']),
        key: unb64(k.users[0]!.user['client-key-data']),
      });
      assert.equal(got, 'hello\n');
      assert.equal(srv.peers.length, 1);
      assert.equal(srv.peers[0]!.subject.CN, 'ironbay-admin');
      assert.equal(srv.peers[0]!.subject.O, ADMIN_GROUP);
    } finally {
      await srv.close();
    }
  });

  test("a client certificate from another cluster's CA is refused by the server", async () => {
    const other = await createClusterCa('c2', { days: 1 });
    const stranger = await issueAdminCert(other);
    const srv = await apiLikeServer(ca.certPem);
    try {
      // TLS 1.3: the client's handshake completes before the server has checked the client's
      // certificate; the server's alert then ends the connection, an error or a bare close.
      const got = await dial(srv.port, { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem }).catch((e: unknown) => e);
      assert.ok(got === '' || (got instanceof Error && /ALERT_UNKNOWN_CA|ECONNRESET/.test((got as NodeJS.ErrnoException).code ?? '')), String(got));
      assert.equal(srv.peers.length, 0);
    } finally {
      await srv.close();
    }
  });

  test("the client refuses a server whose certificate is not from the kubeconfig's CA", async () => {
    const other = await createClusterCa('c2', { days: 1 });
    const srv = await apiLikeServer(ca.certPem);
    try {
      await assert.rejects(dial(srv.port, { ca: other.certPem, cert: admin.certPem, key: admin.keyPem }), (e: NodeJS.ErrnoException) =>
        // Both CAs are CN=kubernetes, as kubeadm names every cluster's: OpenSSL finds the wrong
        // one by name and reports the chain as untrusted rather than the issuer as missing.
        ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN'].includes(e.code ?? ''),
      );
    } finally {
      await srv.close();
    }
  });
});

describe('refusals', () => {
  test('names that cannot go into a subject, SANs that are neither IP nor DNS name, bad validity', async () => {
    await assert.rejects(createClusterCa('c1/evil'), RangeError);
    await assert.rejects(issueAdminCert(ca, { user: 'a/CN=b' }), /user "a\/CN=b" is not/);
    await assert.rejects(issueAdminCert(ca, { group: '' }), /group "" is not/);
    await assert.rejects(issueAdminCert(ca, { days: 0 }), /validity of 0 days/);
    await assert.rejects(issueServerCert(ca, { sans: [] }), /at least one/);
    await assert.rejects(issueServerCert(ca, { sans: ['a b'] }), /neither an IP address nor a DNS name/);
  });

  test('a CA key that is not the CA certificate’s is IB_ERR_PKI', async () => {
    const other = await createClusterCa('c2', { days: 1 });
    await assert.rejects(issueAdminCert({ certPem: ca.certPem, keyPem: other.keyPem }), (e) => isIronbayError(e, 'IB_ERR_PKI') && /client certificate for ironbay-admin/.test(e.message));
    assert.deepEqual(pkiDirs(), []);
  });

  test('no openssl on PATH is IB_ERR_PKI saying so', async () => {
    const path = process.env['PATH'];
    process.env['PATH'] = join(dir, 'empty');
    try {
      await assert.rejects(createClusterCa('c3'), (e) => isIronbayError(e, 'IB_ERR_PKI') && /openssl command is not installed/.test(e.message));
    } finally {
      process.env['PATH'] = path;
    }
  });
});

describe('kubeadm tokens', () => {
  test('bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}, different each time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const t = bootstrapToken();
      assert.match(t, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
      seen.add(t);
    }
    assert.equal(seen.size, 200);
  });

  test('bytes ≥ 252 are dropped so each character is uniform; a source that only gives those is refused', () => {
    // 0 → a, 35 → 9, 36 → a again, 251 → 251 % 36 = 35 → 9; 252…255 are skipped.
    const bytes = [252, 0, 255, 35, 36, 251, ...Array<number>(26).fill(1)];
    assert.equal(bootstrapToken(() => Buffer.from(bytes)), 'a9a9bb.bbbbbbbbbbbbbbbb');
    assert.throws(() => bootstrapToken(() => Buffer.alloc(32, 0xff)), /unusable bytes/);
  });

  test('certificate key: 32 bytes as 64 hex', () => {
    assert.match(certificateKey(), /^[0-9a-f]{64}$/);
    assert.notEqual(certificateKey(), certificateKey());
    assert.equal(certificateKey(() => Buffer.alloc(32, 0xab)), 'ab'.repeat(32));
    assert.throws(() => certificateKey(() => Buffer.alloc(16)), /16 bytes, not 32/);
  });
});
