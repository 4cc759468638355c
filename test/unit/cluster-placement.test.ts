// Placing a cluster's VMs on kvm-host machines: control planes across zones, workers by free
// memory, capacity with overcommit, VMs that exist staying put, and a shortfall that says what
// is missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { place, type HostCapacity, type Overcommit, type VmDemand } from '../../kvm/placement.ts';

const O: Overcommit = { vcpu: 4, memory: 1, disk: 1 };
const size = { vcpu: 2, memoryMiB: 4096, diskGiB: 20 };
const host = (name: string, zone: string | null, memoryMiB = 16384, used = 0): HostCapacity => ({
  name,
  zone,
  capacity: { vcpu: 8, memoryMiB, diskGiB: 500 },
  used: { vcpu: 0, memoryMiB: used, diskGiB: 0 },
});
const vms = (cps: number, workers: number): VmDemand[] => [
  ...Array.from({ length: cps }, (_, i) => ({ name: `c1-cp-${i}`, role: 'control-plane' as const, size })),
  ...Array.from({ length: workers }, (_, i) => ({ name: `c1-w-${i}`, role: 'worker' as const, size })),
];

test('three control planes go to three zones; workers to the hosts with the most free memory', () => {
  const hosts = [host('h1', 'a'), host('h2', 'a'), host('h3', 'b'), host('h4', 'c', 32768)];
  const r = place('c1', hosts, vms(3, 3), O);
  assert.ok(r.ok, r.ok ? '' : r.error);
  const zoneOf = (vm: string): string => hosts.find((h) => h.name === r.placement.get(vm))!.zone!;
  assert.deepEqual(new Set(['c1-cp-0', 'c1-cp-1', 'c1-cp-2'].map(zoneOf)), new Set(['a', 'b', 'c']));
  assert.deepEqual(r.warnings, []);
  // h4 has twice the memory: it takes workers until it is no longer the freest.
  assert.equal(r.placement.get('c1-w-0'), 'h4');
  assert.equal(place('c1', hosts, vms(3, 3), O).ok && JSON.stringify([...r.placement]), JSON.stringify([...(place('c1', hosts, vms(3, 3), O) as { placement: Map<string, string> }).placement]), 'deterministic');
});

test('fewer zones than control planes: they share, on different hosts, with a warning', () => {
  const r = place('c1', [host('h1', 'a'), host('h2', 'a'), host('h3', 'b')], vms(3, 0), O);
  assert.ok(r.ok);
  assert.equal(new Set(r.placement.values()).size, 3, 'three hosts');
  assert.deepEqual(r.warnings, ['c1: 3 control planes share 2 failure domains (only 2 among the ready kvm-host machines)']);
});

test('capacity with overcommit: vCPUs ×4 fit where memory ×1 does not', () => {
  const small = [{ ...host('h1', null, 8192), capacity: { vcpu: 1, memoryMiB: 8192, diskGiB: 100 } }];
  const r = place('c1', small, vms(1, 1), O);
  assert.ok(r.ok, r.ok ? '' : r.error);
  const r2 = place('c1', small, vms(1, 2), O);
  assert.ok(!r2.ok);
  assert.equal(
    r2.error,
    'c1 does not fit: worker VM c1-w-1 (2 vCPUs, 4096 MiB, 20 GiB) fits on none of 1 ready kvm-host machine after 2 of 3 VMs were placed — ' +
      'vCPUs: at most 0 free on one host, 2 needed; MiB of memory: at most 0 free on one host, 4096 needed (overcommit vCPU ×4, memory ×1, disk ×1)',
  );
  assert.equal(r2.placed.size, 2);
});

test('VMs that exist stay on their hosts and count there; a scale-up places only the new ones', () => {
  const hosts = [host('h1', 'a', 16384, 8192), host('h2', 'b')];
  const existing = vms(1, 1).map((v) => ({ ...v, host: 'h1' }));
  const r = place('c1', hosts, [...existing, { name: 'c1-w-1', role: 'worker', size }], O);
  assert.ok(r.ok);
  assert.equal(r.placement.get('c1-cp-0'), 'h1');
  assert.equal(r.placement.get('c1-w-0'), 'h1');
  assert.equal(r.placement.get('c1-w-1'), 'h2', 'h2 has more free memory than h1 with its two VMs');
  const gone = place('c1', [host('h2', 'b')], existing, O);
  assert.ok(!gone.ok);
  assert.match(gone.error, /VM c1-cp-0 runs on h1, which is no ready kvm-host machine/);
});

test('no kvm-host machine at all', () => {
  const r = place('c1', [], vms(1, 0), O);
  assert.ok(!r.ok);
  assert.equal(r.error, 'c1 does not fit: no kvm-host machine is ready');
});
