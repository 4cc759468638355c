// The emulated KVM hosts (test/helpers/kvmhost.ts) and the cluster guest
// (test/helpers/cluster-guest.ts) with real peers, the way ironbay will use them (issue #7):
// over SSH (ssh2, host key pinned) each host is its own machine — its own libvirtd, network
// namespaces, hostname and /etc — and on host 1 a cluster VM is made from a qcow2 overlay, a
// cloud-localds NoCloud seed and ironbay's own domain XML (kvm/domain.ts), boots under TCG,
// answers ping and HTTP on its cluster bridge, and powers off on the ACPI button.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from 'ssh2';
import { domainXml } from '../../kvm/domain.ts';
import { ensureClusterGuest, type ClusterGuest } from '../helpers/cluster-guest.ts';
import { E2E_ASSETS } from '../helpers/initrd.ts';
import { kvmHostsAvailable, startKvmHosts, type KvmHost, type KvmHosts } from '../helpers/kvmhost.ts';
import { run } from '../helpers/run.ts';
import { generateKeyPair, tcpBanner } from '../helpers/sshd.ts';

const VIRSH = 'virsh -c qemu:///system';
const VM = 'c1-cp-1';
const MAC = '02:aa:bb:cc:dd:ee';
// Cluster addresses stay in 198.18.0.0/15 here, as everywhere in the tests.
const GATEWAY = '198.18.200.1';
const VM_IP = '198.18.200.10';
const NETWORK_CONFIG = `version: 2
ethernets:
  eth0:
    match:
      macaddress: "${MAC}"
    set-name: eth0
    mtu: 1450
    addresses:
      - ${VM_IP}/24
    routes:
      - to: default
        via: ${GATEWAY}
`;
const USER_DATA = '#cloud-config\nruncmd:\n  - [kubeadm, init, --config, /etc/kubeadm.yaml]\n';
const META_DATA = `instance-id: ${VM}\nlocal-hostname: cp-1\n`;

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

