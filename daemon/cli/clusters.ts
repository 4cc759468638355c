// `ironbay clusters` and `ironbay cluster create|scale|delete|show|kubeconfig|reconcile`.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { IronbayError } from '../errors.ts';
import type { ClusterPlan } from '../clusters/store.ts';
import type { ClusterService, PassResult } from '../clusters/service.ts';
import type { ApiClient } from './client.ts';
import { table } from './table.ts';

type Out = (s: string) => void;
type ListOut = ReturnType<ClusterService['list']>;
type ShowOut = ReturnType<ClusterService['show']>;

function printPlan(p: ClusterPlan & { created: boolean }, dryRun: boolean, out: Out): void {
  out(`cluster ${p.name}: VNI ${p.vni}, node subnet ${p.subnet} (gateway ${p.gateway}), endpoint ports ${p.endpointPort}-${p.endpointPort + 2}`);
  out(
    table(
      ['VM', 'ROLE', 'HOST', 'ADDRESS', 'MAC', 'CHANGE'],
      p.vms.map((v) => [v.name, v.role, v.host, v.address, v.mac, v.change === 'add' ? (dryRun ? 'would add' : 'added') : v.change === 'remove' ? (dryRun ? 'would drain and remove' : 'draining, then removed') : 'stays']),
    ),
  );
  for (const w of p.warnings) out(`warning: ${w}`);
  if (dryRun) out('dry run: nothing was changed');
}

