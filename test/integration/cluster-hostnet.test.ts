// A KVM host's cluster networks with real iproute2 (issue #7): two hosts are network namespaces
// joined by a veth underlay; "VMs" are namespaces on the cluster bridges. The plan is applied,
// re-read and planned again: nothing left to do. Same-cluster VMs reach each other across the
// hosts, a cluster with the same subnet never does; a deleted flood entry is put back; a cluster
// that leaves a host leaves nothing behind.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { applyScript, bridgeName, parseObserved, planHostNet, READ_COMMAND, vxlanName, type HostNetDesired } from '../../kvm/hostnet.ts';
import { Netns } from '../helpers/netns.ts';

const net = new Netns('chn');
let h1 = '';
let h2 = '';
const U1 = '198.18.61.1';
const U2 = '198.18.61.2';
let dev1 = '';
let dev2 = '';
const A = { vni: 5001 };
const B = { vni: 5002 }; // the VMs below share one subnet: isolation is by VNI

async function sh(ns: string, script: string): Promise<string> {
  const r = await net.exec(ns, 'sh', ['-c', script]);
  return r.stdout;
}

async function plan(ns: string, want: HostNetDesired): Promise<string[]> {
  return planHostNet(want, parseObserved(await sh(ns, READ_COMMAND)));
}

async function converge(ns: string, want: HostNetDesired): Promise<string[]> {
  const cmds = await plan(ns, want);
  if (cmds.length) await sh(ns, applyScript(cmds));
  return cmds;
}

const want1 = (clusters = [A, B]): HostNetDesired => ({ underlay: { dev: dev1, address: U1, mtu: 1500 }, clusters: clusters.map((c) => ({ ...c, peers: [U2] })) });
const want2 = (clusters = [A, B]): HostNetDesired => ({ underlay: { dev: dev2, address: U2, mtu: 1500 }, clusters: clusters.map((c) => ({ ...c, peers: [U1] })) });

/** A "VM": a namespace with a veth on the host's bridge for the VNI. */
async function vm(name: string, host: string, vni: number, address: string): Promise<string> {
  const ns = await net.add(name);
  const [, hostEnd] = await net.veth({ ns, suffix: `${name}v`, cidr: address }, { ns: host, suffix: `${name}h` });
  await net.exec(host, 'ip', ['link', 'set', hostEnd, 'master', bridgeName(vni)]);
  await net.exec(ns, 'ip', ['link', 'set', `${net.prefix}${name}v`, 'mtu', '1450']);
  return ns;
}

const ping = async (ns: string, to: string): Promise<boolean> => (await net.try(ns, 'ping', ['-c', '1', '-W', '1', to])).code === 0;

before(async () => {
  h1 = await net.add('h1');
  h2 = await net.add('h2');
  [dev1, dev2] = await net.veth({ ns: h1, suffix: 'u1', cidr: `${U1}/24` }, { ns: h2, suffix: 'u2', cidr: `${U2}/24` });
});

after(async () => {
  await net.dispose();
});

test('applied once, the plan is empty the second time', async () => {
  const first = await converge(h1, want1());
  assert.deepEqual(first.slice(0, 3), [`ip link add ${bridgeName(5001)} type bridge`, `ip link set ${bridgeName(5001)} mtu 1450`, `ip link add ${vxlanName(5001)} type vxlan id 5001 dev ${dev1} local ${U1} dstport 4789 nolearning`]);
  assert.ok(first.includes(`bridge fdb append 00:00:00:00:00:00 dev ${vxlanName(5001)} dst ${U2}`));
  await converge(h2, want2());
  assert.deepEqual(await plan(h1, want1()), []);
  assert.deepEqual(await plan(h2, want2()), []);
  const o = parseObserved(await sh(h1, READ_COMMAND));
  assert.deepEqual(o.links.get(vxlanName(5001))?.vxlan, { id: 5001, dev: dev1, local: U1, port: 4789, learning: false });
  assert.equal(o.links.get(vxlanName(5001))?.mtu, 1450);
  assert.equal(o.links.get(vxlanName(5001))?.master, bridgeName(5001));
});

test('same-cluster VMs on two hosts reach each other; the other cluster, with the same subnet, never', async () => {
  const a1 = await vm('a1', h1, 5001, '198.19.10.11/24');
  const a2 = await vm('a2', h2, 5001, '198.19.10.12/24');
  const b2 = await vm('b2', h2, 5002, '198.19.10.11/24');
  const b1 = await vm('b1', h1, 5002, '198.19.10.12/24');
  assert.ok(await ping(a1, '198.19.10.12'), 'A: h1 → h2 over VNI 5001');
  assert.ok(await ping(b2, '198.19.10.12'), 'B: h2 → h1 over VNI 5002');
  // Each VM's ARP sees only its own cluster: A's .12 answers A only.
  const macA2 = (await net.exec(a2, 'cat', [`/sys/class/net/${net.prefix}a2v/address`])).stdout.trim();
  const neigh = (await net.exec(b2, 'ip', ['neigh', 'show', '198.19.10.12'])).stdout;
  assert.ok(!neigh.includes(macA2), `cluster B resolved A's VM: ${neigh}`);
  // And B's .12 is b1, on the other host: the answer came over VNI 5002.
  const macB1 = (await net.exec(b1, 'cat', [`/sys/class/net/${net.prefix}b1v/address`])).stdout.trim();
  assert.ok(neigh.includes(macB1), `cluster B's .12 is b1 (${macB1}): ${neigh}`);
  // The overlay MTU holds: 1450-byte packets with DF pass, no fragmentation needed.
  assert.equal((await net.try(a1, 'ping', ['-c', '1', '-W', '1', '-M', 'do', '-s', '1422', '198.19.10.12'])).code, 0);
});

test('drift: a deleted flood entry and a downed bridge are found and repaired', async () => {
  await net.exec(h1, 'bridge', ['fdb', 'del', '00:00:00:00:00:00', 'dev', vxlanName(5001), 'dst', U2]);
  await net.exec(h1, 'ip', ['link', 'set', bridgeName(5002), 'down']);
  assert.deepEqual(await plan(h1, want1()), [`bridge fdb append 00:00:00:00:00:00 dev ${vxlanName(5001)} dst ${U2}`, `ip link set ${bridgeName(5002)} up`]);
  await converge(h1, want1());
  assert.deepEqual(await plan(h1, want1()), []);
  assert.ok(await ping(`${net.prefix}-a1`, '198.19.10.12'));
});

test('a cluster that leaves a host leaves no device, address or flood entry behind', async () => {
  const cmds = await converge(h1, want1([A]));
  assert.deepEqual(cmds, [`ip link del ${vxlanName(5002)}`, `ip link del ${bridgeName(5002)}`]);
  const o = parseObserved(await sh(h1, READ_COMMAND));
  assert.ok(![...o.links.keys()].some((n) => n.endsWith('5002')));
  assert.equal(o.flood.get(vxlanName(5002)), undefined);
  assert.deepEqual(await plan(h1, want1([A])), []);
});
