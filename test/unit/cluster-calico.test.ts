// Calico for a cluster: the operator's Installation and APIServer, IPPool and BGPConfiguration
// (projectcalico.org/v3) from the cluster's calico settings — encapsulation none/ipip/vxlan
// mapped to the pool modes, the Installation's encapsulation, BGP on or off and the pod MTU;
// the pool inside the pod CIDR; each document schema-checked; YAML that loads back unchanged.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadAll } from 'js-yaml';
import type { Cluster } from '../../inventory/schema.ts';
import { checkCalicoDocument, renderCalico, type CalicoConfig } from '../../kvm/calico.ts';
import { ClusterRenderError } from '../../kvm/kubeadm.ts';

type ClusterBits = Pick<Cluster, 'name' | 'podCidr' | 'calico'>;
const base: ClusterBits = { name: 'c1', podCidr: '100.72.0.0/16' };

type Doc = Record<string, unknown> & { spec: Record<string, unknown> };
const doc = (c: CalicoConfig, kind: string): Doc => {
  const d = c.documents.find((x) => x.kind === kind);
  assert.ok(d, `no ${kind}`);
  return d as Doc;
};
const installationPool = (c: CalicoConfig) => (doc(c, 'Installation').spec.calicoNetwork as { ipPools: Record<string, unknown>[] }).ipPools[0]!;

function refuses(fn: () => unknown, reason: RegExp, vm?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClusterRenderError, String(err));
    assert.equal(err.code, 'IB_ERR_CLUSTER_RENDER');
    assert.equal(err.cluster, 'c1');
    assert.equal(err.vm, vm);
    assert.ok(err.message.startsWith(vm ? `cluster "c1" VM "${vm}": ` : 'cluster "c1": '), err.message);
    assert.match(err.message, reason);
    return true;
  });
}

describe('Calico documents', () => {
  test('defaults: the pod CIDR as the pool, no encapsulation, BGP with AS 64512, the full overlay MTU for pods', () => {
    const c = renderCalico({ cluster: base, mtu: 1450 });
    assert.deepEqual(
      { encapsulation: c.encapsulation, ipPool: c.ipPool, asNumber: c.asNumber, bgp: c.bgp, mtu: c.mtu },
      { encapsulation: 'none', ipPool: '100.72.0.0/16', asNumber: 64512, bgp: 'Enabled', mtu: 1450 },
    );
    assert.deepEqual(c.documents.map((d) => `${String(d.apiVersion)} ${String(d.kind)}`), [
      'operator.tigera.io/v1 Installation',
      'operator.tigera.io/v1 APIServer',
      'projectcalico.org/v3 IPPool',
      'projectcalico.org/v3 BGPConfiguration',
    ]);
    assert.deepEqual(doc(c, 'Installation'), {
      apiVersion: 'operator.tigera.io/v1',
      kind: 'Installation',
      metadata: { name: 'default' },
      spec: { calicoNetwork: { bgp: 'Enabled', ipPools: [{ cidr: '100.72.0.0/16', encapsulation: 'None', natOutgoing: 'Enabled', blockSize: 26, nodeSelector: 'all()' }], mtu: 1450 } },
    });
    assert.deepEqual(doc(c, 'IPPool'), {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'default-ipv4-ippool' },
      spec: { cidr: '100.72.0.0/16', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: true, nodeSelector: 'all()' },
    });
    assert.deepEqual(doc(c, 'BGPConfiguration'), {
      apiVersion: 'projectcalico.org/v3',
      kind: 'BGPConfiguration',
      metadata: { name: 'default' },
      spec: { asNumber: 64512, nodeToNodeMeshEnabled: true },
    });
  });

  test('ipip: IPIP always, BGP on, 20 bytes off the MTU', () => {
    const c = renderCalico({ cluster: { ...base, calico: { encapsulation: 'ipip' } }, mtu: 1450 });
    assert.equal(installationPool(c).encapsulation, 'IPIP');
    assert.deepEqual([doc(c, 'IPPool').spec.ipipMode, doc(c, 'IPPool').spec.vxlanMode], ['Always', 'Never']);
    assert.equal(c.bgp, 'Enabled');
    assert.equal((doc(c, 'Installation').spec.calicoNetwork as { mtu: number }).mtu, 1430);
  });

  test('vxlan: VXLAN always, BGP off, 50 bytes off the MTU', () => {
    const c = renderCalico({ cluster: { ...base, calico: { encapsulation: 'vxlan' } }, mtu: 1450 });
    assert.equal(installationPool(c).encapsulation, 'VXLAN');
    assert.deepEqual([doc(c, 'IPPool').spec.ipipMode, doc(c, 'IPPool').spec.vxlanMode], ['Never', 'Always']);
    assert.equal((doc(c, 'Installation').spec.calicoNetwork as { bgp: string }).bgp, 'Disabled');
    assert.equal(c.mtu, 1400);
  });

  test('a given pool inside the pod CIDR and AS number are used; IPv6 pools get /122 blocks', () => {
    const c = renderCalico({ cluster: { ...base, calico: { ipPool: '100.72.128.0/17', asNumber: 4200000001 } }, mtu: 1500 });
    assert.equal(installationPool(c).cidr, '100.72.128.0/17');
    assert.equal(doc(c, 'IPPool').spec.cidr, '100.72.128.0/17');
    assert.equal(doc(c, 'BGPConfiguration').spec.asNumber, 4200000001);
    const v6 = renderCalico({ cluster: { name: 'c1', podCidr: 'fd00:10::/56', calico: { encapsulation: 'vxlan' } }, mtu: 1450 });
    assert.equal(doc(v6, 'IPPool').spec.blockSize, 122);
    assert.deepEqual(doc(v6, 'IPPool').metadata, { name: 'default-ipv6-ippool' });
  });
});

