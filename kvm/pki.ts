// A workload cluster's PKI (issue #7). The appliance makes each cluster's CA itself, before the
// first control plane boots, and places ca.crt/ca.key in /etc/kubernetes/pki so kubeadm uses
// them instead of making its own. Knowing the CA, the appliance knows the hash every
// `kubeadm join --discovery-token-ca-cert-hash` needs and can issue operators an admin
// kubeconfig for the cluster's API endpoint on the appliance.
//
// Certificates are made with the `openssl` CLI (Debian's OpenSSL 3; node:crypto makes keys but
// cannot issue X.509 certificates), always with argument arrays and a config file written here,
// so neither a shell nor the system's openssl.cnf take part. Keys pass through a private temp
// directory that is removed afterwards.
//
// Key type: RSA 2048. It is kubeadm's default (`encryptionAlgorithm: RSA-2048`); ECDSA P-256 is
// only a first-class choice from kubeadm's v1beta4 config (1.31), and before that sat behind the
// PublicKeysECDSA feature gate. An RSA CA is therefore what every kubeadm version we may boot
// expects, and the kubeadm docs' hash recipe (`openssl rsa -pubin`) works on it verbatim.
import { execFile } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { IronbayError } from '../daemon/errors.ts';

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

export interface ClusterCa extends CertAndKey {
  /** "sha256:<64 hex>" of the CA's DER SubjectPublicKeyInfo: kubeadm's --discovery-token-ca-cert-hash. */
  certHash: string;
}

export const CA_DAYS = 3650;
export const ADMIN_DAYS = 365;
/** kubeadm's admin.conf user (≥ 1.29) is in this group, bound by the ClusterRoleBinding of the
 * same name to cluster-admin. kubeadm keeps system:masters for super-admin.conf only: that group
 * bypasses RBAC and a certificate in it cannot be revoked, so ironbay does not hand it out. */
export const ADMIN_GROUP = 'kubeadm:cluster-admins';
export const ADMIN_USER = 'ironbay-admin';
const RSA_BITS = 2048;
const OPENSSL_TIMEOUT_MS = 30_000;

/**
 * Names that go into a subject or a SAN. A subject is passed to `openssl -subj`, where `/`, `+`,
 * `=` and `\` have meanings; Kubernetes user and group names (`system:node:w-0`) need none of them.
 */
const SUBJECT_VALUE = /^[A-Za-z0-9][A-Za-z0-9:._@-]{0,63}$/;
const DNS_NAME = /^(?=.{1,253}$)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function checkName(what: string, v: string): void {
  if (!SUBJECT_VALUE.test(v)) throw new RangeError(`${what} ${JSON.stringify(v)} is not 1–64 of A–Z a–z 0–9 : . _ @ - (starting with a letter or digit)`);
}

function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > 36_500) throw new RangeError(`validity of ${days} days is not a whole number from 1 to 36500`);
}

/** A positive 127-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, positive; CAB BR: ≥ 64 random bits). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return '0x' + b.toString('hex');
}

function openssl(args: readonly string[], cwd: string, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: OPENSSL_TIMEOUT_MS, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'the openssl command is not installed' : err.killed ? `openssl did not finish within ${OPENSSL_TIMEOUT_MS} ms` : stderr.trim() || err.message;
      reject(new IronbayError('IB_ERR_PKI', `${what}: ${why}`, { cause: err, details: { args: args.join(' ') } }));
    });
  });
}

async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  // mkdtemp makes the directory 0700: the keys in it are readable by this user only.
  // The pid in the name lets a later sweep find what a killed process left behind.
  const dir = await mkdtemp(join(tmpdir(), `ironbay-pki-${process.pid}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** An openssl config with the one extension section `ext`; no other file is read. */
function extConfig(lines: readonly string[]): string {
  return ['[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', '[ext]', ...lines, ''].join('\n');
}

function parseCert(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new IronbayError('IB_ERR_PKI', `${what} is not a PEM certificate: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * The CA certificate's public key pin as kubeadm writes it: "sha256:" + hex SHA-256 of the DER
 * SubjectPublicKeyInfo (kubeadm `pubkeypin.Hash`). Pure: node:crypto only.
 */
export function caCertHash(certPem: string): string {
  const spki = parseCert(certPem, 'CA certificate').publicKey.export({ type: 'spki', format: 'der' });
  return 'sha256:' + createHash('sha256').update(spki).digest('hex');
}

/** The cluster's CA: CN=kubernetes (as kubeadm names it), RSA 2048, self-signed, `days` (10 years) valid. */
export async function createClusterCa(cluster: string, opts: { days?: number } = {}): Promise<ClusterCa> {
  checkName('cluster name', cluster);
  const days = opts.days ?? CA_DAYS;
  checkDays(days);
  return inTempDir(async (dir) => {
    await writeFile(join(dir, 'ca.cnf'), extConfig([
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, digitalSignature, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
    ]));
    const what = `cluster ${cluster}: making the CA`;
    await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${RSA_BITS}`, '-out', 'ca.key'], dir, what);
    await openssl(['req', '-new', '-x509', '-config', 'ca.cnf', '-extensions', 'ext', '-key', 'ca.key', '-subj', '/CN=kubernetes', '-sha256', '-days', String(days), '-set_serial', serial(), '-out', 'ca.crt'], dir, what);
    const certPem = await readFile(join(dir, 'ca.crt'), 'utf8');
    const keyPem = await readFile(join(dir, 'ca.key'), 'utf8');
    return { certPem, keyPem, certHash: caCertHash(certPem) };
  });
}

