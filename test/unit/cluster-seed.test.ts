// A cluster VM's NoCloud seed, checked by the real peers: Debian's cloud-init validates the
// user-data (`cloud-init schema`) and converts the network-config to systemd-networkd
// (`cloud-init devel net-convert`); cloud-localds packs the three files into a "cidata" ISO
// and isoinfo reads the same bytes back. The CA and the SSH keys are real too (openssl,
// ssh-keygen). Plus what each role's user-data holds: kubeadm init/join, Calico on control
// plane 0, the kernel settings, root's keys.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { load, loadAll } from 'js-yaml';
import type { Cluster } from '../../inventory/schema.ts';
import { caCertHashOf, ClusterRenderError } from '../../kvm/kubeadm.ts';
import { renderNetworkConfig, renderSeed, type RenderedSeed, type SeedInput, type SeedVm } from '../../kvm/seed.ts';

const cluster: Cluster = {
  name: 'c1',
  controlPlanes: 3,
  workers: 2,
  node: { vcpu: 2, memoryMiB: 4096, diskGiB: 20 },
  image: 'debian-12-k8s.qcow2',
  kubernetesVersion: '1.31.2',
  podCidr: '100.72.0.0/16',
  serviceCidr: '100.96.0.0/12',
  calico: { encapsulation: 'ipip' },
};
const TOKEN = 'abcdef.0123456789abcdef';
const CERT_KEY = '0123456789abcdef'.repeat(4);
const cp0: SeedVm = { name: 'c1-cp-0', index: 0, role: 'control-plane', mac: '02:aa:bb:cc:dd:ee', address: '100.96.0.10/24', gateway: '100.96.0.1', mtu: 1450 };
const cp1: SeedVm = { ...cp0, name: 'c1-cp-1', index: 1, mac: '02:aa:bb:cc:dd:01', address: '100.96.0.11/24' };
const w0: SeedVm = { ...cp0, name: 'c1-w-0', index: 0, role: 'worker', mac: '02:aa:bb:cc:dd:02', address: '100.96.0.13/24' };

let dir = '';
let keys: string[] = [];
let ca = { certPem: '', keyPem: '' };
let caHash = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ironbay-seed-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-subj', '/CN=kubernetes', '-days', '1'], { stdio: 'ignore' });
  ca = { certPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), keyPem: readFileSync(join(dir, 'ca.key'), 'utf8') };
  caHash = caCertHashOf(ca.certPem);
  keys = ['ed25519', 'rsa', 'ecdsa'].map((t) => {
    execFileSync('ssh-keygen', ['-q', '-t', t, '-N', '', '-C', `ironbay appliance ${t}`, '-f', join(dir, `id_${t}`)]);
    return readFileSync(join(dir, `id_${t}.pub`), 'utf8').trim();
  });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function seedInput(vm: SeedVm, over: Partial<SeedInput> = {}): SeedInput {
  return {
    cluster,
    vm,
    endpoint: '100.96.0.10:6443',
    extraSANs: ['203.0.113.7'],
    sshAuthorizedKeys: keys,
    dns: ['198.51.100.53'],
    secrets: { bootstrapToken: TOKEN, caCertHash: caHash, certificateKey: CERT_KEY, ...(vm === cp0 ? { ca } : {}) },
    ...over,
  };
}

