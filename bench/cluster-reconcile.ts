// Reconcile pass over 100 clusters × 5 VMs (issue #7): how long a pass takes and how many SSH
// commands it issues when nothing has changed, against fake KVM hosts — real namespaces with
// real sshd, iproute2, VXLAN, router namespaces and iptables (test/helpers/kvmhost.ts), but
// stand-ins for virsh, qemu-img and cloud-localds (500 VMs do not boot on 2 cores). The
// first pass builds every network for real; the passes after it must only read, one command
// per host. Beside it, the same facts read the way a per-resource checker (one command per
// device, FDB, router and domain, as configuration-management modules check state) would, over
// the same kept connections: the ratio is what the one-read design saves.
//
//   npx node bench/cluster-reconcile.ts [--hosts 4] [--clusters 100] [--vms 5] [--rounds 3]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { listVms } from '../daemon/clusters/store.ts';
import { readCommand } from '../kvm/hostplan.ts';
import { connect, type SshConnection } from '../daemon/ssh/connection.ts';
import { testApp } from '../test/helpers/app.ts';
import { startKvmHosts } from '../test/helpers/kvmhost.ts';
import { generateKeyPair } from '../test/helpers/sshd.ts';
import { median, printTable } from './_stats.ts';

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '4' },
    clusters: { type: 'string', default: '100' },
    vms: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    'profile-read': { type: 'boolean', default: false },
  },
});
const HOSTS = Number(args.hosts);
const CLUSTERS = Number(args.clusters);
const VMS = Number(args.vms);
const ROUNDS = Number(args.rounds);

/** Stand-ins: domains kept as files under the host's private /var (one line: the state). */
const FAKE_VIRSH = `#!/bin/sh
# bench/cluster-reconcile.ts: libvirt's virsh as far as ironbay uses it, domains as files.
d=/var/lib/fakevirt
mkdir -p "$d"
while [ $# -gt 0 ]; do case $1 in -q) shift ;; -c) shift 2 ;; *) break ;; esac; done
cmd=$1
shift
case $cmd in
  list) for f in "$d"/*; do [ -f "$f" ] && printf ' -    %s   %s\\n' "\${f##*/}" "$(cat "$f")"; done; exit 0 ;;
  define) n=$(sed -n 's:.*<name>\\(.*\\)</name>.*:\\1:p' "$1" | head -n 1); echo 'shut off' >"$d/$n" ;;
  autostart) test -f "$d/$1" ;;
  start) test -f "$d/$1" && echo running >"$d/$1" ;;
  domstate) test -f "$d/$1" && cat "$d/$1" ;;
  shutdown | destroy) test -f "$d/$1" && echo 'shut off' >"$d/$1" ;;
  undefine) rm -f "$d/$1" ;;
  *) echo "fake virsh: $cmd" >&2; exit 1 ;;
esac
`;
const FAKE_QEMU_IMG = `#!/bin/sh
# bench/cluster-reconcile.ts: qemu-img create makes an empty file.
for a; do last2=$prev; prev=$a; done
: >"$last2"
`;
const FAKE_CLOUD_LOCALDS = `#!/bin/sh
# bench/cluster-reconcile.ts: cloud-localds [--network-config=F] OUT USER META makes an empty OUT.
for a; do case $a in -*) ;; *) : >"$a"; exit 0 ;; esac; done
`;

