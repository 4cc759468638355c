// The workload clusters (issue #7): the desired state (inventory `clusters` plus those made
// through the API) kept in the store, and a reconciler that makes every ready kvm-host match
// it over SSH — one read per host per pass, one apply script when something differs — and the
// endpoints on the appliance that forward to the healthy VMs.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Cluster } from '../../inventory/schema.ts';
import { transitOf } from '../../kvm/allocate.ts';
import { drainNode } from '../../kvm/drain.ts';
import { planHost, parseHost, readCommand, type ClusterOnHost, type HostDesired, type HostObserved, type VmOnHost } from '../../kvm/hostplan.ts';
import { VXLAN_OVERHEAD, bridgeName } from '../../kvm/hostnet.ts';
import { bootstrapToken, caCertHash, certificateKey, createClusterCa, issueAdminCert, kubeconfig } from '../../kvm/pki.ts';
import { renderSeed } from '../../kvm/seed.ts';
import { parseMarks } from '../../kvm/vms.ts';
import type { Config } from '../config/schema.ts';
import { IronbayError } from '../errors.ts';
import { appliedSections } from '../inventory/apply.ts';
import { parseCidr } from '../lib/net.ts';
import { connect, type SshConnection, type SshTarget } from '../ssh/connection.ts';
import type { RunbookService } from '../ssh/service.ts';
import type { Store } from '../store/db.ts';
import { getMachine } from '../store/machines.ts';
import { EndpointProxy, type EndpointSpec } from './endpoint-proxy.ts';
import {
  applyCluster,
  getCluster,
  hostReports,
  kvmHosts,
  listClusters,
  listVms,
  markClusterDeleting,
  recordHostReport,
  releaseCluster,
  releaseVm,
  setClusterState,
  setVmObserved,
  type ClusterPlan,
  type ClusterRecord,
  type ClusterSecrets,
  type VmRecord,
} from './store.ts';

const ACTOR = 'ironbay:clusters';
const API_PORT = 6443;

/** What one host's pass did, for logs, events, tests and the benchmark. */
export interface HostPass {
  host: string;
  ok: boolean;
  error?: string;
  /** SSH commands issued: 1 on a pass that changes nothing. */
  commands: number;
  readMs: number;
  applyMs: number;
  network: number;
  routers: number[];
  rules: boolean;
  persist: boolean;
  created: string[];
  started: string[];
  removed: string[];
  orphans: string[];
  /** When the apply script started (epoch ms, the host's clock), if one ran. */
  applyAt?: number;
  /** Per VM created or started: ms from the apply's start to each step (begin, disk, seed, define, start). */
  timings: Record<string, Record<string, number>>;
}

export interface PassResult {
  startedAt: number;
  ms: number;
  hosts: HostPass[];
}


export class ClusterService {
  private readonly store: Store;
  private readonly config: Readonly<Config>;
  private readonly log: Logger;
  private readonly runbooks: RunbookService;
  readonly proxy: EndpointProxy;
  private readonly conns = new Map<string, Promise<SshConnection>>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PassResult> | undefined;
  private again = false;
  /** Until start(), nothing runs on its own (tests ask for passes with reconcile()). */
  private stopped = true;
  private readonly drained = new Set<string>();
  private readonly inventoryErrors = new Map<string, string>();
  private readonly hostDown = new Set<string>();
  /** The last pass, for `cluster show` and tests. */
  last: PassResult | undefined;

  constructor(o: { store: Store; config: Readonly<Config>; log: Logger; runbooks: RunbookService; registry?: Registry }) {
    this.store = o.store;
    this.config = o.config;
    this.log = o.log;
    this.runbooks = o.runbooks;
    this.proxy = new EndpointProxy({
      listenHost: o.config.clusters.endpoints.listen,
      log: o.log.child({ part: 'endpoints' }),
      ...(o.registry && { registry: o.registry }),
      onChange: (e) =>
        this.store.tx(() => this.store.appendEvent({ actor: ACTOR, kind: e.healthy ? 'cluster.endpoint.up' : 'cluster.endpoint.down', details: { endpoint: e.endpoint, backend: e.backend, ...(e.reason && { reason: e.reason }) } })),
    });
  }