interface LeafSpec {
  subject: string;
  extensions: readonly string[];
  days: number;
  what: string;
}

/** A new RSA key and a certificate for it signed by `ca`, checked against the CA before it is returned. */
async function issue(ca: CertAndKey, spec: LeafSpec): Promise<CertAndKey> {
  checkDays(spec.days);
  const caCert = parseCert(ca.certPem, 'CA certificate');
  return inTempDir(async (dir) => {
    await writeFile(join(dir, 'ca.crt'), ca.certPem);
    await writeFile(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    await writeFile(join(dir, 'leaf.cnf'), extConfig([
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
      ...spec.extensions,
    ]));
    await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${RSA_BITS}`, '-out', 'leaf.key'], dir, spec.what);
    await openssl(['req', '-new', '-config', 'leaf.cnf', '-key', 'leaf.key', '-subj', spec.subject, '-out', 'leaf.csr'], dir, spec.what);
    await openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', serial(), '-sha256', '-days', String(spec.days), '-extfile', 'leaf.cnf', '-extensions', 'ext', '-out', 'leaf.crt'], dir, spec.what);
    const certPem = await readFile(join(dir, 'leaf.crt'), 'utf8');
    const keyPem = await readFile(join(dir, 'leaf.key'), 'utf8');
    // A CA key that does not belong to the CA certificate makes openssl sign happily anyway.
    if (!parseCert(certPem, 'issued certificate').verify(caCert.publicKey)) {
      throw new IronbayError('IB_ERR_PKI', `${spec.what}: the CA key does not belong to the CA certificate`);
    }
    return { certPem, keyPem };
  });
}

/** A client certificate for kubectl: CN = user, O = group (Kubernetes x509 authentication), clientAuth. */
export async function issueAdminCert(ca: CertAndKey, opts: { user?: string; group?: string; days?: number } = {}): Promise<CertAndKey> {
  const user = opts.user ?? ADMIN_USER;
  const group = opts.group ?? ADMIN_GROUP;
  checkName('user', user);
  checkName('group', group);
  return issue(ca, {
    subject: `/O=${group}/CN=${user}`,
    extensions: ['extendedKeyUsage = clientAuth'],
    days: opts.days ?? ADMIN_DAYS,
    what: `issuing the client certificate for ${user}`,
  });
}

/** A serving certificate (serverAuth) for DNS names and IP addresses; CN = the first SAN. */
export async function issueServerCert(ca: CertAndKey, opts: { sans: readonly string[]; days?: number }): Promise<CertAndKey> {
  const first = opts.sans[0];
  if (first === undefined) throw new RangeError('a server certificate needs at least one DNS name or IP address');
  const alt = opts.sans.map((s) => {
    if (isIP(s) !== 0) return `IP:${s}`;
    if (DNS_NAME.test(s)) return `DNS:${s}`;
    throw new RangeError(`${JSON.stringify(s)} is neither an IP address nor a DNS name`);
  });
  const cn = isIP(first) !== 0 || first.length > 64 ? 'kube-apiserver' : first;
  return issue(ca, {
    subject: `/CN=${cn}`,
    extensions: ['extendedKeyUsage = serverAuth', `subjectAltName = ${alt.join(', ')}`],
    days: opts.days ?? ADMIN_DAYS,
    what: `issuing the server certificate for ${opts.sans.join(', ')}`,
  });
}

export interface KubeconfigOptions {
  cluster: string;
  /** https://host:port */
  server: string;
  caPem: string;
  user: string;
  certPem: string;
  keyPem: string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** A kubeconfig (clientcmd v1 Config) with one cluster, user and context `<user>@<cluster>`, current. */
export function kubeconfig(o: KubeconfigOptions): string {
  let url: URL;
  try {
    url = new URL(o.server);
  } catch {
    throw new RangeError(`server ${JSON.stringify(o.server)} is not a URL`);
  }
  if (url.protocol !== 'https:') throw new RangeError(`server ${o.server} is not https://`);
  const context = `${o.user}@${o.cluster}`;
  return dump(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: o.cluster, cluster: { server: o.server, 'certificate-authority-data': b64(o.caPem) } }],
      users: [{ name: o.user, user: { 'client-certificate-data': b64(o.certPem), 'client-key-data': b64(o.keyPem) } }],
      contexts: [{ name: context, context: { cluster: o.cluster, user: o.user } }],
      'current-context': context,
      preferences: {},
    },
    { lineWidth: -1, noRefs: true },
  );
}

const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** Bytes ≥ 252 (= 7 × 36) are dropped so each character is uniform over the 36. */
const TOKEN_BYTE_LIMIT = 252;
const MAX_RANDOM_ROUNDS = 64;

/** A kubeadm bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}` (token id . token secret). */
export function bootstrapToken(random: (n: number) => Buffer = randomBytes): string {
  let chars = '';
  for (let round = 0; chars.length < 22; round++) {
    if (round === MAX_RANDOM_ROUNDS) throw new RangeError('the random source keeps returning unusable bytes');
    for (const b of random(32)) {
      if (b < TOKEN_BYTE_LIMIT && chars.length < 22) chars += TOKEN_ALPHABET[b % 36]!;
    }
  }
  return `${chars.slice(0, 6)}.${chars.slice(6)}`;
}

/** kubeadm's --certificate-key: a 32-byte AES key, hex (it encrypts the kubeadm-certs Secret). */
export function certificateKey(random: (n: number) => Buffer = randomBytes): string {
  const k = random(32);
  if (k.length !== 32) throw new RangeError(`the random source returned ${k.length} bytes, not 32`);
  return k.toString('hex');
}