interface UserData {
  hostname: string;
  manage_etc_hosts: boolean;
  disable_root: boolean;
  ssh_pwauth: boolean;
  ssh_authorized_keys: string[];
  write_files: { path: string; owner: string; permissions: string; content: string }[];
  runcmd: (string | string[])[];
}
const userData = (s: RenderedSeed): UserData => load(s.userData) as UserData;
const file = (s: RenderedSeed, path: string) => userData(s).write_files.find((f) => f.path === path);

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** `cloud-init schema` on the text; ok when Debian's cloud-init calls it a valid cloud-config. */
function cloudInitSchema(text: string): { ok: boolean; out: string } {
  const f = join(dir, `user-data-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, text);
  return run('cloud-init', ['schema', '--config-file', f]);
}

function refuses(fn: () => unknown, reason: RegExp, vm = 'c1-cp-0'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClusterRenderError, String(err));
    assert.equal(err.code, 'IB_ERR_CLUSTER_RENDER');
    assert.ok(err.message.startsWith(`cluster "c1" VM "${vm}": `), err.message);
    assert.match(err.message, reason);
    return true;
  });
}

describe('real peers', () => {
  test('cloud-init schema accepts the user-data of every role, and refuses a broken one', () => {
    const seeds = [renderSeed(seedInput(cp0)), renderSeed(seedInput(cp1)), renderSeed(seedInput(w0)), renderSeed(seedInput(cp0, { calicoOperatorManifest: '/opt/ironbay/tigera-operator.yaml' }))];
    for (const s of seeds) {
      const r = cloudInitSchema(s.userData);
      assert.ok(r.ok && r.out.includes('Valid cloud-config'), r.out);
    }
    const text = seeds[0]!.userData;
    assert.ok(text.includes('disable_root: false\n'));
    const wrongType = cloudInitSchema(text.replace('disable_root: false\n', "disable_root: 'false'\n"));
    assert.ok(!wrongType.ok && wrongType.out.includes('disable_root'), wrongType.out);
    const noPath = cloudInitSchema(text.replace('  - path: /etc/modules-load.d/k8s.conf\n', '  - nopath: /etc/modules-load.d/k8s.conf\n'));
    assert.ok(!noPath.ok && noPath.out.includes("'path' is a required property"), noPath.out);
  });

  test('cloud-init net-convert renders the network-config to a systemd-networkd unit with address, route, MTU and MAC', () => {
    const s = renderSeed(seedInput(cp0, { dns: ['198.51.100.53', '2001:db8::53'] }));
    const nc = join(dir, 'network-config');
    writeFileSync(nc, s.networkConfig);
    const out = join(dir, 'networkd');
    const r = run('cloud-init', ['devel', 'net-convert', '--network-data', nc, '--kind', 'yaml', '--output-kind', 'networkd', '--distro', 'debian', '--directory', out]);
    assert.ok(r.ok, r.out);
    const unitDir = join(out, 'etc/systemd/network');
    const units = readdirSync(unitDir).filter((f) => f.endsWith('.network'));
    assert.deepEqual(units, ['10-cloud-init-eth0.network']);
    const unit = readFileSync(join(unitDir, units[0]!), 'utf8');
    const lines = new Set(unit.split('\n'));
    for (const l of ['MACAddress=02:aa:bb:cc:dd:ee', 'Name=eth0', 'Address=100.96.0.10/24', 'MTUBytes=1450', 'Destination=0.0.0.0/0', 'Gateway=100.96.0.1', 'DNS=198.51.100.53 2001:db8::53', 'DHCP=no'])
      assert.ok(lines.has(l), `${l} missing from\n${unit}`);
  });

  test('cloud-localds packs the three files into a "cidata" ISO that gives back the same bytes', () => {
    const s = renderSeed(seedInput(w0));
    const d = join(dir, 'iso');
    mkdirSync(d, { recursive: true });
    const files = { 'meta-data': s.metaData, 'user-data': s.userData, 'network-config': s.networkConfig };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
    const iso = join(d, 'seed.iso');
    execFileSync('cloud-localds', ['--network-config', join(d, 'network-config'), iso, join(d, 'user-data'), join(d, 'meta-data')], { stdio: 'ignore' });
    assert.match(execFileSync('isoinfo', ['-d', '-i', iso], { encoding: 'utf8' }), /^Volume id: cidata$/m);
    assert.deepEqual(execFileSync('isoinfo', ['-R', '-f', '-i', iso], { encoding: 'utf8' }).trim().split('\n').sort(), ['/meta-data', '/network-config', '/user-data']);
    for (const [name, text] of Object.entries(files)) assert.equal(execFileSync('isoinfo', ['-R', '-i', iso, '-x', `/${name}`], { encoding: 'utf8' }), text, name);
  });

  test("runcmd's shell loops are valid sh", () => {
    for (const vm of [cp0, w0]) {
      for (const c of userData(renderSeed(seedInput(vm))).runcmd) {
        if (Array.isArray(c) && c[0] === 'sh') assert.ok(run('sh', ['-n', '-c', c[2]!]).ok, c[2]);
      }
    }
  });
});

describe('network-config', () => {
  test('netplan v2 in exactly the fixed layout, nameservers only when given', () => {
    const head = [
      'version: 2',
      'ethernets:',
      '  eth0:',
      '    match:',
      '      macaddress: "02:aa:bb:cc:dd:ee"',
      '    set-name: eth0',
      '    mtu: 1450',
      '    addresses:',
      '      - 100.96.0.10/24',
      '    routes:',
      '      - to: 0.0.0.0/0',
      '        via: 100.96.0.1',
    ];
    assert.equal(renderSeed(seedInput(cp0)).networkConfig, [...head, '    nameservers:', '      addresses: [198.51.100.53]', ''].join('\n'));
    assert.equal(renderSeed(seedInput(cp0, { dns: undefined })).networkConfig, [...head, ''].join('\n'));
    assert.equal(renderNetworkConfig({ ...cp0, mac: '02-AA-BB-CC-DD-EE' }), [...head, ''].join('\n'));
  });

  test('loads as YAML to the same structure, IPv6 name servers quoted so they stay strings', () => {
    assert.deepEqual(load(renderNetworkConfig(cp0, ['198.51.100.53', '::1', '2001:db8::'])), {
      version: 2,
      ethernets: {
        eth0: {
          match: { macaddress: '02:aa:bb:cc:dd:ee' },
          'set-name': 'eth0',
          mtu: 1450,
          addresses: ['100.96.0.10/24'],
          routes: [{ to: '0.0.0.0/0', via: '100.96.0.1' }],
          nameservers: { addresses: ['198.51.100.53', '::1', '2001:db8::'] },
        },
      },
    });
  });
});

describe('meta-data', () => {
  test('instance-id is cluster, VM and a stable content hash, or the given generation; local-hostname the VM', () => {
    const a = load(renderSeed(seedInput(cp0)).metaData) as Record<string, string>;
    assert.match(a['instance-id']!, /^c1-c1-cp-0-[0-9a-f]{12}$/);
    assert.equal(a['local-hostname'], 'c1-cp-0');
    assert.deepEqual(load(renderSeed(seedInput(cp0)).metaData), a, 'the same input gives the same instance-id');
    const changed = load(renderSeed(seedInput(cp0, { sshAuthorizedKeys: keys.slice(0, 1) })).metaData) as Record<string, string>;
    assert.notEqual(changed['instance-id'], a['instance-id']);
    assert.deepEqual(load(renderSeed(seedInput(cp0, { generation: 7 })).metaData), { 'instance-id': 'c1-c1-cp-0-g7', 'local-hostname': 'c1-cp-0' });
  });
});

describe('user-data by role', () => {
  test('every VM: hostname, keys for the default user and root, kernel modules and sysctls, root-only kubeadm config', () => {
    for (const vm of [cp0, cp1, w0]) {
      const s = renderSeed(seedInput(vm));
      assert.ok(s.userData.startsWith('#cloud-config\n'));
      const u = userData(s);
      assert.equal(u.hostname, vm.name);
      assert.equal(u.disable_root, false);
      assert.equal(u.ssh_pwauth, false);
      assert.deepEqual(u.ssh_authorized_keys, keys);
      assert.equal(file(s, '/etc/modules-load.d/k8s.conf')!.content, 'overlay\nbr_netfilter\n');
      assert.match(file(s, '/etc/sysctl.d/k8s.conf')!.content, /^net\.ipv4\.ip_forward = 1\nnet\.bridge\.bridge-nf-call-iptables = 1\n/);
      const kubeadm = file(s, '/etc/kubernetes/kubeadm.yaml')!;
      assert.equal(kubeadm.permissions, '0600');
      assert.deepEqual(loadAll(kubeadm.content), s.kubeadm.documents, 'the kubeadm file round-trips to the rendered documents');
      assert.deepEqual(u.runcmd.slice(0, 3), [['modprobe', 'overlay'], ['modprobe', 'br_netfilter'], ['sysctl', '--system']]);
    }
  });

  test('control plane 0: the CA, kubeadm init with --upload-certs, then Calico applied with the admin kubeconfig', () => {
    const s = renderSeed(seedInput(cp0));
    assert.equal(s.kubeadm.action, 'init');
    const u = userData(s);
    assert.deepEqual(u.write_files.map((f) => f.path), ['/etc/modules-load.d/k8s.conf', '/etc/sysctl.d/k8s.conf', '/etc/kubernetes/pki/ca.crt', '/etc/kubernetes/pki/ca.key', '/etc/kubernetes/kubeadm.yaml', '/etc/ironbay/calico.yaml']);
    assert.equal(file(s, '/etc/kubernetes/pki/ca.key')!.permissions, '0600');
    assert.equal(file(s, '/etc/kubernetes/pki/ca.crt')!.content, ca.certPem);
    assert.deepEqual(loadAll(file(s, '/etc/ironbay/calico.yaml')!.content), s.calico!.documents);
    assert.equal(s.calico!.mtu, 1430, 'IPIP takes 20 bytes off the 1450 overlay');
    assert.deepEqual(u.runcmd[3], ['kubeadm', 'init', '--config', '/etc/kubernetes/kubeadm.yaml', '--upload-certs']);
    assert.deepEqual(u.runcmd[4], ['sh', '-c', 'for i in $(seq 1 60); do kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f /etc/ironbay/calico.yaml && exit 0; sleep 10; done; exit 1']);
    assert.equal(u.runcmd.length, 5);

    const single = userData(renderSeed(seedInput(cp0, { cluster: { ...cluster, controlPlanes: 1 } })));
    assert.deepEqual(single.runcmd[3], ['kubeadm', 'init', '--config', '/etc/kubernetes/kubeadm.yaml']);

    const operator = userData(renderSeed(seedInput(cp0, { calicoOperatorManifest: '/opt/ironbay/tigera-operator.yaml' })));
    assert.deepEqual(operator.runcmd[4], ['kubectl', '--kubeconfig', '/etc/kubernetes/admin.conf', 'apply', '--server-side', '--force-conflicts', '-f', '/opt/ironbay/tigera-operator.yaml']);
  });

  test('control plane 1 of 3: a control-plane join with the certificate key; no CA, no Calico', () => {
    const s = renderSeed(seedInput(cp1));
    assert.equal(s.kubeadm.action, 'join-control-plane');
    assert.equal(s.calico, undefined);
    const u = userData(s);
    assert.deepEqual(u.write_files.map((f) => f.path), ['/etc/modules-load.d/k8s.conf', '/etc/sysctl.d/k8s.conf', '/etc/kubernetes/kubeadm.yaml']);
    const [join] = loadAll(file(s, '/etc/kubernetes/kubeadm.yaml')!.content) as { kind: string; controlPlane: { certificateKey: string; localAPIEndpoint: { advertiseAddress: string } }; discovery: { bootstrapToken: { caCertHashes: string[] } } }[];
    assert.equal(join!.kind, 'JoinConfiguration');
    assert.equal(join!.controlPlane.certificateKey, CERT_KEY);
    assert.equal(join!.controlPlane.localAPIEndpoint.advertiseAddress, '100.96.0.11');
    assert.deepEqual(join!.discovery.bootstrapToken.caCertHashes, [caHash]);
    assert.deepEqual(u.runcmd.slice(3), [['sh', '-c', 'for i in $(seq 1 30); do kubeadm join --config /etc/kubernetes/kubeadm.yaml && exit 0; kubeadm reset --force; sleep 20; done; exit 1']]);
  });

  test('a worker: a plain join', () => {
    const s = renderSeed(seedInput(w0));
    assert.equal(s.kubeadm.action, 'join');
    const [join] = loadAll(file(s, '/etc/kubernetes/kubeadm.yaml')!.content) as Record<string, unknown>[];
    assert.equal(join!.controlPlane, undefined);
    assert.equal(userData(s).runcmd.length, 4);
  });
});

describe('refused input names the cluster and the VM', () => {
  test('network settings', () => {
    refuses(() => renderSeed(seedInput(cp0, { vm: { ...cp0, mac: '02:aa:bb:cc:dd' } })), /MAC "02:aa:bb:cc:dd" is not a MAC address/);
    refuses(() => renderSeed(seedInput(cp0, { vm: { ...cp0, gateway: '100.96.1.1' } })), /gateway 100\.96\.1\.1 is not on 100\.96\.0\.10\/24's subnet/);
    refuses(() => renderSeed(seedInput(cp0, { vm: { ...cp0, gateway: '100.96.0.10' } })), /is the VM's own address/);
    refuses(() => renderSeed(seedInput(cp0, { vm: { ...cp0, address: 'fd00::10/64', gateway: 'fd00::1' } })), /is not IPv4/);
    refuses(() => renderSeed(seedInput(cp0, { vm: { ...cp0, mtu: 70000 } })), /MTU 70000 is not 576-9216/);
    refuses(() => renderSeed(seedInput(cp0, { dns: ['dns.example.org'] })), /DNS server "dns\.example\.org" is not an IP address/);
  });

  test('names, keys, secrets and the operator manifest', () => {
    refuses(() => renderSeed(seedInput({ ...cp0, name: 'C1_cp0' })), /not a DNS label/, 'C1_cp0');
    refuses(() => renderSeed(seedInput(cp0, { sshAuthorizedKeys: [] })), /no SSH key/);
    refuses(() => renderSeed(seedInput(cp0, { sshAuthorizedKeys: [`${keys[0]!}\nssh-ed25519 AAAA injected`] })), /is not one OpenSSH public key on one line/);
    refuses(() => renderSeed(seedInput(w0, { secrets: { bootstrapToken: 'abcdef.0123456789ABCDEF', caCertHash: caHash } })), /bootstrap token is not in kubeadm's format/, 'c1-w-0');
    refuses(() => renderSeed(seedInput(w0, { secrets: { bootstrapToken: TOKEN, caCertHash: 'sha256:abc' } })), /CA certificate hash is not sha256/, 'c1-w-0');
    refuses(() => renderSeed(seedInput(cp0, { secrets: { bootstrapToken: TOKEN, caCertHash: caHash, certificateKey: CERT_KEY, ca: { certPem: ca.certPem, keyPem: 'secret' } } })), /CA key is not a PEM private key/);
    refuses(() => renderSeed(seedInput(cp0, { calicoOperatorManifest: '/tmp/x.yaml; reboot' })), /operator manifest location/);
    refuses(() => renderSeed(seedInput(cp0, { cluster: { ...cluster, calico: { ipPool: '100.0.0.0/24' } } })), /calico\.ipPool 100\.0\.0\.0\/24 is not inside podCidr/);
  });
});
