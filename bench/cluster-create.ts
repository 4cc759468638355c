// Time from `cluster create` to every VM running and answering (issue #7), for 1 and for 3
// clusters of 3 VMs on 2 emulated KVM hosts (test/helpers/kvmhost.ts: real sshd, libvirtd,
// qemu under TCG, VXLAN, iptables; the test guest answers HTTP on 6443 once its network is
// up), with the breakdown the issue asks for: allocation and placement, network setup on the
// hosts, disk overlay, seed, define, start, and boot until the VM answers through its
// cluster's router. Each VM's steps are dated by the host (its apply script marks them).
//
//   npx node bench/cluster-create.ts [--rounds 1]
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { listClusters, listVms } from '../daemon/clusters/store.ts';
import { routerNs } from '../kvm/router.ts';
import { testApp } from '../test/helpers/app.ts';
import { ensureClusterGuest } from '../test/helpers/cluster-guest.ts';
import { startKvmHosts } from '../test/helpers/kvmhost.ts';
import { generateKeyPair } from '../test/helpers/sshd.ts';
import { median, printTable } from './_stats.ts';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '1' } } });
const ROUNDS = Number(args.rounds);

const keyDir = mkdtempSync(join(tmpdir(), 'ironbay-bench-key-'));
const key = await generateKeyPair(keyDir, 'appliance');
const kvm = await startKvmHosts(2, { authorizedKeys: [key.publicKey], tag: 'bcc' });
const imageDir = mkdtempSync(join(tmpdir(), 'ironbay-bench-img-'));
writeFileSync(join(imageDir, 'base.raw'), '');
truncateSync(join(imageDir, 'base.raw'), 64 * 1024 * 1024);
try {
  const guest = await ensureClusterGuest();
  const machines = kvm.hosts
    .map((h, i) => `  - name: ${h.hostname}\n    macs: ["52:54:00:00:71:0${i + 1}"]\n    role: kvm-host\n    zone: z${i}\n    production: { address: ${h.address}/24 }\n    capacity: { vcpu: 32, memoryMiB: 16384, diskGiB: 100 }\n`)
    .join('');
  const config = [
    `ssh: { keyFile: ${key.privateKeyPath} }`,
    'clusters:',
    '  vniRange: { min: 800, max: 899 }',
    '  overlayPool: 198.19.0.0/16',
    '  domainType: qemu',
    `  imageDir: ${imageDir}`,
    `  kernel: { path: ${guest.kernel}, initrd: ${guest.initrd}, cmdline: "${guest.cmdline}" }`,
    `  endpoints: { listen: ${kvm.appliance}, ports: { min: 27000, max: 27099 } }`,
    '  shutdownTimeoutS: 5',
    '',
  ].join('\n');
  const t = await testApp(`machines:\n${machines}`, config);
  t.store.db.prepare("UPDATE machines SET state = 'ready'").run();
  // A first define on each host makes libvirt probe qemu (~1-2 s): not part of any create.
  await Promise.all(kvm.hosts.map((h) => h.sh('virsh -q -c qemu:///system capabilities >/dev/null; virsh -q -c qemu:///system domcapabilities --virttype qemu >/dev/null')));

  const rows: string[][] = [];
  let n = 0;
  for (const count of [1, 3]) {
    const totals: number[] = [];
    const parts: Record<string, number[]> = { allocate: [], network: [], disk: [], seed: [], define: [], start: [], boot: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const names = Array.from({ length: count }, () => `b${n++}`);
      const t0 = Date.now();
      for (const name of names)
        await t.clusters.create({ name, controlPlanes: 1, workers: 2, node: { vcpu: 1, memoryMiB: 512, diskGiB: 2 }, image: 'base.raw', kubernetesVersion: '1.31.2', podCidr: '100.64.0.0/16', serviceCidr: '100.65.0.0/16' }, { actor: 'bench' });
      const allocated = Date.now();
      const pass = await t.clusters.reconcile();
      if (!pass.hosts.every((h) => h.ok)) throw new Error(pass.hosts.map((h) => h.error).join('; '));
      const vms = listVms(t.store).filter((v) => names.includes(v.cluster));
      const vniOf = new Map(listClusters(t.store).map((c) => [c.name, c.vni]));
      // Reachable: the VM's HTTP answers through its cluster's router on its host.
      const reached = new Map<string, number>();
      await Promise.all(
        vms.map(async (v) => {
          const h = kvm.hosts.find((x) => x.hostname === v.host)!;
          for (let i = 0; i < 1200; i++) {
            const r = await h.exec(`ip netns exec ${routerNs(vniOf.get(v.cluster)!)} curl -s -m 1 http://${v.address.split('/')[0]}:6443/`);
            if (r.code === 0 && r.stdout.includes(v.name)) {
              reached.set(v.name, Date.now());
              return;
            }
            await sleep(100);
          }
          throw new Error(`${v.name} never answered`);
        }),
      );
      totals.push(Math.max(...reached.values()) - t0);
      parts.allocate!.push(allocated - t0);
      for (const hp of pass.hosts) {
        const mine = Object.entries(hp.timings).filter(([vm]) => reached.has(vm));
        if (!mine.length || hp.applyAt === undefined) continue;
        parts.network!.push(Math.min(...mine.map(([, s]) => s.begin!)));
        for (const [vm, s] of mine) {
          parts.disk!.push(s.disk! - s.begin!);
          parts.seed!.push(s.seed! - s.disk!);
          parts.define!.push(s.define! - s.seed!);
          parts.start!.push(s.start! - s.define!);
          parts.boot!.push(reached.get(vm)! - (hp.applyAt + s.start!));
        }
      }
      for (const name of names) t.clusters.remove(name, 'bench');
      await t.clusters.reconcile();
    }
    const ms = (xs: number[]): string => `${median(xs).toFixed(0)} ms`;
    rows.push([`${count} × 3 VMs`, `${(median(totals) / 1000).toFixed(1)} s`, ms(parts.allocate!), ms(parts.network!), ms(parts.disk!), ms(parts.seed!), ms(parts.define!), ms(parts.start!), `${(median(parts.boot!) / 1000).toFixed(1)} s`]);
  }
  printTable(['clusters', 'create → all answer', 'allocate+place', 'network (per host)', 'disk', 'seed', 'define', 'start', 'boot (start → answers)'], rows);
  console.log('per-VM steps are medians over the VMs; network is the apply script up to its first VM, per host');
  await t.close();
} finally {
  await kvm.stopAll();
  for (const d of [keyDir, imageDir]) rmSync(d, { recursive: true, force: true });
}
