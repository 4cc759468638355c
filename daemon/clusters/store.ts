// Clusters and their VMs in the store. Every allocation — VNI, node subnet, endpoint ports, VM
// addresses, MACs, host forward ports, placement — is chosen and recorded in one IMMEDIATE
// transaction, so two creates can never pick the same VNI and a kill -9 leaves either the whole
// cluster or nothing; the UNIQUE constraints are the last word even if this code were wrong.
import type { Cluster, Machine } from '../../inventory/schema.ts';
import { allocateSubnet, allocateVni, gatewayOf, vmAddress, vmMac } from '../../kvm/allocate.ts';
import { place, type HostCapacity, type Resources, type VmDemand } from '../../kvm/placement.ts';
import type { Config } from '../config/schema.ts';
import { IronbayError } from '../errors.ts';
import { formatCidr, parseCidr, type Cidr } from '../lib/net.ts';
import type { Store } from '../store/db.ts';

export type ClusterSource = 'inventory' | 'api';
export type ClusterState = 'creating' | 'ready' | 'degraded' | 'deleting';
export type VmRole = 'control-plane' | 'worker';

export interface ClusterSecrets {
  /** kubeadm bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}. */
  token: string;
  /** kubeadm --certificate-key, for control planes joining a 3-node control plane. */
  certificateKey: string;
  /** The cluster CA, made by the appliance: joins pin its hash, kubeconfigs are signed by it. */
  ca: { certPem: string; keyPem: string; certHash: string };
}

