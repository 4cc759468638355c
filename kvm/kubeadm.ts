// kubeadm configuration for one workload-cluster VM (issue #7): control plane 0 runs
// `kubeadm init` (InitConfiguration + ClusterConfiguration), the other control planes a
// control-plane join (JoinConfiguration.controlPlane with the certificate key), workers a plain
// join. The API version follows the Kubernetes version: kubeadm.k8s.io/v1beta4 from 1.31,
// v1beta3 for 1.22–1.30 (kubeadm 1.22 introduced v1beta3; 1.31 introduced v1beta4, whose
// extraArgs/kubeletExtraArgs are lists of {name, value} where v1beta3 has string maps —
// k8s.io/kubernetes cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go, `Arg`).
// Pure: secrets come from the caller and are only checked here. Every rendered document is
// checked against a schema of exactly the fields we emit before it leaves this module.
import { createHash, X509Certificate } from 'node:crypto';
import { Type, type TSchema } from 'typebox';
import { dump } from 'js-yaml';
import type { Cluster } from '../inventory/schema.ts';
import { compileChecker, type PathIssue } from '../daemon/lib/schema-check.ts';
import { parseCidr, parseInterface, parseIp, formatIp } from '../daemon/lib/net.ts';

/**
 * A cluster's configuration cannot be rendered: bad input (a secret in the wrong format, an
 * unsupported version) or a rendered document that fails its schema. The message names the
 * cluster and, where there is one, the VM. `code` follows the IB_ERR_* catalogue's pattern
 * (daemon/errors.ts), which does not list it yet.
 */
export class ClusterRenderError extends Error {
  readonly code = 'IB_ERR_CLUSTER_RENDER';
  readonly cluster: string;
  readonly vm: string | undefined;

  constructor(cluster: string, vm: string | undefined, reason: string, options?: { cause?: unknown }) {
    super(`cluster "${cluster}"${vm === undefined ? '' : ` VM "${vm}"`}: ${reason}`, options);
    this.name = 'ClusterRenderError';
    this.cluster = cluster;
    this.vm = vm;
  }
}

export const KUBEADM_V1BETA3 = 'kubeadm.k8s.io/v1beta3';
export const KUBEADM_V1BETA4 = 'kubeadm.k8s.io/v1beta4';
export type KubeadmApiVersion = typeof KUBEADM_V1BETA3 | typeof KUBEADM_V1BETA4;

/** The API server's port on every control plane (kubeadm's default bind port). */
export const API_SERVER_PORT = 6443;
/** Where the seed writes the configuration and where `kubeadm init/join --config` reads it. */
export const KUBEADM_CONFIG_PATH = '/etc/kubernetes/kubeadm.yaml';
/**
 * Lifetime of the bootstrap token created at `kubeadm init`: long enough for every VM of a new
 * cluster to join; a node added later needs a fresh token (`kubeadm token create`).
 */
export const BOOTSTRAP_TOKEN_TTL = '24h0m0s';

// Formats of the caller's secrets, as kubeadm defines them.
/** Bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}` (k8s.io/cluster-bootstrap BootstrapTokenPattern). */
const TOKEN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;
/** A public-key pin: `sha256:` and the hex SHA-256 of the CA's DER SubjectPublicKeyInfo. */
const CA_HASH = /^sha256:[0-9a-f]{64}$/;
/** The key that encrypts the uploaded control-plane certificates: 32-byte AES key, hex. */
const CERT_KEY = /^[0-9a-f]{64}$/;

export interface KubernetesVersion {
  major: number;
  minor: number;
  patch: number;
  /** Normalised with a leading v: `v1.31.2`. */
  text: string;
}

/** `1.31.2` or `v1.31.2`. kubeadm needs the patch release (it pins the control-plane images). */
export function parseKubernetesVersion(text: string): KubernetesVersion | undefined {
  const m = /^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return { major, minor, patch, text: `v${major}.${minor}.${patch}` };
}

/** The kubeadm config API a Kubernetes version reads; undefined before 1.22. */
export function kubeadmApiVersion(v: Pick<KubernetesVersion, 'major' | 'minor'>): KubeadmApiVersion | undefined {
  if (v.major !== 1 || v.minor < 22) return undefined;
  return v.minor >= 31 ? KUBEADM_V1BETA4 : KUBEADM_V1BETA3;
}