  /** Starts the periodic passes (the first at once). */
  start(): void {
    this.stopped = false;
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    for (const c of this.conns.values()) void c.then((x) => x.close()).catch(() => undefined);
    this.conns.clear();
    await this.proxy.close();
  }

  /** A pass soon: now if none is running, else right after the running one. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.pass()
      .catch((err: unknown) => {
        this.log.error({ err }, 'cluster pass failed');
        return { startedAt: Date.now(), ms: 0, hosts: [] };
      })
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.kick();
        } else this.timer = setTimeout(() => this.kick(), this.config.clusters.reconcileIntervalMs);
      });
  }

  /** Runs a pass (waiting for one in flight first) and returns it. */
  async reconcile(): Promise<PassResult> {
    await this.running?.catch(() => undefined);
    clearTimeout(this.timer);
    const p = this.pass();
    this.running = p;
    try {
      return await p;
    } finally {
      this.running = undefined;
      if (!this.stopped) {
        if (this.again) {
          this.again = false;
          this.kick();
        } else this.timer = setTimeout(() => this.kick(), this.config.clusters.reconcileIntervalMs);
      }
    }
  }

  // ---- desired state ------------------------------------------------------------------

  private async newSecrets(name: string): Promise<ClusterSecrets> {
    const ca = await createClusterCa(name);
    return { token: bootstrapToken(), certificateKey: certificateKey(), ca: { certPem: ca.certPem, keyPem: ca.keyPem, certHash: ca.certHash } };
  }

  /** Creates (or with dryRun only plans) a cluster through the API. */
  async create(spec: Cluster, o: { actor: string; dryRun?: boolean }): Promise<ClusterPlan & { created: boolean }> {
    if (this.inventoryCluster(spec.name)) throw new IronbayError('IB_ERR_CONFLICT', `cluster ${spec.name} is declared in the inventory file: change it there`);
    if (getCluster(this.store, spec.name)) throw new IronbayError('IB_ERR_CONFLICT', `cluster ${spec.name} exists; scale or delete it`);
    const secrets = o.dryRun ? undefined : await this.newSecrets(spec.name);
    const plan = applyCluster(this.store, this.config, spec, { source: 'api', actor: o.actor, dryRun: o.dryRun ?? false, secrets: () => secrets! });
    if (!o.dryRun) this.kick();
    return plan;
  }

  async scale(name: string, workers: number, o: { actor: string; dryRun?: boolean }): Promise<ClusterPlan & { created: boolean }> {
    const c = getCluster(this.store, name);
    if (!c) throw new IronbayError('IB_ERR_NOT_FOUND', `no cluster named ${name}`);
    // The file would put it back at the next pass.
    if (c.source === 'inventory') throw new IronbayError('IB_ERR_CONFLICT', `cluster ${name} is declared in the inventory file: change its workers there`);
    const plan = applyCluster(this.store, this.config, { ...c.spec, workers }, { source: c.source, actor: o.actor, dryRun: o.dryRun ?? false, secrets: () => c.secrets });
    if (!o.dryRun) this.kick();
    return plan;
  }

  remove(name: string, actor: string): void {
    const c = getCluster(this.store, name);
    if (!c) throw new IronbayError('IB_ERR_NOT_FOUND', `no cluster named ${name}`);
    if (c.source === 'inventory' && this.inventoryCluster(name)) throw new IronbayError('IB_ERR_CONFLICT', `cluster ${name} is declared in the inventory file: remove it there`);
    markClusterDeleting(this.store, name, actor);
    this.kick();
  }