export interface ClusterRecord {
  name: string;
  source: ClusterSource;
  spec: Cluster;
  vni: number;
  subnet: string;
  gateway: string;
  endpointPort: number;
  secrets: ClusterSecrets;
  state: ClusterState;
  stateReason: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface VmRecord {
  cluster: string;
  idx: number;
  name: string;
  role: VmRole;
  host: string;
  address: string;
  mac: string;
  forwardPort: number;
  desired: 'running' | 'removed';
  observed: string;
  observedAt: string | null;
}

interface ClusterRow {
  name: string;
  source: ClusterSource;
  spec: string;
  vni: number;
  subnet: string;
  endpoint_port: number;
  secrets: string;
  state: ClusterState;
  state_reason: string | null;
  created_at: string;
  updated_at: string;
}

interface VmRow {
  cluster: string;
  idx: number;
  name: string;
  role: VmRole;
  host: string;
  address: string;
  mac: string;
  forward_port: number;
  desired: 'running' | 'removed';
  observed: string;
  observed_at: string | null;
}

const clusterOf = (r: ClusterRow): ClusterRecord => {
  const c = parseCidr(r.subnet);
  return {
    name: r.name,
    source: r.source,
    spec: JSON.parse(r.spec) as Cluster,
    vni: r.vni,
    subnet: r.subnet,
    gateway: c.ok ? gatewayOf(c.cidr) : '',
    endpointPort: r.endpoint_port,
    secrets: JSON.parse(r.secrets) as ClusterSecrets,
    state: r.state,
    stateReason: r.state_reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
};

const vmOf = (r: VmRow): VmRecord => ({
  cluster: r.cluster,
  idx: r.idx,
  name: r.name,
  role: r.role,
  host: r.host,
  address: r.address,
  mac: r.mac,
  forwardPort: r.forward_port,
  desired: r.desired,
  observed: r.observed,
  observedAt: r.observed_at,
});

export function listClusters(store: Store): ClusterRecord[] {
  return (store.db.prepare('SELECT * FROM clusters ORDER BY name').all() as ClusterRow[]).map(clusterOf);
}

export function getCluster(store: Store, name: string): ClusterRecord | undefined {
  const r = store.db.prepare('SELECT * FROM clusters WHERE name = ?').get(name) as ClusterRow | undefined;
  return r && clusterOf(r);
}

export function listVms(store: Store, cluster?: string): VmRecord[] {
  const rows = cluster === undefined ? store.db.prepare('SELECT * FROM cluster_vms ORDER BY cluster, idx').all() : store.db.prepare('SELECT * FROM cluster_vms WHERE cluster = ? ORDER BY idx').all(cluster);
  return (rows as VmRow[]).map(vmOf);
}

/** A kvm-host as placement sees it. */
export interface KvmHost {
  name: string;
  zone: string | null;
  state: string;
  address: string | null;
  capacity: Resources | null;
  /** Where the capacity came from: the inventory entry or the host's own report. */
  capacitySource: 'inventory' | 'reported' | null;
}

/** Every kvm-host machine (retired ones aside), with the capacity the inventory gives or the host reported. */
export function kvmHosts(store: Store): KvmHost[] {
  const rows = store.db
    .prepare(
      `SELECT m.name, m.zone, m.state, m.spec, k.capacity FROM machines m LEFT JOIN kvm_hosts k ON k.name = m.name
       WHERE m.role = 'kvm-host' AND m.state != 'retired' ORDER BY m.name`,
    )
    .all() as { name: string; zone: string | null; state: string; spec: string; capacity: string | null }[];
  return rows.map((r) => {
    const spec = JSON.parse(r.spec) as Machine;
    const reported = r.capacity ? (JSON.parse(r.capacity) as Resources) : null;
    return {
      name: r.name,
      zone: r.zone,
      state: r.state,
      address: spec.production?.address.split('/')[0] ?? null,
      capacity: spec.capacity ?? reported,
      capacitySource: spec.capacity ? 'inventory' : reported ? 'reported' : null,
    };
  });
}

export function recordHostReport(store: Store, host: string, report: { capacity?: Resources; reachable: boolean; error?: string }): void {
  store.db
    .prepare(
      `INSERT INTO kvm_hosts (name, capacity, reachable, error, seen_at) VALUES (@name, @capacity, @reachable, @error, @seen)
       ON CONFLICT (name) DO UPDATE SET capacity = COALESCE(excluded.capacity, capacity), reachable = excluded.reachable, error = excluded.error,
         seen_at = CASE WHEN excluded.reachable THEN excluded.seen_at ELSE seen_at END`,
    )
    .run({ name: host, capacity: report.capacity ? JSON.stringify(report.capacity) : null, reachable: report.reachable ? 1 : 0, error: report.error ?? null, seen: store.timestamp() });
}

export function hostReports(store: Store): Map<string, { reachable: boolean; error: string | null; seenAt: string | null }> {
  const rows = store.db.prepare('SELECT name, reachable, error, seen_at FROM kvm_hosts').all() as { name: string; reachable: number; error: string | null; seen_at: string | null }[];
  return new Map(rows.map((r) => [r.name, { reachable: r.reachable === 1, error: r.error, seenAt: r.seen_at }]));
}

const sizeOf = (c: Cluster): Resources => ({ vcpu: c.node.vcpu, memoryMiB: c.node.memoryMiB, diskGiB: c.node.diskGiB });

/** Ready kvm-hosts with capacity, each with what the VMs placed on it (of other clusters, or this one's staying) take. */
function hostCapacities(store: Store, except?: string): { hosts: HostCapacity[]; unusable: string[] } {
  const used = new Map<string, Resources>();
  const size = new Map(listClusters(store).map((c) => [c.name, sizeOf(c.spec)]));
  for (const vm of listVms(store)) {
    if (vm.cluster === except) continue;
    const s = size.get(vm.cluster)!;
    const u = used.get(vm.host) ?? { vcpu: 0, memoryMiB: 0, diskGiB: 0 };
    used.set(vm.host, { vcpu: u.vcpu + s.vcpu, memoryMiB: u.memoryMiB + s.memoryMiB, diskGiB: u.diskGiB + s.diskGiB });
  }
  const hosts: HostCapacity[] = [];
  const unusable: string[] = [];
  for (const h of kvmHosts(store)) {
    if (h.state !== 'ready') unusable.push(`${h.name} is ${h.state}`);
    else if (!h.capacity) unusable.push(`${h.name} has not reported its capacity yet (or set capacity in its inventory entry)`);
    else hosts.push({ name: h.name, zone: h.zone, capacity: h.capacity, used: used.get(h.name) ?? { vcpu: 0, memoryMiB: 0, diskGiB: 0 } });
  }
  return { hosts, unusable };
}

export interface PlannedVm {
  idx: number;
  name: string;
  role: VmRole;
  host: string;
  address: string;
  mac: string;
  forwardPort: number;
  /** New in this change, or staying, or going (scale-down). */
  change: 'add' | 'keep' | 'remove';
}

export interface ClusterPlan {
  name: string;
  vni: number;
  subnet: string;
  gateway: string;
  endpointPort: number;
  vms: PlannedVm[];
  warnings: string[];
}

function used<T>(store: Store, sql: string): T[] {
  return (store.db.prepare(sql).all() as Record<string, T>[]).map((r) => Object.values(r)[0]!);
}

/** The lowest `step`-aligned block of ports in [min, max] none of which is taken. */
function allocatePorts(min: number, max: number, step: number, taken: ReadonlySet<number>): number | undefined {
  for (let p = min; p + step - 1 <= max; p += step) {
    let free = true;
    for (let i = 0; i < step; i++) if (taken.has(p + i)) free = false;
    if (free) return p;
  }
  return undefined;
}

export const vmName = (cluster: string, role: VmRole, n: number): string => `${cluster}-${role === 'control-plane' ? 'cp' : 'w'}${n}`;

/**
 * What a cluster with this spec (and this many workers) would be: the existing allocation
 * kept, new VMs allocated and placed, surplus workers (highest index first) marked to go.
 * Pure over the store's current contents; the caller writes it in the same transaction.
 */
function planCluster(store: Store, config: Readonly<Config>, spec: Cluster): ClusterPlan {
  const existing = getCluster(store, spec.name);
  const cfg = config.clusters;
  let vni = existing?.vni;
  if (vni === undefined) {
    vni = allocateVni(cfg.vniRange.min, cfg.vniRange.max, new Set(used<number>(store, 'SELECT vni FROM clusters')));
    if (vni === undefined) throw new IronbayError('IB_ERR_CLUSTER_EXHAUSTED', `${spec.name}: every VNI of clusters.vniRange ${cfg.vniRange.min}-${cfg.vniRange.max} is taken`);
  }
  let subnet = existing?.subnet ?? spec.subnet;
  if (subnet === undefined) {
    const pool = parseCidr(cfg.overlayPool);
    if (!pool.ok) throw new IronbayError('IB_ERR_CONFIG_INVALID', `clusters.overlayPool ${cfg.overlayPool}: ${pool.reason}`);
    const taken = used<string>(store, 'SELECT subnet FROM clusters')
      .map((s) => parseCidr(s))
      .flatMap((r): Cidr[] => (r.ok ? [r.cidr] : []));
    const got = allocateSubnet(pool.cidr, cfg.subnetPrefix, taken);
    if (!got) throw new IronbayError('IB_ERR_CLUSTER_EXHAUSTED', `${spec.name}: clusters.overlayPool ${cfg.overlayPool} has no free /${cfg.subnetPrefix} left`);
    subnet = formatCidr(got);
  }
  const subnetCidr = parseCidr(subnet);
  if (!subnetCidr.ok) throw new IronbayError('IB_ERR_BAD_REQUEST', `${spec.name}: subnet ${subnet}: ${subnetCidr.reason}`);
  let endpointPort = existing?.endpointPort;
  if (endpointPort === undefined) {
    endpointPort = allocatePorts(cfg.endpoints.ports.min, cfg.endpoints.ports.max, 3, new Set(used<number>(store, 'SELECT endpoint_port FROM clusters').flatMap((p) => [p, p + 1, p + 2])));
    if (endpointPort === undefined) throw new IronbayError('IB_ERR_CLUSTER_EXHAUSTED', `${spec.name}: clusters.endpoints.ports ${cfg.endpoints.ports.min}-${cfg.endpoints.ports.max} has no 3 free ports left`);
  }

  const mine = existing ? listVms(store, spec.name) : [];
  const current = mine.filter((v) => v.desired === 'running');
  const keep: VmRecord[] = [];
  const remove: VmRecord[] = [];
  const cps = current.filter((v) => v.role === 'control-plane');
  const workers = current.filter((v) => v.role === 'worker').sort((a, b) => a.idx - b.idx);
  if (existing && cps.length !== spec.controlPlanes)
    throw new IronbayError('IB_ERR_BAD_REQUEST', `${spec.name}: the control plane has ${cps.length} node${cps.length === 1 ? '' : 's'}; changing it to ${spec.controlPlanes} is not supported (etcd membership): create a new cluster`);
  keep.push(...cps, ...workers.slice(0, spec.workers));
  remove.push(...workers.slice(spec.workers));

  const takenIdx = new Set(mine.map((v) => v.idx));
  const takenNames = new Set(mine.map((v) => v.name));
  const takenMacs = new Set(used<string>(store, 'SELECT mac FROM cluster_vms'));
  const takenPorts = new Set(used<number>(store, 'SELECT forward_port FROM cluster_vms').flatMap((p) => [p, p + 1]));
  const adds: Omit<PlannedVm, 'host'>[] = [];
  const next = (role: VmRole): { idx: number; name: string } => {
    let idx = 0;
    while (takenIdx.has(idx)) idx++;
    takenIdx.add(idx);
    let n = 0;
    while (takenNames.has(vmName(spec.name, role, n))) n++;
    const name = vmName(spec.name, role, n);
    takenNames.add(name);
    return { idx, name };
  };
  const addVm = (role: VmRole): void => {
    const { idx, name } = next(role);
    let salt = 0;
    let mac = vmMac(spec.name, name);
    while (takenMacs.has(mac)) mac = vmMac(spec.name, name, ++salt);
    takenMacs.add(mac);
    const forwardPort = allocatePorts(cfg.forwardPorts.min, cfg.forwardPorts.max, 2, takenPorts);
    if (forwardPort === undefined) throw new IronbayError('IB_ERR_CLUSTER_EXHAUSTED', `${spec.name}: clusters.forwardPorts ${cfg.forwardPorts.min}-${cfg.forwardPorts.max} has no 2 free ports left for ${name}`);
    takenPorts.add(forwardPort).add(forwardPort + 1);
    let address: string;
    try {
      address = vmAddress(subnetCidr.cidr, idx);
    } catch (err) {
      throw new IronbayError('IB_ERR_CLUSTER_EXHAUSTED', `${spec.name}: ${(err as Error).message}`);
    }
    adds.push({ idx, name, role, address, mac, forwardPort, change: 'add' });
  };
  if (!existing) for (let i = 0; i < spec.controlPlanes; i++) addVm('control-plane');
  for (let i = workers.length; i < spec.workers; i++) addVm('worker');

  const { hosts, unusable } = hostCapacities(store, spec.name);
  const size = sizeOf(spec);
  // This cluster's staying VMs count against their hosts like everyone else's.
  for (const v of keep) {
    const h = hosts.find((x) => x.name === v.host);
    if (h) h.used = { vcpu: h.used.vcpu + size.vcpu, memoryMiB: h.used.memoryMiB + size.memoryMiB, diskGiB: h.used.diskGiB + size.diskGiB };
  }
  const demands: VmDemand[] = [...keep.map((v) => ({ name: v.name, role: v.role, size, host: v.host })), ...adds.map((v) => ({ name: v.name, role: v.role, size }))];
  // A staying VM on a host that is not ready keeps its place (the reconciler reports the host).
  const placeable = demands.filter((d) => !d.host || hosts.some((h) => h.name === d.host));
  const placed = adds.length ? place(spec.name, hosts, placeable, cfg.overcommit) : { ok: true as const, placement: new Map<string, string>(), warnings: [] };
  if (!placed.ok) {
    const why = unusable.length ? ` (not usable: ${unusable.join('; ')})` : '';
    throw new IronbayError('IB_ERR_CLUSTER_NO_FIT', placed.error + why, { details: { cluster: spec.name } });
  }
  const vms: PlannedVm[] = [
    ...keep.map((v) => ({ idx: v.idx, name: v.name, role: v.role, host: v.host, address: v.address, mac: v.mac, forwardPort: v.forwardPort, change: 'keep' as const })),
    ...adds.map((v) => ({ ...v, host: placed.placement.get(v.name)! })),
    ...remove.map((v) => ({ idx: v.idx, name: v.name, role: v.role, host: v.host, address: v.address, mac: v.mac, forwardPort: v.forwardPort, change: 'remove' as const })),
  ].sort((a, b) => a.idx - b.idx);
  return { name: spec.name, vni, subnet, gateway: gatewayOf(subnetCidr.cidr), endpointPort, vms, warnings: placed.warnings };
}

/**
 * Creates or changes a cluster: the plan above, and unless `dryRun` its writes, in one
 * transaction with the event. A changed spec of an existing cluster may change the worker
 * count; VMs being removed are marked, the reconciler drains and removes them.
 */
export function applyCluster(
  store: Store,
  config: Readonly<Config>,
  spec: Cluster,
  o: { source: ClusterSource; actor: string; dryRun?: boolean; secrets: () => ClusterSecrets },
): ClusterPlan & { created: boolean } {
  return store.tx(() => {
    const existing = getCluster(store, spec.name);
    if (existing?.state === 'deleting') throw new IronbayError('IB_ERR_CONFLICT', `cluster ${spec.name} is being deleted; wait until it is gone`);
    if (existing && existing.source !== o.source)
      throw new IronbayError(
        'IB_ERR_CONFLICT',
        existing.source === 'inventory' ? `cluster ${spec.name} is declared in the inventory file: change it there` : `cluster ${spec.name} was created through the API; the inventory cannot also declare it`,
      );
    const plan = planCluster(store, config, spec);
    if (o.dryRun) return { ...plan, created: !existing };
    const now = store.timestamp();
    if (!existing) {
      store.db
        .prepare(
          `INSERT INTO clusters (name, source, spec, vni, subnet, endpoint_port, secrets, state, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'creating', ?, ?)`,
        )
        .run(spec.name, o.source, JSON.stringify(spec), plan.vni, plan.subnet, plan.endpointPort, JSON.stringify(o.secrets()), now, now);
    } else if (JSON.stringify(existing.spec) !== JSON.stringify(spec)) {
      store.db.prepare('UPDATE clusters SET spec = ?, updated_at = ? WHERE name = ?').run(JSON.stringify(spec), now, spec.name);
    }
    const ins = store.db.prepare(
      `INSERT INTO cluster_vms (cluster, idx, name, role, host, address, mac, forward_port, desired, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)`,
    );
    const mark = store.db.prepare("UPDATE cluster_vms SET desired = 'removed' WHERE cluster = ? AND idx = ?");
    const adds = plan.vms.filter((v) => v.change === 'add');
    const removes = plan.vms.filter((v) => v.change === 'remove');
    for (const v of adds) ins.run(spec.name, v.idx, v.name, v.role, v.host, v.address, v.mac, v.forwardPort, now);
    for (const v of removes) mark.run(spec.name, v.idx);
    if (!existing || adds.length || removes.length)
      store.appendEvent({
        actor: o.actor,
        kind: existing ? 'cluster.scaled' : 'cluster.created',
        details: {
          cluster: spec.name,
          ...(!existing && { vni: plan.vni, subnet: plan.subnet, endpointPort: plan.endpointPort }),
          added: adds.map((v) => ({ vm: v.name, host: v.host, address: v.address })),
          removing: removes.map((v) => v.name),
          warnings: plan.warnings,
        },
      });
    return { ...plan, created: !existing };
  });
}

/** Marks a cluster for deletion: every VM goes, then the cluster row (the reconciler finishes it). */
export function markClusterDeleting(store: Store, name: string, actor: string): boolean {
  return store.tx(() => {
    const c = getCluster(store, name);
    if (!c) return false;
    if (c.state === 'deleting') return true;
    store.db.prepare("UPDATE clusters SET state = 'deleting', state_reason = NULL, updated_at = ? WHERE name = ?").run(store.timestamp(), name);
    store.db.prepare("UPDATE cluster_vms SET desired = 'removed' WHERE cluster = ?").run(name);
    store.appendEvent({ actor, kind: 'cluster.deleting', details: { cluster: name } });
    return true;
  });
}

/** A VM the reconciler removed from its host: its row (and address, MAC, ports) is released. */
export function releaseVm(store: Store, vm: VmRecord, actor: string): void {
  store.tx(() => {
    store.db.prepare("DELETE FROM cluster_vms WHERE cluster = ? AND idx = ? AND desired = 'removed'").run(vm.cluster, vm.idx);
    store.appendEvent({ actor, kind: 'cluster.vm.removed', details: { cluster: vm.cluster, vm: vm.name, host: vm.host } });
  });
}

/** The last VM of a deleting cluster is gone: its VNI, subnet and ports are released. */
export function releaseCluster(store: Store, name: string, actor: string): boolean {
  return store.tx(() => {
    const left = store.db.prepare('SELECT count(*) AS n FROM cluster_vms WHERE cluster = ?').get(name) as { n: number };
    if (left.n > 0) return false;
    const c = getCluster(store, name);
    if (!c) return false;
    store.db.prepare("DELETE FROM clusters WHERE name = ? AND state = 'deleting'").run(name);
    store.appendEvent({ actor, kind: 'cluster.deleted', details: { cluster: name, vni: c.vni, subnet: c.subnet } });
    return true;
  });
}

export function setClusterState(store: Store, name: string, state: ClusterState, reason: string | null, actor: string): void {
  store.tx(() => {
    const c = getCluster(store, name);
    if (!c || c.state === 'deleting' || (c.state === state && c.stateReason === reason)) return;
    store.db.prepare('UPDATE clusters SET state = ?, state_reason = ?, updated_at = ? WHERE name = ?').run(state, reason, store.timestamp(), name);
    store.appendEvent({ actor, kind: `cluster.${state}`, details: { cluster: name, from: c.state, ...(reason && { reason }) } });
  });
}

export function setVmObserved(store: Store, vm: VmRecord, observed: string, actor: string, detail?: string): void {
  if (vm.observed === observed) return;
  store.tx(() => {
    store.db.prepare('UPDATE cluster_vms SET observed = ?, observed_at = ? WHERE cluster = ? AND idx = ?').run(observed, store.timestamp(), vm.cluster, vm.idx);
    store.appendEvent({ actor, kind: 'cluster.vm.state', details: { cluster: vm.cluster, vm: vm.name, host: vm.host, from: vm.observed, to: observed, ...(detail && { detail }) } });
  });
}