/**
 * The discovery pin of a CA certificate (PEM): what `kubeadm init` prints after
 * `--discovery-token-ca-cert-hash`.
 */
export function caCertHashOf(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** Secrets the caller generates for a cluster; this module only checks their format. */
export interface ClusterSecrets {
  /** `abcdef.0123456789abcdef`: created by `kubeadm init`, used by every join. */
  bootstrapToken: string;
  /** `sha256:<64 hex>`, the cluster CA's pin. Required to join; on control plane 0 it must match `ca` when both are given. */
  caCertHash?: string;
  /** 64 hex digits; required on the control planes of a 3-control-plane cluster. */
  certificateKey?: string;
  /**
   * The cluster CA for control plane 0 (kubeadm uses a CA it finds in /etc/kubernetes/pki).
   * Without it kubeadm makes one, and the joins' `caCertHash` can only be read afterwards.
   */
  ca?: { certPem: string; keyPem: string };
}

export type VmRole = 'control-plane' | 'worker';

export interface KubeadmInput {
  cluster: Pick<Cluster, 'name' | 'controlPlanes' | 'kubernetesVersion' | 'podCidr' | 'serviceCidr'>;
  /** `index`: the VM's 0-based index among the cluster's VMs of its role. `address`: CIDR form (`100.96.0.10/24`). */
  vm: { name: string; index: number; role: VmRole; address: string };
  /** `host:port` every node reaches the API at (`[v6]:port` for IPv6). */
  endpoint: string;
  /** Extra names and addresses for the API server certificate (e.g. the appliance-side endpoint). */
  certSANs?: readonly string[];
  secrets: ClusterSecrets;
}

export type KubeadmAction = 'init' | 'join-control-plane' | 'join';

export interface KubeadmConfig {
  apiVersion: KubeadmApiVersion;
  action: KubeadmAction;
  /** Whether `kubeadm init` must upload the control-plane certificates (`--upload-certs`). */
  uploadCerts: boolean;
  documents: Record<string, unknown>[];
  /** The documents as one multi-document YAML file. */
  yaml: string;
}

/** YAML as cloud-init and kubeadm read it; strings YAML 1.1 would retype (`on`, `0600`) stay quoted. */
export function toYaml(value: unknown): string {
  return dump(value, { lineWidth: -1, noRefs: true });
}

export function multiDocument(docs: readonly unknown[]): string {
  return docs.map((d) => `---\n${toYaml(d)}`).join('');
}

const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** `host:port`: an IPv4 address or DNS name, or a bracketed IPv6 address, and a port. */
export function parseEndpoint(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):([1-9][0-9]{0,4})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined) return parseIp(m[1])?.family === 6 ? { host: m[1], port } : undefined;
  const host = m[2]!;
  if (parseIp(host) || (host.length <= 253 && DNS_NAME.test(host) && !host.startsWith('*'))) return { host, port };
  return undefined;
}

