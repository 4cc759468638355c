// Where a cluster's VMs run (issue #7): spread over the kvm-host machines that are ready,
// control planes on different zones (failure domains) while there are enough, every host's
// capacity respected with the configured overcommit. Pure: hosts and demands in, a placement or
// the shortfall out — `ironbay cluster create --dry-run` prints exactly this.

export interface Resources {
  vcpu: number;
  memoryMiB: number;
  diskGiB: number;
}

export interface HostCapacity {
  name: string;
  zone: string | null;
  /** What the host has. */
  capacity: Resources;
  /** What VMs already placed on it take (other clusters, or this one's VMs that stay). */
  used: Resources;
}

/** Multipliers on capacity: vCPUs are commonly overcommitted, memory and disk rarely. */
export interface Overcommit {
  vcpu: number;
  memory: number;
  disk: number;
}

export interface VmDemand {
  name: string;
  role: 'control-plane' | 'worker';
  size: Resources;
  /** Where it runs now, when it already exists: it stays there. */
  host?: string;
}

export type PlacementResult =
  | { ok: true; placement: Map<string, string>; warnings: string[] }
  | { ok: false; error: string; placed: Map<string, string> };

const KINDS = [
  ['vcpu', 'vCPUs'],
  ['memoryMiB', 'MiB of memory'],
  ['diskGiB', 'GiB of disk'],
] as const;

function free(h: HostCapacity, o: Overcommit, extra: Resources): Resources {
  return {
    vcpu: Math.floor(h.capacity.vcpu * o.vcpu) - h.used.vcpu - extra.vcpu,
    memoryMiB: Math.floor(h.capacity.memoryMiB * o.memory) - h.used.memoryMiB - extra.memoryMiB,
    diskGiB: Math.floor(h.capacity.diskGiB * o.disk) - h.used.diskGiB - extra.diskGiB,
  };
}

const fits = (f: Resources, s: Resources): boolean => f.vcpu >= s.vcpu && f.memoryMiB >= s.memoryMiB && f.diskGiB >= s.diskGiB;
const add = (a: Resources, b: Resources): Resources => ({ vcpu: a.vcpu + b.vcpu, memoryMiB: a.memoryMiB + b.memoryMiB, diskGiB: a.diskGiB + b.diskGiB });
const ZERO: Resources = { vcpu: 0, memoryMiB: 0, diskGiB: 0 };

/**
 * Control planes first, each on the host that keeps them in the fewest shared zones, then on
 * the fewest shared hosts; workers on the host with the most free memory (then the fewest of
 * this cluster's VMs). Ties go by host name, so the same input places the same way.
 */
export function place(cluster: string, hosts: HostCapacity[], vms: VmDemand[], o: Overcommit): PlacementResult {
  const placement = new Map<string, string>();
  const added = new Map<string, Resources>(hosts.map((h) => [h.name, ZERO]));
  const byHost = new Map<string, number>(hosts.map((h) => [h.name, 0]));
  const zonesUsed = new Map<string, number>();
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const warnings: string[] = [];
  const put = (vm: VmDemand, h: HostCapacity): void => {
    placement.set(vm.name, h.name);
    added.set(h.name, add(added.get(h.name)!, vm.size));
    byHost.set(h.name, byHost.get(h.name)! + 1);
    if (vm.role === 'control-plane') zonesUsed.set(h.zone ?? `host:${h.name}`, (zonesUsed.get(h.zone ?? `host:${h.name}`) ?? 0) + 1);
  };

  // VMs that exist stay where they are; their resources are already in `used`.
  for (const vm of vms) {
    if (!vm.host) continue;
    const h = byName.get(vm.host);
    if (!h) return { ok: false, error: `${cluster}: VM ${vm.name} runs on ${vm.host}, which is no ready kvm-host machine`, placed: placement };
    placement.set(vm.name, h.name);
    byHost.set(h.name, byHost.get(h.name)! + 1);
    if (vm.role === 'control-plane') zonesUsed.set(h.zone ?? `host:${h.name}`, (zonesUsed.get(h.zone ?? `host:${h.name}`) ?? 0) + 1);
  }

  const order = [...vms.filter((v) => !v.host && v.role === 'control-plane'), ...vms.filter((v) => !v.host && v.role === 'worker')];
  for (const vm of order) {
    const candidates = hosts.filter((h) => fits(free(h, o, added.get(h.name)!), vm.size));
    if (!candidates.length) return { ok: false, error: shortfall(cluster, vm, hosts, o, added, vms.length, placement.size), placed: placement };
    const score = (h: HostCapacity): number[] =>
      vm.role === 'control-plane'
        ? [zonesUsed.get(h.zone ?? `host:${h.name}`) ?? 0, byHost.get(h.name)!, -free(h, o, added.get(h.name)!).memoryMiB]
        : [-free(h, o, added.get(h.name)!).memoryMiB, byHost.get(h.name)!];
    candidates.sort((a, b) => {
      const sa = score(a);
      const sb = score(b);
      for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return sa[i]! - sb[i]!;
      return a.name.localeCompare(b.name);
    });
    put(vm, candidates[0]!);
  }

  const cps = vms.filter((v) => v.role === 'control-plane');
  const cpZones = new Set(cps.map((v) => byName.get(placement.get(v.name)!)!.zone ?? `host:${placement.get(v.name)!}`));
  if (cps.length > 1 && cpZones.size < cps.length) {
    const zones = new Set(hosts.map((h) => h.zone ?? `host:${h.name}`));
    warnings.push(
      `${cluster}: ${cps.length} control planes share ${cpZones.size} failure domain${cpZones.size === 1 ? '' : 's'}` +
        (zones.size < cps.length ? ` (only ${zones.size} among the ready kvm-host machines)` : ' (the others lack capacity)'),
    );
  }
  return { ok: true, placement, warnings };
}

/** Why a VM fits nowhere: for each resource, the most any host has left beside what it needs. */
function shortfall(cluster: string, vm: VmDemand, hosts: HostCapacity[], o: Overcommit, added: Map<string, Resources>, total: number, placed: number): string {
  const need = `${vm.size.vcpu} vCPUs, ${vm.size.memoryMiB} MiB, ${vm.size.diskGiB} GiB`;
  if (!hosts.length) return `${cluster} does not fit: no kvm-host machine is ready`;
  const lacking = KINDS.flatMap(([k, label]) => {
    const best = Math.max(...hosts.map((h) => free(h, o, added.get(h.name)!)[k]));
    return best < vm.size[k] ? [`${label}: at most ${Math.max(0, best)} free on one host, ${vm.size[k]} needed`] : [];
  });
  const why = lacking.length ? lacking.join('; ') : 'no single host has all of it free at once';
  return `${cluster} does not fit: ${vm.role} VM ${vm.name} (${need}) fits on none of ${hosts.length} ready kvm-host machine${hosts.length === 1 ? '' : 's'} after ${placed} of ${total} VMs were placed — ${why} (overcommit vCPU ×${o.vcpu}, memory ×${o.memory}, disk ×${o.disk})`;
}
