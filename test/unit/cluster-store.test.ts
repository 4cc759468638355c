// Clusters in the store and through the API, without hosts (issue #7): allocation (VNI,
// subnet, endpoint ports, MACs, forward ports) in one transaction, placement over ready
// kvm-hosts with their inventory capacity, dry runs that change nothing, scale up and down,
// the shortfall error, inventory-owned clusters refused through the API, and deletion
// releasing everything once the reconciler has removed the VMs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { applyCluster, type ClusterPlan, listClusters, listVms, markClusterDeleting, releaseCluster, releaseVm } from '../../daemon/clusters/store.ts';
import { testApp, type TestApp } from '../helpers/app.ts';

const host = (n: number, zone: string, cap = '{ vcpu: 8, memoryMiB: 8192, diskGiB: 200 }'): string =>
  `  - name: kvm-${n}\n    macs: ["52:54:00:00:31:0${n}"]\n    role: kvm-host\n    zone: ${zone}\n    production: { address: 198.18.64.${10 + n}/24 }\n    capacity: ${cap}\n`;

const INVENTORY = `machines:\n${host(1, 'a')}${host(2, 'b')}${host(3, 'c')}
clusters:
  - name: inv
    controlPlanes: 1
    workers: 1
    node: { vcpu: 1, memoryMiB: 1024, diskGiB: 10 }
    image: base.raw
    kubernetesVersion: 1.31.2
    podCidr: 100.64.0.0/16
    serviceCidr: 100.65.0.0/16
`;

const spec = (name: string, workers: number, extra: Record<string, unknown> = {}) => ({
  name,
  controlPlanes: 3 as const,
  workers,
  node: { vcpu: 2, memoryMiB: 2048, diskGiB: 20 },
  image: 'base.raw',
  kubernetesVersion: '1.31.2',
  podCidr: '100.64.0.0/16',
  serviceCidr: '100.65.0.0/16',
  ...extra,
});

type PlanBody = { plan: ClusterPlan };
type ErrBody = { code: string; message: string };

const fakeSecrets = () => ({ token: 'abcdef.0123456789abcdef', certificateKey: 'a'.repeat(64), ca: { certPem: '', keyPem: '', certHash: '' } });

