// A cluster's network identity (issue #7): its VXLAN VNI from the configured range, its node
// subnet from the overlay pool, and per VM an address and a MAC that are derived — the same on
// every boot and after every restart — never random. Pure; the store makes the choices unique
// (a VNI or subnet is taken in the same transaction that records it).
import { createHash } from 'node:crypto';
import { cidrOverlaps, formatCidr, formatIp, type Cidr } from '../daemon/lib/net.ts';

/** The lowest VNI of [min, max] not in use; undefined when the range is exhausted. */
export function allocateVni(min: number, max: number, used: ReadonlySet<number>): number | undefined {
  for (let v = min; v <= max; v++) if (!used.has(v)) return v;
  return undefined;
}

/** The first /prefix block of the IPv4 pool that overlaps no used subnet. */
export function allocateSubnet(pool: Cidr, prefix: number, used: readonly Cidr[]): Cidr | undefined {
  if (pool.family !== 4) throw new RangeError('the overlay pool is IPv4');
  if (prefix < pool.prefix || prefix > 30) throw new RangeError(`a /${prefix} node subnet does not fit the /${pool.prefix} pool`);
  const step = 1n << BigInt(32 - prefix);
  const end = pool.network + (1n << BigInt(32 - pool.prefix));
  for (let n = pool.network; n < end; n += step) {
    const c: Cidr = { family: 4, network: n, prefix };
    if (!used.some((u) => cidrOverlaps(u, c))) return c;
  }
  return undefined;
}

/** Host 1 of a node subnet is the cluster bridge's gateway; VMs take hosts from FIRST_VM on. */
export const GATEWAY_HOST = 1n;
export const FIRST_VM_HOST = 10n;

export function gatewayOf(subnet: Cidr): string {
  return formatIp({ family: 4, value: subnet.network + GATEWAY_HOST });
}

/** The VM's address (`198.18.200.10/24`) for its index in the cluster (0-based, stable). */
export function vmAddress(subnet: Cidr, index: number): string {
  const size = 1n << BigInt(32 - subnet.prefix);
  const host = FIRST_VM_HOST + BigInt(index);
  if (index < 0 || host >= size - 1n) throw new RangeError(`VM index ${index} does not fit ${formatCidr(subnet)} (room for ${size - 1n - FIRST_VM_HOST} VMs)`);
  return `${formatIp({ family: 4, value: subnet.network + host })}/${subnet.prefix}`;
}

/**
 * A locally administered unicast MAC (02:…) derived from the cluster and VM names: stable
 * across reboots, re-creation and appliance restarts. `salt` > 0 picks another one when the
 * store finds the first taken (a 40-bit hash makes that rare, not impossible).
 */
export function vmMac(cluster: string, vm: string, salt = 0): string {
  const h = createHash('sha256').update(`ironbay-vm-mac\0${cluster}\0${vm}\0${salt}`).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** The transit /30 of the cluster with this VNI (the same on every host): the host's end, the router's. */
export function transitOf(pool: Cidr, index: number): { host: string; router: string } {
  if (pool.family !== 4) throw new RangeError('the transit pool is IPv4');
  const base = pool.network + BigInt(index) * 4n;
  if (index < 0 || base + 4n > pool.network + (1n << BigInt(32 - pool.prefix))) throw new RangeError(`cluster ${index} has no /30 left in the /${pool.prefix} transit pool`);
  return { host: `${formatIp({ family: 4, value: base + 1n })}/30`, router: `${formatIp({ family: 4, value: base + 2n })}/30` };
}