  private inventoryCluster(name: string): Cluster | undefined {
    return appliedSections(this.store).clusters.find((c) => c.name === name);
  }

  /** The inventory's clusters made real: new ones created, changed worker counts applied, removed ones deleted. */
  private async syncInventory(): Promise<void> {
    const declared = appliedSections(this.store).clusters;
    for (const spec of declared) {
      const have = getCluster(this.store, spec.name);
      if (have && (have.source !== 'inventory' || JSON.stringify(have.spec) === JSON.stringify(spec))) continue;
      try {
        // A cluster that cannot be placed fails here, before a CA is made for it (every pass).
        if (!have) applyCluster(this.store, this.config, spec, { source: 'inventory', actor: 'inventory', dryRun: true, secrets: () => undefined as never });
        const secrets = have ? have.secrets : await this.newSecrets(spec.name);
        // Of a running cluster's spec, the worker count changes it now; the rest (sizes,
        // image, versions) applies to the VMs made from now on.
        if (have) this.log.info({ cluster: spec.name }, 'cluster spec changed in the inventory');
        applyCluster(this.store, this.config, spec, { source: 'inventory', actor: 'inventory', secrets: () => secrets });
        this.inventoryErrors.delete(spec.name);
      } catch (err) {
        const msg = (err as Error).message;
        if (this.inventoryErrors.get(spec.name) !== msg) {
          this.inventoryErrors.set(spec.name, msg);
          this.log.warn({ cluster: spec.name, err: msg }, 'an inventory cluster cannot be applied');
          this.store.tx(() => this.store.appendEvent({ actor: ACTOR, kind: 'cluster.rejected', details: { cluster: spec.name, error: msg } }));
        }
      }
    }
    for (const c of listClusters(this.store)) if (c.source === 'inventory' && c.state !== 'deleting' && !declared.some((d) => d.name === c.name)) markClusterDeleting(this.store, c.name, 'inventory');
  }

  // ---- views ---------------------------------------------------------------------------

  advertised(): string {
    const e = this.config.clusters.endpoints;
    if (e.advertise) return e.advertise;
    if (e.listen !== '0.0.0.0' && e.listen !== '::') return e.listen;
    return this.config.api.listen === '0.0.0.0' || this.config.api.listen === '::' ? '127.0.0.1' : this.config.api.listen;
  }

  endpointsOf(c: ClusterRecord): { api: string; http: string; https: string } {
    const a = this.advertised();
    const host = a.includes(':') ? `[${a}]` : a;
    return { api: `https://${host}:${c.endpointPort}`, http: `http://${host}:${c.endpointPort + 1}`, https: `https://${host}:${c.endpointPort + 2}` };
  }

  list(): (Omit<ClusterRecord, 'secrets'> & { vms: { total: number; running: number }; endpoints: ReturnType<ClusterService['endpointsOf']> })[] {
    const vms = listVms(this.store);
    return listClusters(this.store).map(({ secrets: _s, ...c }) => {
      const mine = vms.filter((v) => v.cluster === c.name && v.desired === 'running');
      return { ...c, vms: { total: mine.length, running: mine.filter((v) => v.observed === 'running').length }, endpoints: this.endpointsOf({ ...c, secrets: _s }) };
    });
  }

  show(name: string) {
    const c = getCluster(this.store, name);
    if (!c) throw new IronbayError('IB_ERR_NOT_FOUND', `no cluster named ${name}`);
    const { secrets: _s, ...rest } = c;
    const status = this.proxy.status().filter((e) => e.name.startsWith(`${name}/`));
    const hosts = hostReports(this.store);
    return {
      ...rest,
      endpoints: this.endpointsOf(c),
      endpointStatus: status,
      vms: listVms(this.store, name).map((v) => ({ ...v, hostReachable: hosts.get(v.host)?.reachable ?? false })),
    };
  }