describe('refused settings name the cluster (and the VM when given)', () => {
  test('a pool outside the pod CIDR, wider than it, of the other family, or with host bits', () => {
    refuses(() => renderCalico({ cluster: { ...base, calico: { ipPool: '100.73.0.0/16' } }, mtu: 1450 }), /calico\.ipPool 100\.73\.0\.0\/16 is not inside podCidr 100\.72\.0\.0\/16/);
    refuses(() => renderCalico({ cluster: { ...base, calico: { ipPool: '100.0.0.0/8' } }, mtu: 1450 }), /is not inside podCidr/);
    refuses(() => renderCalico({ cluster: { ...base, calico: { ipPool: 'fd00::/64' } }, mtu: 1450 }), /is not inside podCidr/);
    refuses(() => renderCalico({ cluster: { ...base, calico: { ipPool: '100.72.0.1/24' } }, mtu: 1450 }), /calico\.ipPool: .*host bits set/);
    refuses(() => renderCalico({ cluster: { ...base, podCidr: 'nonsense' }, mtu: 1450 }), /podCidr: "nonsense" is not a subnet/);
  });

  test('a pool smaller than one block, IPIP on IPv6, an MTU that leaves too little', () => {
    refuses(() => renderCalico({ cluster: { ...base, calico: { ipPool: '100.72.0.0/27' } }, mtu: 1450 }), /smaller than one \/26 allocation block/);
    refuses(() => renderCalico({ cluster: { name: 'c1', podCidr: 'fd00:10::/56', calico: { encapsulation: 'ipip' } }, mtu: 1450 }), /IPIP encapsulation carries IPv4 only/);
    refuses(() => renderCalico({ cluster: { ...base, calico: { encapsulation: 'vxlan' } }, mtu: 600, vm: 'c1-cp-0' }), /MTU 600 leaves 550 for pods after vxlan/, 'c1-cp-0');
  });
});

describe('schemas and YAML', () => {
  const all = (['none', 'ipip', 'vxlan'] as const).map((encapsulation) => renderCalico({ cluster: { ...base, calico: { encapsulation } }, mtu: 1450 }));

  test('every document conforms to its schema and the YAML loads back to the same documents', () => {
    for (const c of all) {
      for (const d of c.documents) assert.deepEqual(checkCalicoDocument(d), [], String(d.kind));
      assert.deepEqual(loadAll(c.yaml), c.documents);
    }
  });

  test('the schemas refuse fields not emitted, wrong enums and unknown kinds', () => {
    const c = all[0]!;
    const extra = structuredClone(doc(c, 'IPPool'));
    extra.spec.disabled = false;
    assert.deepEqual(checkCalicoDocument(extra).map((i) => i.path.join('.')), ['spec.disabled']);
    const install = structuredClone(doc(c, 'Installation'));
    (install.spec.calicoNetwork as { ipPools: Record<string, unknown>[] }).ipPools[0]!.encapsulation = 'GRE';
    assert.deepEqual(checkCalicoDocument(install).map((i) => i.path.join('.')), ['spec.calicoNetwork.ipPools.0.encapsulation']);
    assert.ok(checkCalicoDocument({ ...doc(c, 'IPPool'), apiVersion: 'crd.projectcalico.org/v1' }).length > 0);
    assert.ok(checkCalicoDocument({ kind: 'FelixConfiguration' }).length > 0);
  });
});