export function registerClusterCommands(program: Command, api: () => Promise<ApiClient>, out: Out, json: (v: unknown) => void): void {
  program
    .command('clusters')
    .description('workload clusters: state, VMs running, API endpoint')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) => {
      const r = await (await api()).request<{ clusters: ListOut }>('GET', '/api/v1/clusters');
      if (o.json) return json(r.clusters);
      out(
        table(
          ['NAME', 'STATE', 'VMS', 'VNI', 'SUBNET', 'API', 'SOURCE'],
          r.clusters.map((c) => [c.name, c.state + (c.stateReason ? ` (${c.stateReason})` : ''), `${c.vms.running}/${c.vms.total}`, String(c.vni), c.subnet, c.endpoints.api, c.source]),
        ),
      );
    });

  const cluster = program.command('cluster').description('one workload cluster');
  const int = (v: string): number => {
    const n = Number.parseInt(v, 10);
    if (!Number.isInteger(n) || String(n) !== v.trim() || n < 0) throw new IronbayError('IB_ERR_BAD_REQUEST', `${v}: expected a whole number`);
    return n;
  };

  cluster
    .command('create <name>')
    .description('create a cluster on the ready kvm-hosts; --dry-run prints the placement only')
    .requiredOption('--workers <n>', 'worker VMs', int)
    .option('--control-planes <n>', 'control-plane VMs: 1 or 3', int, 1)
    .option('--vcpu <n>', 'vCPUs per VM', int, 2)
    .option('--memory <MiB>', 'memory per VM in MiB', int, 4096)
    .option('--disk <GiB>', 'root disk per VM in GiB', int, 20)
    .requiredOption('--image <path>', "base image, relative to the hosts' clusters.imageDir")
    .option('--kubernetes <version>', 'Kubernetes version', '1.31.2')
    .option('--pod-cidr <cidr>', 'pod network', '100.64.0.0/16')
    .option('--service-cidr <cidr>', 'service network', '100.65.0.0/16')
    .option('--subnet <cidr>', "node subnet (default: one from the configuration's clusters.overlayPool)")
    .option('--calico-pool <cidr>', 'Calico IP pool (default: the pod network)')
    .option('--calico-as <n>', 'Calico BGP AS number', int)
    .option('--calico-encapsulation <mode>', 'none, ipip or vxlan')
    .option('--dry-run', 'print the placement and allocation, change nothing')
    .option('--json', 'JSON output')
    .action(async (name: string, o: Record<string, string | number | boolean | undefined>) => {
      const calico = {
        ...(o.calicoPool !== undefined && { ipPool: o.calicoPool }),
        ...(o.calicoAs !== undefined && { asNumber: o.calicoAs }),
        ...(o.calicoEncapsulation !== undefined && { encapsulation: o.calicoEncapsulation }),
      };
      const body = {
        name,
        controlPlanes: o.controlPlanes,
        workers: o.workers,
        node: { vcpu: o.vcpu, memoryMiB: o.memory, diskGiB: o.disk },
        image: o.image,
        kubernetesVersion: o.kubernetes,
        podCidr: o.podCidr,
        serviceCidr: o.serviceCidr,
        ...(o.subnet !== undefined && { subnet: o.subnet }),
        ...(Object.keys(calico).length && { calico }),
      };
      const r = await (await api()).request<{ plan: ClusterPlan & { created: boolean } }>('POST', `/api/v1/clusters${o.dryRun ? '?dryRun=true' : ''}`, body);
      if (o.json) return json(r.plan);
      printPlan(r.plan, !!o.dryRun, out);
      if (!o.dryRun) out(`follow it with: ironbay cluster show ${name}`);
    });

  cluster
    .command('scale <name>')
    .description('set the worker count; leaving workers are drained, then removed')
    .requiredOption('--workers <n>', 'worker VMs', int)
    .option('--dry-run', 'print what would change')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { workers: number; dryRun?: boolean; json?: boolean }) => {
      const r = await (await api()).request<{ plan: ClusterPlan & { created: boolean } }>('POST', `/api/v1/clusters/${encodeURIComponent(name)}/scale${o.dryRun ? '?dryRun=true' : ''}`, { workers: o.workers });
      if (o.json) return json(r.plan);
      printPlan(r.plan, !!o.dryRun, out);
    });

  cluster
    .command('delete <name>')
    .description('delete a cluster: its VMs, disks and networks on every host; its VNI and subnet are released')
    .action(async (name: string) => {
      await (await api()).request('DELETE', `/api/v1/clusters/${encodeURIComponent(name)}`);
      out(`cluster ${name}: deleting (ironbay clusters shows it until it is gone)`);
    });

  cluster
    .command('show <name>')
    .description('a cluster: its VMs, where they run and their state, and its endpoints with their backends')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }) => {
      const c = await (await api()).request<ShowOut>('GET', `/api/v1/clusters/${encodeURIComponent(name)}`);
      if (o.json) return json(c);
      out(`cluster ${c.name}  ${c.state}${c.stateReason ? ` (${c.stateReason})` : ''}  from ${c.source}`);
      out(`  Kubernetes ${c.spec.kubernetesVersion}, ${c.spec.controlPlanes} control plane${c.spec.controlPlanes === 1 ? '' : 's'} + ${c.spec.workers} workers, ${c.spec.node.vcpu} vCPU / ${c.spec.node.memoryMiB} MiB / ${c.spec.node.diskGiB} GiB each, image ${c.spec.image}`);
      out(`  network: VNI ${c.vni}, node subnet ${c.subnet}, gateway ${c.gateway}; pods ${c.spec.podCidr}, services ${c.spec.serviceCidr}`);
      out(`  API endpoint:     ${c.endpoints.api}`);
      out(`  ingress:          ${c.endpoints.http}  ${c.endpoints.https}`);
      out('');
      out(table(['VM', 'ROLE', 'HOST', 'ADDRESS', 'STATE', 'SINCE'], c.vms.map((v) => [v.name, v.role, v.host + (v.hostReachable ? '' : ' (unreachable)'), v.address, v.desired === 'removed' ? `removing (${v.observed})` : v.observed, v.observedAt ?? ''])));
      for (const e of c.endpointStatus) {
        out('');
        out(`${e.name} :${e.port}  ${e.backends.filter((b) => b.healthy !== false).length}/${e.backends.length} backends healthy`);
        for (const b of e.backends) out(`  ${b.id}  ${b.host}:${b.port}  ${b.healthy === null ? 'unchecked' : b.healthy ? 'up' : `down${b.lastError ? ` (${b.lastError})` : ''}`}`);
      }
    });

  cluster
    .command('kubeconfig <name>')
    .description("an admin kubeconfig pointing at the cluster's API endpoint on the appliance")
    .option('-o, --output <file>', 'write it to this file (mode 0600) instead of standard output')
    .action(async (name: string, o: { output?: string }) => {
      const res = await (await api()).fetch('GET', `/api/v1/clusters/${encodeURIComponent(name)}/kubeconfig`);
      const text = await res.text();
      if (!res.ok) {
        const e = JSON.parse(text) as { code?: 'IB_ERR_NOT_FOUND'; message?: string };
        throw new IronbayError(e.code ?? 'IB_ERR_INTERNAL', e.message ?? text);
      }
      if (!o.output) return out(text.replace(/\n$/, ''));
      writeFileSync(o.output, text, { mode: 0o600 });
      out(`wrote ${o.output}`);
    });

  cluster
    .command('reconcile')
    .description('read every kvm-host now and repair what differs; prints what each host needed')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) => {
      const r = await (await api()).request<PassResult>('POST', '/api/v1/clusters/reconcile');
      if (o.json) return json(r);
      out(
        table(
          ['HOST', 'RESULT', 'SSH COMMANDS', 'NETWORK', 'ROUTERS', 'CREATED', 'STARTED', 'REMOVED'],
          r.hosts.map((h) => [h.host, h.ok ? 'ok' : `error: ${h.error ?? ''}`, String(h.commands), String(h.network + (h.rules ? 1 : 0)), h.routers.join(',') || '-', h.created.join(',') || '-', h.started.join(',') || '-', [...h.removed, ...h.orphans].join(',') || '-']),
        ),
      );
      out(`pass: ${Math.round(r.ms)} ms`);
    });
}