  async kubeconfigOf(name: string): Promise<string> {
    const c = getCluster(this.store, name);
    if (!c) throw new IronbayError('IB_ERR_NOT_FOUND', `no cluster named ${name}`);
    const s = c.secrets;
    const admin = await issueAdminCert(s.ca);
    return kubeconfig({ cluster: name, server: this.endpointsOf(c).api, caPem: s.ca.certPem, user: 'ironbay-admin', certPem: admin.certPem, keyPem: admin.keyPem });
  }

  // ---- the reconciler ------------------------------------------------------------------

  /** The host's kept connection (a new one costs ~0.4 s), opened again when it was lost. */
  private async connection(host: string, t: SshTarget & { jump?: SshTarget | undefined }): Promise<SshConnection> {
    const have = this.conns.get(host);
    if (have) {
      const c = await have.catch(() => undefined);
      if (c && !c.closed) return c;
      this.conns.delete(host);
    }
    const key = this.runbooks.publicKey().privateKey;
    const opts = { store: this.store, privateKey: key, actor: ACTOR, connectTimeoutMs: this.config.ssh.connectTimeoutMs };
    const p = (async () => {
      const via = t.jump ? await connect(t.jump, opts) : undefined;
      return connect(t, { ...opts, via });
    })();
    this.conns.set(host, p);
    p.catch(() => this.conns.delete(host));
    return p;
  }

  /** A read takes well under a second on a live host; one that answers nothing within this is down. */
  private readTimeoutMs(): number {
    return Math.max(5_000, 2 * this.config.ssh.connectTimeoutMs);
  }

  private async sh(host: string, conn: SshConnection, command: string, stdin: string | undefined, timeoutMs: number): Promise<string> {
    const r = await conn.exec({ command, ...(stdin !== undefined && { stdin }), timeoutMs, outputCap: 64 * 1024 * 1024 });
    // Every failure here ends the host's pass, which drops the connection (passHost).
    if (r.lost) throw r.lost;
    const out = r.stdout.text();
    if (r.stopped) throw new IronbayError('IB_ERR_CLUSTER_HOST', `${host}: ${command.slice(0, 40)}… did not finish within ${timeoutMs} ms`);
    if (r.exitCode !== 0) throw new IronbayError('IB_ERR_CLUSTER_HOST', `${host}: exit ${r.exitCode ?? r.exitSignal}: ${r.stderr.text().trim().split('\n').slice(-3).join(' | ')}`);
    return out;
  }

  private async pass(): Promise<PassResult> {
    const startedAt = Date.now();
    const t0 = performance.now();
    await this.syncInventory();
    await this.drainLeaving();
    const clusters = new Map(listClusters(this.store).map((c) => [c.name, c]));
    const vms = listVms(this.store);
    const all = kvmHosts(this.store);
    const hosts = all.filter((h) => h.address && (h.state === 'ready' || vms.some((v) => v.host === h.name)));
    // VMs on a machine that is no kvm-host any more (retired, removed from the inventory): the
    // host is gone, and with it what ran there. Those being removed are done; the others wait
    // for an operator (re-placing a VM elsewhere would boot it with a new disk).
    const known = new Set(all.map((h) => h.name));
    for (const v of vms.filter((x) => x.desired === 'removed' && !known.has(x.host))) releaseVm(this.store, v, ACTOR);
    const results = await Promise.all(hosts.map((h) => this.passHost(h.name, h.address!, clusters, vms, hosts)));
    this.settle(clusters, results);
    await this.publishEndpoints();
    const r = { startedAt, ms: performance.now() - t0, hosts: results };
    this.last = r;
    return r;
  }