function connect(h: KvmHost, privateKey: string): Promise<Client> {
  const c = new Client();
  return new Promise((resolve, reject) => {
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({
      host: h.address,
      port: h.port,
      username: 'root',
      privateKey,
      readyTimeout: 10_000,
      hostVerifier: (key: Buffer) => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` === h.hostKeyFingerprint,
    });
  });
}

function ssh(c: Client, cmd: string, input?: Buffer | string): Promise<Out> {
  return new Promise((resolve, reject) => {
    c.exec(cmd, (err, ch) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      ch.on('data', (d: Buffer) => (stdout += d.toString()));
      ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // The status comes with 'close' (see daemon/ssh/connection.ts).
      ch.on('close', (code?: number | null) => resolve({ code: code ?? null, stdout, stderr }));
      ch.end(input);
    });
  });
}

async function sshOk(c: Client, cmd: string, input?: Buffer | string): Promise<string> {
  const r = await ssh(c, cmd, input);
  assert.equal(r.code, 0, `${cmd}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('emulated KVM hosts', { skip: !kvmHostsAvailable() && 'libvirt-daemon-system, qemu-utils or cloud-image-utils missing (run setup.sh)' }, () => {
  let keyDir = '';
  let kvm: KvmHosts;
  let guest: ClusterGuest;
  const clients: Client[] = [];
  let h1: KvmHost;
  let h2: KvmHost;

  before(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'ironbay-kvmhost-test-'));
    const key = await generateKeyPair(keyDir, 'appliance');
    [guest, kvm] = await Promise.all([ensureClusterGuest(), startKvmHosts(2, { authorizedKeys: [key.publicKey] })]);
    [h1, h2] = kvm.hosts as [KvmHost, KvmHost];
    clients.push(...(await Promise.all(kvm.hosts.map((h) => connect(h, key.privateKey)))));
  });

  after(async () => {
    for (const c of clients) c.end();
    await kvm?.stopAll();
    rmSync(keyDir, { recursive: true, force: true });
  });

  test('each host is its own machine over SSH: libvirtd, network namespaces, hostname, /etc', async () => {
    const [c1, c2] = clients as [Client, Client];
    // 198.18.64.1 unless another run holds that /24 now.
    assert.match(kvm.appliance, /^198\.18\.\d+\.1$/);
    for (const [c, h] of [
      [c1, h1],
      [c2, h2],
    ] as const) {
      assert.equal((await sshOk(c, 'hostname')).trim(), h.hostname);
      assert.equal((await sshOk(c, `${VIRSH} list --all --name`)).trim(), '', 'no domains');
      assert.match(await sshOk(c, 'ip -4 -o addr show dev prod0'), new RegExp(`inet ${h.address.replaceAll('.', '\\.')}/24 `));
      assert.match(await sshOk(c, 'ip route show default'), new RegExp(`default via ${kvm.appliance.replaceAll('.', '\\.')} dev prod0`));
      assert.equal((await sshOk(c, 'cat /sys/class/net/prod0/mtu')).trim(), '1500');
      assert.match(await sshOk(c, 'ethtool -k prod0'), /tx-checksumming: off/);
      assert.equal((await sshOk(c, 'sysctl -n net.ipv4.ip_forward')).trim(), '1');
      assert.equal((await sshOk(c, 'pgrep -c -x libvirtd')).trim(), '1', 'one libvirtd in its PID namespace');
      // The same name on both hosts: no collision, and nothing in the root namespace.
      await sshOk(c, 'ip netns add ibrt100 && ip netns exec ibrt100 ip link set lo up');
      assert.equal((await sshOk(c, 'ip netns list')).trim().split(/\s/)[0], 'ibrt100');
      assert.equal((await sshOk(c, 'iptables -t nat -S POSTROUTING')).trim(), '-P POSTROUTING ACCEPT');
    }
    assert.doesNotMatch((await run('ip', ['netns', 'list'])).stdout, /^ibrt100\b/m);
    // Files ironbay writes on a host stay on that host.
    await sshOk(c1, 'echo h1 >/etc/ironbay/probe && echo h1 >/etc/systemd/network/50-probe.network && echo h1 >/var/lib/ironbay/probe');
    assert.equal(readFileSync(join(h1.dirs.etc, 'ironbay/probe'), 'utf8'), 'h1\n');
    assert.equal(readFileSync(h1.path('/var/lib/ironbay/probe'), 'utf8'), 'h1\n');
    assert.ok(!existsSync('/etc/ironbay/probe') && !existsSync('/etc/systemd/network/50-probe.network'), 'not on this machine');
    assert.equal((await ssh(c2, 'test -e /etc/ironbay/probe || test -e /var/lib/ironbay/probe')).code, 1, 'not on host 2');
    // iptables on one host leaves the other's alone.
    await sshOk(c1, 'iptables -t nat -A POSTROUTING -s 198.18.200.0/24 -o prod0 -j MASQUERADE');
    assert.match(await h1.sh('iptables -t nat -S POSTROUTING'), /MASQUERADE/);
    assert.doesNotMatch(await h2.sh('iptables -t nat -S POSTROUTING'), /MASQUERADE/);
    await sshOk(c1, 'iptables -t nat -F POSTROUTING && ip netns del ibrt100');
    await sshOk(c2, 'ip netns del ibrt100');
    // Host to host over the production network.
    await sshOk(c1, `ping -c 1 -W 2 ${h2.address}`);
  });

  test('a host that is down does not answer; up again, it does', async () => {
    await kvm.hostDown(2);
    assert.equal(await tcpBanner(h2.address, h2.port, 1_000), undefined);
    await kvm.hostUp(2);
    let banner: string | undefined;
    for (let i = 0; i < 20 && !banner; i++) {
      banner = await tcpBanner(h2.address, h2.port, 1_000);
      if (!banner) await sleep(100);
    }
    assert.match(banner ?? '', /^SSH-2\.0-/);
    // The established session survived the outage.
    assert.equal((await sshOk(clients[1]!, 'hostname')).trim(), h2.hostname);
  });

  test('the guest reads network-config as ironbay renders it (netplan.awk, under busybox awk)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ironbay-netplan-'));
    try {
      const file = join(dir, 'network-config');
      writeFileSync(file, NETWORK_CONFIG);
      const awk = (mac: string) => run(join(E2E_ASSETS, 'busybox'), ['awk', '-v', `mac=${mac}`, '-f', join(import.meta.dirname, '../helpers/cluster-guest/netplan.awk'), file]);
      assert.equal((await awk(MAC.toUpperCase())).stdout, `${VM_IP}/24 1450 ${GATEWAY} eth0\n`);
      assert.equal((await awk('02:00:00:00:00:01')).stdout, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a cluster VM on host 1: overlay, seed, bridge, domain; boots, answers ping and HTTP, powers off on ACPI', async (t) => {
    const c = clients[0]!;
    const dir = `/var/lib/ironbay/vms/${VM}`;
    const consoleLog = `/var/log/ironbay/${VM}.console.log`;
    await sshOk(c, `mkdir -p /var/lib/ironbay/images /var/lib/ironbay/guest ${dir} /var/log/ironbay`);
    // The guest's kernel and initrd, as ironbay would copy a cluster image.
    await sshOk(c, 'cat >/var/lib/ironbay/guest/vmlinuz', readFileSync(guest.kernel));
    await sshOk(c, 'cat >/var/lib/ironbay/guest/initrd.gz', readFileSync(guest.initrd));
    const seedFiles = [
      ['meta-data', META_DATA],
      ['network-config', NETWORK_CONFIG],
      ['user-data', USER_DATA],
    ] as const;
    for (const [name, text] of seedFiles) await sshOk(c, `cat >${dir}/${name}`, text);
    await sshOk(
      c,
      [
        'set -e',
        'truncate -s 64M /var/lib/ironbay/images/base.raw',
        `qemu-img create -q -f qcow2 -b /var/lib/ironbay/images/base.raw -F raw ${dir}/disk.qcow2`,
        `cloud-localds -N ${dir}/network-config ${dir}/seed.iso ${dir}/user-data ${dir}/meta-data`,
        'ip link add tbr0 type bridge',
        'ip link set tbr0 mtu 1450',
        `ip addr add ${GATEWAY}/24 dev tbr0`,
        'ip link set tbr0 up',
      ].join('\n'),
    );
    assert.match(await sshOk(c, `qemu-img info ${dir}/disk.qcow2`), /backing file: \/var\/lib\/ironbay\/images\/base\.raw/);
    const xml = domainXml({
      name: VM,
      cluster: 'c1',
      role: 'control-plane',
      type: 'qemu',
      vcpu: 1,
      memoryMiB: 192,
      disk: `${dir}/disk.qcow2`,
      seed: `${dir}/seed.iso`,
      bridge: 'tbr0',
      mac: MAC,
      mtu: 1450,
      consoleLog,
      kernel: { kernel: '/var/lib/ironbay/guest/vmlinuz', initrd: '/var/lib/ironbay/guest/initrd.gz', cmdline: guest.cmdline },
    });
    await sshOk(c, `cat >${dir}/domain.xml`, xml);
    const t0 = performance.now();
    await sshOk(c, `${VIRSH} define ${dir}/domain.xml`);
    const tDefined = performance.now();
    await sshOk(c, `${VIRSH} start ${VM}`);
    const tStarted = performance.now();
    assert.equal((await h2.sh(`${VIRSH} list --all --name`)).trim(), '', "host 2's libvirtd knows nothing of it");

    let log = '';
    const until = performance.now() + 45_000;
    while (!/IRONBAY-GUEST-(UP|NO-SEED|NET-FAILED)/.test(log) && performance.now() < until) {
      await sleep(200);
      log = existsSync(h1.path(consoleLog)) ? readFileSync(h1.path(consoleLog), 'utf8') : '';
    }
    const tUp = performance.now();
    t.diagnostic(`define ${Math.round(tDefined - t0)} ms, start ${Math.round(tStarted - tDefined)} ms, IRONBAY-GUEST-UP ${Math.round(tUp - tStarted)} ms after start`);
    assert.match(log, new RegExp(`IRONBAY-GUEST-SEED user-data=${Buffer.byteLength(USER_DATA)} kubeadm=yes`), log);
    assert.match(log, new RegExp(`IRONBAY-GUEST-UP hostname=cp-1 ip=${VM_IP.replaceAll('.', '\\.')} mtu=1450 uptime=`), log);

    // The kernel answers ping, at the full overlay MTU with DF set (1450 - 28); HTTP on all three ports.
    await sshOk(c, `ping -c 3 -i 0.2 -W 2 ${VM_IP} >/dev/null || ping -c 1 -W 2 ${VM_IP}`);
    await sshOk(c, `ping -c 1 -W 2 -M do -s 1422 ${VM_IP}`);
    for (const port of [6443, 80, 443]) assert.equal((await sshOk(c, `curl -sS --max-time 5 http://${VM_IP}:${port}/`)).trim(), 'ironbay-guest cp-1');

    // virsh shutdown is the ACPI power button; destroy only after a deadline.
    const tShutdown = performance.now();
    await sshOk(c, `${VIRSH} shutdown ${VM}`);
    let state = '';
    for (const deadline = performance.now() + 20_000; performance.now() < deadline; await sleep(250)) {
      state = (await sshOk(c, `${VIRSH} domstate ${VM}`)).trim();
      if (state === 'shut off') break;
    }
    const graceful = state === 'shut off';
    if (!graceful) await sshOk(c, `${VIRSH} destroy ${VM}`);
    t.diagnostic(`ACPI shutdown ${graceful ? `${Math.round(performance.now() - tShutdown)} ms` : 'timed out: destroyed'}`);
    assert.ok(graceful, `still ${state} 20 s after virsh shutdown`);
    assert.match(readFileSync(h1.path(consoleLog), 'utf8'), /IRONBAY-GUEST-POWEROFF/);
    await sshOk(c, `${VIRSH} undefine ${VM}`);
    assert.equal((await sshOk(c, `${VIRSH} list --all --name`)).trim(), '');
    assert.equal((await sshOk(c, 'pgrep -c qemu-system || true')).trim(), '0', 'no qemu left (reaped: sshd is the init)');
  });
});
