// A cluster's VNI, node subnet, and its VMs' addresses and MACs: the lowest free choice,
// never overlapping, derived and stable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocateSubnet, allocateVni, gatewayOf, vmAddress, vmMac } from '../../kvm/allocate.ts';
import { formatCidr, parseCidr, type Cidr } from '../../daemon/lib/net.ts';

const cidr = (t: string): Cidr => {
  const r = parseCidr(t);
  if (!r.ok) throw new Error(r.reason);
  return r.cidr;
};

test('VNIs: the lowest free one in the range, none when it is used up', () => {
  assert.equal(allocateVni(5000, 5002, new Set()), 5000);
  assert.equal(allocateVni(5000, 5002, new Set([5000, 5002])), 5001);
  assert.equal(allocateVni(5000, 5002, new Set([5000, 5001, 5002])), undefined);
});

test('node subnets: the first block of the pool that overlaps nothing in use', () => {
  const pool = cidr('198.18.0.0/22');
  assert.equal(formatCidr(allocateSubnet(pool, 24, [])!), '198.18.0.0/24');
  assert.equal(formatCidr(allocateSubnet(pool, 24, [cidr('198.18.0.0/24'), cidr('198.18.1.128/25')])!), '198.18.2.0/24');
  assert.equal(allocateSubnet(pool, 23, [cidr('198.18.1.0/24'), cidr('198.18.2.0/24')]), undefined, 'both /23 blocks are touched');
  assert.throws(() => allocateSubnet(pool, 20, []), /does not fit the \/22 pool/);
});

test('VM addresses and the gateway are fixed offsets in the subnet', () => {
  const s = cidr('198.18.5.0/24');
  assert.equal(gatewayOf(s), '198.18.5.1');
  assert.equal(vmAddress(s, 0), '198.18.5.10/24');
  assert.equal(vmAddress(s, 244), '198.18.5.254/24');
  assert.throws(() => vmAddress(s, 245), /does not fit 198\.18\.5\.0\/24 \(room for 245 VMs\)/);
});

test('VM MACs: locally administered unicast, the same for the same names, different otherwise', () => {
  const m = vmMac('c1', 'c1-w-0');
  assert.match(m, /^02(:[0-9a-f]{2}){5}$/);
  assert.equal(vmMac('c1', 'c1-w-0'), m);
  assert.notEqual(vmMac('c2', 'c1-w-0'), m);
  assert.notEqual(vmMac('c1', 'c1-w-1'), m);
  assert.notEqual(vmMac('c1', 'c1-w-0', 1), m);
});