  private desired(host: string, address: string, have: HostObserved, clusters: Map<string, ClusterRecord>, vms: VmRecord[], hosts: { name: string; address: string | null }[]): HostDesired {
    const cfg = this.config.clusters;
    const pool = parseCidr(cfg.transitPool);
    if (!pool.ok) throw new IronbayError('IB_ERR_CONFIG_INVALID', `clusters.transitPool ${cfg.transitPool}: ${pool.reason}`);
    const addressOf = new Map(hosts.map((h) => [h.name, h.address]));
    const mtu = (have.underlay?.mtu ?? 1500) - VXLAN_OVERHEAD;
    const here = vms.filter((v) => v.host === host);
    const onHost: ClusterOnHost[] = [];
    for (const c of clusters.values()) {
      const mine = here.filter((v) => v.cluster === c.name && v.desired === 'running');
      if (!mine.length) continue;
      const peers = [...new Set(vms.filter((v) => v.cluster === c.name && v.desired === 'running' && v.host !== host).map((v) => addressOf.get(v.host)).filter((a): a is string => !!a))].sort();
      onHost.push({
        vni: c.vni,
        gateway: `${c.gateway}/${c.subnet.split('/')[1]}`,
        transit: transitOf(pool.cidr, c.vni - cfg.vniRange.min),
        peers,
        forwards: mine.flatMap((v) => {
          const ip = v.address.split('/')[0]!;
          return v.role === 'control-plane'
            ? [{ port: v.forwardPort, to: ip, toPort: API_PORT }]
            : [
                { port: v.forwardPort, to: ip, toPort: 80 },
                { port: v.forwardPort + 1, to: ip, toPort: 443 },
              ];
        }),
      });
    }
    const vmsOnHost: VmOnHost[] = here.map((v) => ({
      name: v.name,
      mac: v.mac,
      bridge: bridgeName(clusters.get(v.cluster)!.vni),
      dir: `${cfg.vmDir}/${v.cluster}/${v.name}`,
      desired: v.desired,
      create: () => this.vmCreate(clusters.get(v.cluster)!, v, vms, mtu),
    }));
    return { address, transitPool: cfg.transitPool, clusters: onHost, vms: vmsOnHost, vmDir: cfg.vmDir, shutdownTimeoutS: cfg.shutdownTimeoutS };
  }

  private vmCreate(c: ClusterRecord, v: VmRecord, all: VmRecord[], mtu: number) {
    const cfg = this.config.clusters;
    const s = c.secrets;
    const same = all.filter((x) => x.cluster === c.name && x.role === v.role).sort((a, b) => a.idx - b.idx);
    const cp0 = all.filter((x) => x.cluster === c.name && x.role === 'control-plane').sort((a, b) => a.idx - b.idx)[0];
    const index = same.findIndex((x) => x.idx === v.idx);
    const seed = renderSeed({
      cluster: c.spec,
      vm: { name: v.name, index, role: v.role, mac: v.mac, address: v.address, gateway: c.gateway, mtu },
      endpoint: `${(cp0 ?? v).address.split('/')[0]}:${API_PORT}`,
      extraSANs: [this.advertised()],
      sshAuthorizedKeys: [this.runbooks.publicKey().publicKey],
      secrets: {
        bootstrapToken: s.token,
        caCertHash: s.ca.certHash || caCertHash(s.ca.certPem),
        ...(c.spec.controlPlanes === 3 && v.role === 'control-plane' && { certificateKey: s.certificateKey }),
        ...(v.role === 'control-plane' && index === 0 && { ca: { certPem: s.ca.certPem, keyPem: s.ca.keyPem } }),
      },
    });
    return {
      vm: v.name,
      cluster: c.name,
      role: v.role,
      dir: `${cfg.vmDir}/${c.name}/${v.name}`,
      image: `${cfg.imageDir}/${c.spec.image}`,
      diskGiB: c.spec.node.diskGiB,
      domain: {
        type: cfg.domainType,
        vcpu: c.spec.node.vcpu,
        memoryMiB: c.spec.node.memoryMiB,
        bridge: bridgeName(c.vni),
        mac: v.mac,
        mtu,
        ...(cfg.kernel && { kernel: { kernel: cfg.kernel.path, initrd: cfg.kernel.initrd, cmdline: cfg.kernel.cmdline } }),
      },
      seed: { 'user-data': seed.userData, 'meta-data': seed.metaData, 'network-config': seed.networkConfig },
    };
  }

