// Calico for a workload cluster (issue #7), installed by the Tigera operator: the operator's
// `Installation` (pod network: one IP pool, BGP on or off, the pod MTU) and `APIServer`, and
// the Calico resources `IPPool` and `BGPConfiguration`.
//
// API group: `projectcalico.org/v3`. With the operator, the Calico API server (started for the
// `APIServer` resource) serves that group to kubectl; `crd.projectcalico.org/v1` is Calico's
// internal storage, which its documentation says never to edit directly
// (docs.tigera.io "Enable kubectl to manage Calico APIs"). The v3 kinds exist only once that
// API server runs, so the seed re-applies the file until every document is accepted.
//
// The IPPool has the name and the settings the operator gives the pool it creates from the
// Installation (`default-ipv4-ippool` / `default-ipv6-ippool`), so applying it changes nothing
// the operator made: the two descriptions of the pool agree by construction.
// Pure: cluster settings in, documents and YAML out; each document is checked against a
// schema of exactly the fields emitted.
import { Type, type TSchema } from 'typebox';
import type { Cluster } from '../inventory/schema.ts';
import { compileChecker, type PathIssue } from '../daemon/lib/schema-check.ts';
import { cidrOverlaps, formatCidr, parseCidr, type Cidr } from '../daemon/lib/net.ts';
import { ClusterRenderError, formatIssues, multiDocument } from './kubeadm.ts';

export type Encapsulation = 'none' | 'ipip' | 'vxlan';

/** Pure BGP between nodes: every VM of a cluster shares one L2 segment (its bridge and VXLAN). */
export const DEFAULT_ENCAPSULATION: Encapsulation = 'none';
/** The first private AS number (RFC 6996 §5), Calico's default. */
export const DEFAULT_AS_NUMBER = 64512;
/** Calico's per-node block sizes: a /26 of IPv4 (64 pods), a /122 of IPv6. */
export const BLOCK_SIZE = { 4: 26, 6: 122 } as const;
/**
 * Bytes an encapsulation adds to each pod packet (Calico's MTU guidance): IPIP an outer IPv4
 * header (20), VXLAN outer IPv4 + UDP + VXLAN headers + inner Ethernet (20 + 8 + 8 + 14 = 50).
 */
export const ENCAPSULATION_OVERHEAD: Record<Encapsulation, number> = { none: 0, ipip: 20, vxlan: 50 };

const INSTALLATION_ENCAPSULATION = { none: 'None', ipip: 'IPIP', vxlan: 'VXLAN' } as const;

export interface CalicoInput {
  cluster: Pick<Cluster, 'name' | 'podCidr' | 'calico'>;
  /** The MTU of the VMs' NIC (the cluster overlay's MTU); the pod MTU is this minus the encapsulation. */
  mtu: number;
  /** Named in error messages when rendering for one VM's seed. */
  vm?: string;
}

export interface CalicoConfig {
  encapsulation: Encapsulation;
  ipPool: string;
  asNumber: number;
  bgp: 'Enabled' | 'Disabled';
  /** Pod MTU, as set in the Installation. */
  mtu: number;
  /** Installation, APIServer, IPPool, BGPConfiguration: the order they can first be applied in. */
  documents: Record<string, unknown>[];
  yaml: string;
}