export function renderKubeadm(input: KubeadmInput): KubeadmConfig {
  const { cluster, vm, secrets } = input;
  const fail = (reason: string): never => {
    throw new ClusterRenderError(cluster.name, vm.name, reason);
  };

  const version = parseKubernetesVersion(cluster.kubernetesVersion) ?? fail(`kubernetesVersion "${cluster.kubernetesVersion}" is not a release like 1.31.2 (kubeadm needs the patch release)`);
  const apiVersion = kubeadmApiVersion(version) ?? fail(`Kubernetes ${version.text} is not supported: kubeadm's v1beta3 configuration needs 1.22 or later`);

  const iface = parseInterface(vm.address) ?? fail(`address "${vm.address}" is not an address with a prefix (e.g. 100.96.0.10/24)`);
  const nodeIp = formatIp(iface);
  if (!parseEndpoint(input.endpoint)) fail(`control-plane endpoint "${input.endpoint}" is not host:port`);
  for (const [what, text] of [['podCidr', cluster.podCidr], ['serviceCidr', cluster.serviceCidr]] as const) {
    const c = parseCidr(text);
    if (!c.ok) fail(`${what}: ${c.reason}`);
  }
  const sans = [...new Set(input.certSANs ?? [])];
  for (const s of sans) if (!parseIp(s) && !(s.length <= 253 && DNS_NAME.test(s))) fail(`certificate SAN "${s}" is neither an IP address nor a DNS name`);

  if (!TOKEN.test(secrets.bootstrapToken)) fail('the bootstrap token is not in kubeadm\'s format [a-z0-9]{6}.[a-z0-9]{16}');
  const caHash = secrets.caCertHash?.toLowerCase();
  if (caHash !== undefined && !CA_HASH.test(caHash)) fail('the CA certificate hash is not sha256:<64 hex digits>');
  const certKey = secrets.certificateKey?.toLowerCase();
  if (certKey !== undefined && !CERT_KEY.test(certKey)) fail('the certificate key is not 64 hex digits (a 32-byte AES key)');

  if (!Number.isInteger(vm.index) || vm.index < 0) fail(`VM index ${vm.index} is not a non-negative integer`);
  const ha = cluster.controlPlanes > 1;
  let action: KubeadmAction;
  if (vm.role === 'worker') action = 'join';
  else {
    if (vm.index >= cluster.controlPlanes) fail(`control plane ${vm.index} does not exist: the cluster has ${cluster.controlPlanes}`);
    action = vm.index === 0 ? 'init' : 'join-control-plane';
    if (ha && certKey === undefined) fail(`a ${cluster.controlPlanes}-control-plane cluster needs a certificate key to share the control-plane certificates`);
  }
  if (action !== 'init' && caHash === undefined) fail('joining needs the CA certificate hash (discovery without CA pinning is not allowed)');
  if (action === 'init' && secrets.ca !== undefined && caHash !== undefined) {
    let actual: string;
    try {
      actual = caCertHashOf(secrets.ca.certPem);
    } catch (err) {
      throw new ClusterRenderError(cluster.name, vm.name, 'the CA certificate is not a PEM certificate', { cause: err });
    }
    if (actual !== caHash) fail(`the CA certificate hash does not match the CA certificate (${actual})`);
  }

  const kubeletExtraArgs = (args: Record<string, string>): unknown =>
    apiVersion === KUBEADM_V1BETA4 ? Object.entries(args).map(([name, value]) => ({ name, value })) : { ...args };
  const nodeRegistration = { name: vm.name, kubeletExtraArgs: kubeletExtraArgs({ 'node-ip': nodeIp }) };
  const localAPIEndpoint = { advertiseAddress: nodeIp, bindPort: API_SERVER_PORT };

  let documents: Record<string, unknown>[];
  if (action === 'init') {
    documents = [
      {
        apiVersion,
        kind: 'InitConfiguration',
        bootstrapTokens: [
          {
            token: secrets.bootstrapToken,
            description: `ironbay: joins the nodes of cluster ${cluster.name}`,
            ttl: BOOTSTRAP_TOKEN_TTL,
            usages: ['signing', 'authentication'],
            groups: ['system:bootstrappers:kubeadm:default-node-token'],
          },
        ],
        nodeRegistration,
        localAPIEndpoint,
        ...(ha ? { certificateKey: certKey } : {}),
      },
      {
        apiVersion,
        kind: 'ClusterConfiguration',
        clusterName: cluster.name,
        kubernetesVersion: version.text,
        controlPlaneEndpoint: input.endpoint,
        networking: { podSubnet: cluster.podCidr, serviceSubnet: cluster.serviceCidr },
        ...(sans.length ? { apiServer: { certSANs: sans } } : {}),
      },
    ];
  } else {
    documents = [
      {
        apiVersion,
        kind: 'JoinConfiguration',
        nodeRegistration,
        discovery: { bootstrapToken: { token: secrets.bootstrapToken, apiServerEndpoint: input.endpoint, caCertHashes: [caHash] } },
        ...(action === 'join-control-plane' ? { controlPlane: { localAPIEndpoint, certificateKey: certKey } } : {}),
      },
    ];
  }

  for (const doc of documents) {
    const issues = checker(apiVersion, doc.kind as KubeadmKind)(doc);
    if (issues.length) fail(`the rendered ${String(doc.kind)} (${apiVersion}) fails its schema: ${formatIssues(issues)}`);
  }
  return { apiVersion, action, uploadCerts: action === 'init' && ha, documents, yaml: multiDocument(documents) };
}