  private async passHost(host: string, address: string, clusters: Map<string, ClusterRecord>, vms: VmRecord[], hosts: { name: string; address: string | null }[]): Promise<HostPass> {
    const res: HostPass = { host, ok: false, commands: 0, readMs: 0, applyMs: 0, network: 0, routers: [], rules: false, persist: false, created: [], started: [], removed: [], orphans: [], timings: {} };
    const m = getMachine(this.store, host);
    try {
      if (!m) throw new IronbayError('IB_ERR_NOT_FOUND', `kvm-host ${host} is not in the inventory`);
      const conn = await this.connection(host, this.runbooks.targetOf(m));
      const t0 = performance.now();
      res.commands++;
      const text = await this.sh(host, conn, readCommand(this.config.clusters.vmDir), undefined, this.readTimeoutMs());
      res.readMs = performance.now() - t0;
      const have = parseHost(text, address);
      recordHostReport(this.store, host, { reachable: true, ...(have.capacity && { capacity: have.capacity }) });
      this.markHost(host, true);
      const plan = planHost(this.desired(host, address, have, clusters, vms, hosts), have);
      Object.assign(res, { network: plan.network.length, routers: plan.routers.build, rules: plan.rules, persist: plan.persist, created: plan.create, started: plan.start, removed: plan.remove, orphans: plan.orphans });
      const states = new Map(have.vms);
      if (plan.script) {
        const t1 = performance.now();
        res.commands++;
        const deadline = this.readTimeoutMs() + (plan.remove.length + plan.orphans.length) * this.config.clusters.shutdownTimeoutS * 1000 + plan.create.length * 60_000;
        const out = await this.sh(host, conn, 'sh -s', plan.script, deadline);
        res.applyMs = performance.now() - t1;
        const marks = parseMarks(out);
        const applyAt = marks.times.get('-')?.get('apply');
        if (applyAt !== undefined) {
          res.applyAt = applyAt;
          for (const [vm, t] of marks.times) if (vm !== '-') res.timings[vm] = Object.fromEntries([...t].map(([k, v]) => [k, v - applyAt]));
        }
        for (const n of [...plan.create, ...plan.start]) states.set(`ib-${n}`, 'running');
        this.store.tx(() =>
          this.store.appendEvent({
            actor: ACTOR,
            kind: 'cluster.host.applied',
            details: { host, network: plan.network.length, routers: plan.routers, rules: plan.rules, persisted: plan.persist, created: plan.create, started: plan.start, removed: plan.remove, orphans: plan.orphans, shutdowns: Object.fromEntries(marks.shutdowns) },
          }),
        );
      }
      for (const v of vms.filter((x) => x.host === host)) {
        if (v.desired === 'removed') {
          releaseVm(this.store, v, ACTOR);
          // Its name may be given to a new VM: that one is drained when it leaves too.
          this.drained.delete(v.name);
          continue;
        }
        const st = states.get(`ib-${v.name}`);
        setVmObserved(this.store, v, st === undefined ? 'missing' : st === 'shut off' ? 'stopped' : st, ACTOR);
      }
      res.ok = true;
    } catch (err) {
      res.error = (err as Error).message;
      // Whatever failed, the next pass starts on a fresh connection: a host that stopped answering
      // mid-command (cable pulled) leaves one that may never fail on its own.
      void this.conns.get(host)?.then((c) => c.close()).catch(() => undefined);
      this.conns.delete(host);
      this.log.warn({ host, err: res.error }, 'kvm-host pass failed');
      recordHostReport(this.store, host, { reachable: false, error: res.error });
      this.markHost(host, false, res.error);
      for (const v of vms.filter((x) => x.host === host && x.desired === 'running')) setVmObserved(this.store, v, 'host-down', ACTOR, res.error);
    }
    return res;
  }