const fake = mkdtempSync(join(tmpdir(), 'ironbay-bench-fakevirt-'));
writeFileSync(join(fake, 'virsh'), FAKE_VIRSH, { mode: 0o755 });
writeFileSync(join(fake, 'qemu-img'), FAKE_QEMU_IMG, { mode: 0o755 });
writeFileSync(join(fake, 'cloud-localds'), FAKE_CLOUD_LOCALDS, { mode: 0o755 });
const keyDir = mkdtempSync(join(tmpdir(), 'ironbay-bench-key-'));
const key = await generateKeyPair(keyDir, 'appliance');
const kvm = await startKvmHosts(HOSTS, { authorizedKeys: [key.publicKey], tag: 'bcr', fakeBin: fake });
const imageDir = mkdtempSync(join(tmpdir(), 'ironbay-bench-img-'));
writeFileSync(join(imageDir, 'base.raw'), '');
const conns: SshConnection[] = [];
try {
  const machines = kvm.hosts
    .map((h, i) => `  - name: ${h.hostname}\n    macs: ["52:54:00:00:61:${(i + 1).toString(16).padStart(2, '0')}"]\n    role: kvm-host\n    zone: z${i % 3}\n    production: { address: ${h.address}/24 }\n    capacity: { vcpu: 4096, memoryMiB: 4194304, diskGiB: 100000 }\n`)
    .join('');
  const config = [
    `ssh: { keyFile: ${key.privateKeyPath} }`,
    'clusters:',
    '  vniRange: { min: 1000, max: 1999 }',
    '  overlayPool: 198.19.0.0/16',
    '  domainType: qemu',
    `  imageDir: ${imageDir}`,
    '  endpoints: { listen: 127.0.0.1, ports: { min: 30000, max: 30999 } }',
    '',
  ].join('\n');
  const t = await testApp(`machines:\n${machines}`, config);
  t.store.db.prepare("UPDATE machines SET state = 'ready'").run();
  for (let i = 0; i < CLUSTERS; i++)
    await t.clusters.create(
      { name: `c${i}`, controlPlanes: 1, workers: VMS - 1, node: { vcpu: 1, memoryMiB: 512, diskGiB: 2 }, image: 'base.raw', kubernetesVersion: '1.31.2', podCidr: '100.64.0.0/16', serviceCidr: '100.65.0.0/16' },
      { actor: 'bench' },
    );
  const vms = listVms(t.store);
  console.log(`${CLUSTERS} clusters × ${VMS} VMs = ${vms.length} VMs on ${HOSTS} fake hosts`);

  const t0 = performance.now();
  const first = await t.clusters.reconcile();
  const firstMs = performance.now() - t0;
  const bad = first.hosts.filter((h) => !h.ok);
  if (bad.length) throw new Error(`the converging pass failed: ${bad.map((h) => `${h.host}: ${h.error}`).join('; ')}`);
  console.log(
    `converging pass: ${(firstMs / 1000).toFixed(1)} s, ${first.hosts.reduce((n, h) => n + h.commands, 0)} SSH commands; ` +
      `per host ${first.hosts.map((h) => `${h.routers.length} routers, ${h.created.length} VMs`).join(' | ')}`,
  );

  if (args['profile-read']) {
    // Where a read's time goes, section by section, on host 1.
    const parts = readCommand('/var/lib/ironbay/vms').split(/; echo --ironbay-section--;? ?/);
    const script = parts.map((p, i) => `s=$(date +%s%N); { ${p.replace(/;\s*$/, '')}; } >/dev/null 2>&1; echo "section ${i} $(( ($(date +%s%N) - s) / 1000000 )) ms"`).join('\n');
    console.log((await kvm.hosts[0]!.sh(script)).trim());
  }

  // The per-resource checker: the same facts, one command each, over kept connections (up
  // to 8 channels at once per host; sshd allows 10 sessions per connection).
  for (const h of kvm.hosts) conns.push(await connect({ name: h.hostname, kind: 'machine', host: h.address, port: h.port, user: 'root' }, { store: t.store, privateKey: Buffer.from(key.privateKey), actor: 'bench', connectTimeoutMs: 10_000 }));
  const clusters = new Map(t.clusters.list().map((c) => [c.name, c]));
  async function perResource(): Promise<{ ms: number; commands: number }> {
    const started = performance.now();
    let commands = 0;
    await Promise.all(
      kvm.hosts.map(async (h, i) => {
        const mine = vms.filter((v) => v.host === h.hostname);
        const vnis = [...new Set(mine.map((v) => clusters.get(v.cluster)!.vni))];
        const cmds = [
          'ip -j addr show prod0',
          'iptables-save',
          ...vnis.flatMap((n) => [`ip -d -j link show ibvx${n}`, `ip -d -j link show ibbr${n}`, `bridge -j fdb show dev ibvx${n}`, `ip -n ibrt${n} -d -j addr show`, `ip -n ibrt${n} -j route show default`]),
          ...mine.map((v) => `virsh domstate ib-${v.name}`),
        ];
        commands += cmds.length;
        let next = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next < cmds.length) {
              const r = await conns[i]!.exec({ command: cmds[next++]!, timeoutMs: 30_000, outputCap: 1 << 24 });
              if (r.exitCode !== 0) throw new Error(`${h.hostname}: exit ${r.exitCode}: ${r.stderr.text()}`);
            }
          }),
        );
      }),
    );
    return { ms: performance.now() - started, commands };
  }

  const ours: number[] = [];
  const oursCmds: number[] = [];
  const base: number[] = [];
  let baseCmds = 0;
  let readMs: number[] = [];
  await perResource(); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const p = await t.clusters.reconcile();
    const changed = p.hosts.filter((h) => h.commands !== 1 || !h.ok);
    if (changed.length) throw new Error(`a no-change pass changed something: ${JSON.stringify(changed)}`);
    ours.push(p.ms);
    oursCmds.push(p.hosts.reduce((n, h) => n + h.commands, 0));
    readMs = readMs.concat(p.hosts.map((h) => h.readMs));
    const b = await perResource();
    base.push(b.ms);
    baseCmds = b.commands;
  }
  printTable(
    ['', 'pass (median)', 'SSH commands', 'per host'],
    [
      ['ironbay (one read per host)', `${median(ours).toFixed(0)} ms`, String(oursCmds[0]), `read ${median(readMs).toFixed(0)} ms median`],
      ['per-resource checks', `${median(base).toFixed(0)} ms`, String(baseCmds), `${(baseCmds / HOSTS).toFixed(0)} commands`],
    ],
  );
  console.log(`ratio (per-resource ÷ ironbay): ${(median(base) / median(ours)).toFixed(1)}× time, ${(baseCmds / oursCmds[0]!).toFixed(0)}× commands`);
  for (const c of conns) c.close();
  await t.close();
} finally {
  await kvm.stopAll();
  for (const d of [fake, keyDir, imageDir]) rmSync(d, { recursive: true, force: true });
}