export function renderCalico(input: CalicoInput): CalicoConfig {
  const { cluster } = input;
  const fail = (reason: string): never => {
    throw new ClusterRenderError(cluster.name, input.vm, reason);
  };
  const settings = cluster.calico ?? {};
  const encapsulation = settings.encapsulation ?? DEFAULT_ENCAPSULATION;
  const asNumber = settings.asNumber ?? DEFAULT_AS_NUMBER;

  const pod = parseCidr(cluster.podCidr);
  if (!pod.ok) return fail(`podCidr: ${pod.reason}`);
  const poolText = settings.ipPool ?? cluster.podCidr;
  const parsed = parseCidr(poolText);
  if (!parsed.ok) return fail(`calico.ipPool: ${parsed.reason}`);
  const pool: Cidr = parsed.cidr;
  // Inside: the same family, at least as long a prefix, and overlapping (so the pod CIDR holds it).
  if (pool.family !== pod.cidr.family || pool.prefix < pod.cidr.prefix || !cidrOverlaps(pool, pod.cidr))
    fail(`calico.ipPool ${formatCidr(pool)} is not inside podCidr ${formatCidr(pod.cidr)}`);
  const blockSize = BLOCK_SIZE[pool.family];
  if (pool.prefix > blockSize) fail(`calico.ipPool ${formatCidr(pool)} is smaller than one /${blockSize} allocation block`);
  if (encapsulation === 'ipip' && pool.family === 6) fail('IPIP encapsulation carries IPv4 only; an IPv6 pool needs vxlan or none');
  if (!Number.isInteger(asNumber) || asNumber < 1 || asNumber > 4294967295) fail(`AS number ${asNumber} is not 1-4294967295`);

  const mtu = input.mtu - ENCAPSULATION_OVERHEAD[encapsulation];
  const minimum = pool.family === 6 ? 1280 : 576;
  if (!Number.isInteger(input.mtu) || mtu < minimum) fail(`the overlay MTU ${input.mtu} leaves ${mtu} for pods after ${encapsulation} encapsulation; IPv${pool.family} needs at least ${minimum}`);

  // VXLAN carries pod routes itself; BGP would only add sessions nobody needs.
  const bgp = encapsulation === 'vxlan' ? 'Disabled' : 'Enabled';
  const cidr = formatCidr(pool);
  const documents: Record<string, unknown>[] = [
    {
      apiVersion: 'operator.tigera.io/v1',
      kind: 'Installation',
      metadata: { name: 'default' },
      spec: {
        calicoNetwork: {
          bgp,
          ipPools: [{ cidr, encapsulation: INSTALLATION_ENCAPSULATION[encapsulation], natOutgoing: 'Enabled', blockSize, nodeSelector: 'all()' }],
          mtu,
        },
      },
    },
    { apiVersion: 'operator.tigera.io/v1', kind: 'APIServer', metadata: { name: 'default' }, spec: {} },
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: `default-ipv${pool.family}-ippool` },
      spec: {
        cidr,
        blockSize,
        ipipMode: encapsulation === 'ipip' ? 'Always' : 'Never',
        vxlanMode: encapsulation === 'vxlan' ? 'Always' : 'Never',
        natOutgoing: true,
        nodeSelector: 'all()',
      },
    },
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'BGPConfiguration',
      metadata: { name: 'default' },
      spec: { asNumber, nodeToNodeMeshEnabled: true },
    },
  ];
  for (const doc of documents) {
    const issues = checkCalicoDocument(doc);
    if (issues.length) fail(`the rendered ${String(doc.kind)} fails its schema: ${formatIssues(issues)}`);
  }
  return { encapsulation, ipPool: cidr, asNumber, bgp, mtu, documents, yaml: multiDocument(documents) };
}

// ---- Schemas: exactly the fields rendered above (additionalProperties: false).

type CalicoKind = 'Installation' | 'APIServer' | 'IPPool' | 'BGPConfiguration';
const API_VERSION: Record<CalicoKind, string> = {
  Installation: 'operator.tigera.io/v1',
  APIServer: 'operator.tigera.io/v1',
  IPPool: 'projectcalico.org/v3',
  BGPConfiguration: 'projectcalico.org/v3',
};

const closed = <T extends Record<string, TSchema>>(props: T) => Type.Object(props, { additionalProperties: false });

function schemaFor(kind: CalicoKind): TSchema {
  const head = { apiVersion: Type.Literal(API_VERSION[kind]), kind: Type.Literal(kind), metadata: closed({ name: Type.String({ pattern: '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$' }) }) };
  const cidr = Type.String({ minLength: 1 });
  const blockSize = Type.Integer({ minimum: 20, maximum: 128 });
  switch (kind) {
    case 'Installation':
      return closed({
        ...head,
        spec: closed({
          calicoNetwork: closed({
            bgp: Type.Enum(['Enabled', 'Disabled']),
            ipPools: Type.Array(
              closed({
                cidr,
                encapsulation: Type.Enum(['None', 'IPIP', 'VXLAN', 'IPIPCrossSubnet', 'VXLANCrossSubnet']),
                natOutgoing: Type.Enum(['Enabled', 'Disabled']),
                blockSize,
                nodeSelector: Type.String(),
              }),
              { minItems: 1, maxItems: 1 },
            ),
            mtu: Type.Integer({ minimum: 576, maximum: 9000 }),
          }),
        }),
      });
    case 'APIServer':
      return closed({ ...head, spec: closed({}) });
    case 'IPPool':
      return closed({
        ...head,
        spec: closed({
          cidr,
          blockSize,
          ipipMode: Type.Enum(['Always', 'CrossSubnet', 'Never']),
          vxlanMode: Type.Enum(['Always', 'CrossSubnet', 'Never']),
          natOutgoing: Type.Boolean(),
          nodeSelector: Type.String(),
        }),
      });
    case 'BGPConfiguration':
      return closed({ ...head, spec: closed({ asNumber: Type.Integer({ minimum: 1, maximum: 4294967295 }), nodeToNodeMeshEnabled: Type.Boolean() }) });
  }
}

// Compiled on first use, never at import (STYLE.md §8).
const checkers = new Map<CalicoKind, (value: unknown) => PathIssue[]>();

/** Check a document against the schema of its kind; the issues, empty when it conforms. */
export function checkCalicoDocument(doc: Record<string, unknown>): PathIssue[] {
  const kind = doc.kind as CalicoKind;
  if (!Object.hasOwn(API_VERSION, kind)) return [{ path: ['kind'], message: `not a Calico document ironbay renders (${String(doc.kind)})` }];
  let c = checkers.get(kind);
  if (!c) checkers.set(kind, (c = compileChecker(schemaFor(kind))));
  return c(doc);
}