  private markHost(host: string, up: boolean, error?: string): void {
    if (up === !this.hostDown.has(host)) return;
    if (up) this.hostDown.delete(host);
    else this.hostDown.add(host);
    this.store.tx(() => this.store.appendEvent({ actor: ACTOR, kind: up ? 'cluster.host.up' : 'cluster.host.down', details: { host, ...(error && { error }) } }));
  }

  /** Cluster states from their VMs; deleted clusters released. */
  private settle(clusters: Map<string, ClusterRecord>, _results: HostPass[]): void {
    const vms = listVms(this.store);
    for (const c of clusters.values()) {
      const mine = vms.filter((v) => v.cluster === c.name);
      if (c.state === 'deleting') {
        if (!mine.length) releaseCluster(this.store, c.name, ACTOR);
        continue;
      }
      const running = mine.filter((v) => v.desired === 'running');
      const bad = running.filter((v) => v.observed !== 'running');
      if (!bad.length) setClusterState(this.store, c.name, 'ready', null, ACTOR);
      else if (c.state !== 'creating' || bad.some((v) => v.observed === 'host-down'))
        setClusterState(this.store, c.name, c.state === 'creating' && !bad.some((v) => v.observed === 'host-down') ? 'creating' : 'degraded', bad.map((v) => `${v.name} ${v.observed}`).join(', '), ACTOR);
    }
  }

  private async publishEndpoints(): Promise<void> {
    const hosts = new Map(kvmHosts(this.store).map((h) => [h.name, h.address]));
    const vms = listVms(this.store).filter((v) => v.desired === 'running');
    const eps: EndpointSpec[] = [];
    for (const c of listClusters(this.store)) {
      if (c.state === 'deleting') continue;
      const mine = vms.filter((v) => v.cluster === c.name && hosts.get(v.host));
      const be = (role: string, off: number) => mine.filter((v) => v.role === role).map((v) => ({ id: v.name, host: hosts.get(v.host)!, port: v.forwardPort + off }));
      eps.push({ name: `${c.name}/api`, port: c.endpointPort, backends: be('control-plane', 0) });
      eps.push({ name: `${c.name}/http`, port: c.endpointPort + 1, backends: be('worker', 0) });
      eps.push({ name: `${c.name}/https`, port: c.endpointPort + 2, backends: be('worker', 1) });
    }
    try {
      await this.proxy.set(eps);
    } catch (err) {
      this.log.error({ err }, 'cluster endpoints cannot all listen');
    }
  }

  /** Workers about to be removed from a live cluster are drained first, through the cluster's API endpoint, bounded. */
  private async drainLeaving(): Promise<void> {
    for (const v of listVms(this.store)) {
      if (v.desired !== 'removed' || v.role !== 'worker' || this.drained.has(v.name)) continue;
      const c = getCluster(this.store, v.cluster);
      this.drained.add(v.name);
      if (!c || c.state === 'deleting') continue;
      const s = c.secrets;
      let detail: Record<string, unknown>;
      try {
        const admin = await issueAdminCert(s.ca);
        const r = await drainNode({ server: this.endpointsOf(c).api, caPem: s.ca.certPem, certPem: admin.certPem, keyPem: admin.keyPem, node: v.name, timeoutMs: this.config.clusters.drainTimeoutS * 1000 });
        detail = { cordoned: r.cordoned, evicted: r.evicted, remaining: r.remaining, timedOut: r.timedOut };
      } catch (err) {
        // A cluster whose API does not answer cannot be drained: the VM goes anyway, recorded.
        detail = { skipped: (err as Error).message };
      }
      this.store.tx(() => this.store.appendEvent({ actor: ACTOR, kind: 'cluster.vm.drained', details: { cluster: v.cluster, vm: v.name, ...detail } }));
    }
  }
}