export function formatIssues(issues: readonly PathIssue[]): string {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(document)'}: ${i.message}`).join('; ');
}

// ---- Schemas: exactly the fields rendered above, nothing else (additionalProperties: false).

type KubeadmKind = 'InitConfiguration' | 'ClusterConfiguration' | 'JoinConfiguration';

const closed = <T extends Record<string, TSchema>>(props: T) => Type.Object(props, { additionalProperties: false });
const nonEmpty = Type.String({ minLength: 1 });

function schemaFor(apiVersion: KubeadmApiVersion, kind: KubeadmKind): TSchema {
  const argName = Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$' });
  const kubeletExtraArgs =
    apiVersion === KUBEADM_V1BETA4
      ? Type.Array(closed({ name: argName, value: Type.String() }))
      : Type.Record(argName, Type.String(), { additionalProperties: false });
  const nodeRegistration = closed({ name: nonEmpty, kubeletExtraArgs });
  const apiEndpoint = closed({ advertiseAddress: nonEmpty, bindPort: Type.Integer({ minimum: 1, maximum: 65535 }) });
  const token = Type.String({ pattern: TOKEN.source });
  const certificateKey = Type.String({ pattern: CERT_KEY.source });
  const head = { apiVersion: Type.Literal(apiVersion), kind: Type.Literal(kind) };
  switch (kind) {
    case 'InitConfiguration':
      return closed({
        ...head,
        bootstrapTokens: Type.Array(
          closed({
            token,
            description: Type.String(),
            ttl: Type.String({ pattern: '^[0-9]+h[0-9]+m[0-9]+s$' }),
            usages: Type.Array(Type.Enum(['signing', 'authentication']), { minItems: 1 }),
            groups: Type.Array(Type.String({ pattern: '^system:bootstrappers:[a-z0-9:-]+$' }), { minItems: 1 }),
          }),
          { minItems: 1 },
        ),
        nodeRegistration,
        localAPIEndpoint: apiEndpoint,
        certificateKey: Type.Optional(certificateKey),
      });
    case 'ClusterConfiguration':
      return closed({
        ...head,
        clusterName: nonEmpty,
        kubernetesVersion: Type.String({ pattern: '^v1\\.[0-9]+\\.[0-9]+$' }),
        controlPlaneEndpoint: nonEmpty,
        networking: closed({ podSubnet: nonEmpty, serviceSubnet: nonEmpty }),
        apiServer: Type.Optional(closed({ certSANs: Type.Array(nonEmpty, { minItems: 1 }) })),
      });
    case 'JoinConfiguration':
      return closed({
        ...head,
        nodeRegistration,
        // No unsafeSkipCAVerification: a join always pins the CA.
        discovery: closed({
          bootstrapToken: closed({ token, apiServerEndpoint: nonEmpty, caCertHashes: Type.Array(Type.String({ pattern: CA_HASH.source }), { minItems: 1 }) }),
        }),
        controlPlane: Type.Optional(closed({ localAPIEndpoint: apiEndpoint, certificateKey })),
      });
  }
}

// Compiled on first use, never at import (STYLE.md §8); a compiled checker is pure.
const checkers = new Map<string, (value: unknown) => PathIssue[]>();
function checker(apiVersion: KubeadmApiVersion, kind: KubeadmKind): (value: unknown) => PathIssue[] {
  const key = `${apiVersion} ${kind}`;
  let c = checkers.get(key);
  if (!c) checkers.set(key, (c = compileChecker(schemaFor(apiVersion, kind))));
  return c;
}

/** Check a document against its schema; the issues, empty when it conforms. */
export function checkKubeadmDocument(doc: Record<string, unknown>): PathIssue[] {
  const { apiVersion, kind } = doc;
  if ((apiVersion !== KUBEADM_V1BETA3 && apiVersion !== KUBEADM_V1BETA4) || (kind !== 'InitConfiguration' && kind !== 'ClusterConfiguration' && kind !== 'JoinConfiguration'))
    return [{ path: [], message: `not a kubeadm document ironbay renders (${String(apiVersion)} ${String(kind)})` }];
  return checker(apiVersion, kind)(doc);
}