describe('clusters in the store', () => {
  let t: TestApp;
  const auth = (role: 'viewer' | 'operator' | 'admin' = 'operator') => ({ authorization: `Bearer ${t.tokens[role]}` });

  before(async () => {
    t = await testApp(INVENTORY, 'clusters: { vniRange: { min: 100, max: 102 }, overlayPool: 198.19.0.0/22, subnetPrefix: 24, endpoints: { ports: { min: 20000, max: 20008 } } }\n');
    t.store.db.prepare("UPDATE machines SET state = 'ready'").run();
  });
  after(async () => {
    await t.close();
  });

  test('a dry run answers with the placement: control planes on three zones, nothing stored', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/clusters?dryRun=true', headers: auth(), payload: spec('alpha', 2) });
    assert.equal(r.statusCode, 200, r.body);
    const plan = r.json<PlanBody>().plan;
    assert.equal(plan.vni, 100);
    assert.equal(plan.subnet, '198.19.0.0/24');
    assert.equal(plan.gateway, '198.19.0.1');
    const cps = plan.vms.filter((v) => v.role === 'control-plane');
    assert.deepEqual(new Set(cps.map((v) => v.host)), new Set(['kvm-1', 'kvm-2', 'kvm-3']));
    assert.deepEqual(
      plan.vms.map((v) => [v.name, v.address]),
      [
        ['alpha-cp0', '198.19.0.10/24'],
        ['alpha-cp1', '198.19.0.11/24'],
        ['alpha-cp2', '198.19.0.12/24'],
        ['alpha-w0', '198.19.0.13/24'],
        ['alpha-w1', '198.19.0.14/24'],
      ],
    );
    assert.equal(listClusters(t.store).filter((c) => c.name === 'alpha').length, 0);
  });

  test('create: the allocation is stored whole with an event; a second cluster gets the next VNI, subnet and ports', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/clusters', headers: auth(), payload: spec('alpha', 2) });
    assert.equal(r.statusCode, 201, r.body);
    const r2 = await t.app.inject({ method: 'POST', url: '/api/v1/clusters', headers: auth(), payload: spec('beta', 0, { subnet: '198.19.0.0/24' }) });
    assert.equal(r2.statusCode, 201, r2.body);
    const [a, b] = ['alpha', 'beta'].map((n) => listClusters(t.store).find((c) => c.name === n)!);
    assert.equal(a!.vni, 100);
    assert.equal(b!.vni, 101);
    assert.equal(b!.subnet, '198.19.0.0/24', 'a subnet given is kept, even one another cluster has: the overlays never meet');
    assert.equal(a!.endpointPort, 20000);
    assert.equal(b!.endpointPort, 20003);
    const vms = listVms(t.store);
    assert.equal(new Set(vms.map((v) => v.mac)).size, vms.length);
    assert.equal(new Set(vms.map((v) => v.forwardPort)).size, vms.length);
    assert.ok(vms.every((v) => /^02:/.test(v.mac)));
    const ev = t.store.db.prepare("SELECT details FROM events WHERE kind = 'cluster.created'").all() as { details: string }[];
    assert.ok(ev.some((e) => (JSON.parse(e.details) as { cluster: string }).cluster === 'alpha'));
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/clusters', headers: auth('viewer') });
    assert.deepEqual(
      list.json<{ clusters: { name: string; vms: { total: number } }[] }>().clusters.map((c) => [c.name, c.vms.total]),
      [
        ['alpha', 5],
        ['beta', 3],
      ],
    );
  });

  test('a cluster that does not fit is refused naming the shortfall, and nothing is taken', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/clusters', headers: auth(), payload: spec('huge', 1, { node: { vcpu: 2, memoryMiB: 9000, diskGiB: 20 } }) });
    assert.equal(r.statusCode, 409);
    assert.equal(r.json<ErrBody>().code, 'IB_ERR_CLUSTER_NO_FIT');
    assert.match(r.json<ErrBody>().message, /huge does not fit: control-plane VM huge-cp0 \(2 vCPUs, 9000 MiB, 20 GiB\).*MiB of memory: at most \d+ free on one host, 9000 needed/);
    assert.equal(
      listClusters(t.store).find((c) => c.name === 'huge'),
      undefined,
    );
  });

  test('inventory clusters cannot be changed through the API', async () => {
    applyCluster(t.store, t.config, { ...spec('inv', 1), controlPlanes: 1 }, { source: 'inventory', actor: 'inventory', secrets: fakeSecrets });
    const r = await t.app.inject({ method: 'DELETE', url: '/api/v1/clusters/inv', headers: auth() });
    assert.equal(r.statusCode, 409);
    assert.match(r.json<ErrBody>().message, /declared in the inventory file/);
  });

  test('the VNI range used up: a clear error, nothing taken', () => {
    // 100-102 are taken by alpha, beta and inv.
    assert.throws(
      () => applyCluster(t.store, t.config, spec('gamma', 0), { source: 'api', actor: 'test', secrets: fakeSecrets }),
      (e: Error & { code?: string }) => e.code === 'IB_ERR_CLUSTER_EXHAUSTED' && /gamma: every VNI of clusters.vniRange 100-102 is taken/.test(e.message),
    );
    assert.equal(listClusters(t.store).length, 3);
  });

  test('scale down marks the highest workers for removal; scale up reuses freed indexes only after release', async () => {
    const dry = await t.app.inject({ method: 'POST', url: '/api/v1/clusters/alpha/scale?dryRun=true', headers: auth(), payload: { workers: 1 } });
    assert.equal(dry.statusCode, 200, dry.body);
    assert.deepEqual(
      dry.json<PlanBody>().plan.vms.filter((v) => v.change === 'remove').map((v) => v.name),
      ['alpha-w1'],
    );
    assert.equal(listVms(t.store, 'alpha').filter((v) => v.desired === 'removed').length, 0, 'the dry run changed nothing');
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/clusters/alpha/scale', headers: auth(), payload: { workers: 1 } });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(
      listVms(t.store, 'alpha')
        .filter((v) => v.desired === 'removed')
        .map((v) => v.name),
      ['alpha-w1'],
    );
    const up = await t.app.inject({ method: 'POST', url: '/api/v1/clusters/alpha/scale', headers: auth(), payload: { workers: 2 } });
    assert.equal(up.statusCode, 200, up.body);
    const added = up.json<PlanBody>().plan.vms.filter((v) => v.change === 'add');
    assert.equal(added.length, 1);
    assert.equal(added[0]!.name, 'alpha-w2', 'a name still held by a VM being removed is not reused');
    assert.equal(added[0]!.address, '198.19.0.15/24');
  });

  test('delete: VMs marked, the cluster released only when the last VM is gone, its VNI free again', async () => {
    const r = await t.app.inject({ method: 'DELETE', url: '/api/v1/clusters/beta', headers: auth() });
    assert.equal(r.statusCode, 202);
    assert.equal(releaseCluster(t.store, 'beta', 'test'), false, 'VMs are still there');
    for (const v of listVms(t.store, 'beta')) {
      assert.equal(v.desired, 'removed');
      releaseVm(t.store, v, 'test');
    }
    assert.equal(releaseCluster(t.store, 'beta', 'test'), true);
    assert.equal(markClusterDeleting(t.store, 'beta', 'test'), false);
    const again = applyCluster(t.store, t.config, spec('epsilon', 0), { source: 'api', actor: 'test', secrets: fakeSecrets });
    assert.equal(again.vni, 101, "beta's VNI is free again");
  });

  test('viewers cannot create; kubeconfig is for admins', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/clusters', headers: auth('viewer'), payload: spec('zeta', 0) });
    assert.equal(r.statusCode, 403);
    const k = await t.app.inject({ method: 'GET', url: '/api/v1/clusters/alpha/kubeconfig', headers: auth('operator') });
    assert.equal(k.statusCode, 403);
  });
});
