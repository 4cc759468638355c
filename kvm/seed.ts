// The NoCloud seed of one workload-cluster VM (issue #7): meta-data, user-data and
// network-config, which the KVM host packs with
// `cloud-localds seed.iso user-data meta-data --network-config network-config` (a disk
// labelled "cidata"; kvm/domain.ts attaches it read-only).
//
// user-data (#cloud-config) brings a node up as a Kubernetes member: the kernel modules and
// sysctls Kubernetes needs, the kubeadm configuration (kvm/kubeadm.ts), and on control plane 0
// the Calico configuration (kvm/calico.ts); runcmd runs `kubeadm init` or `kubeadm join` and,
// on control plane 0, applies Calico. The image is expected to carry containerd, kubeadm,
// kubelet and kubectl of the cluster's version.
// Pure: the caller supplies every secret; this module checks formats and renders text.
import { createHash } from 'node:crypto';
import type { Cluster } from '../inventory/schema.ts';
import { cidrContains, formatInterface, formatIp, mask, normalizeMac, parseInterface, parseIp } from '../daemon/lib/net.ts';
import { renderCalico, type CalicoConfig } from './calico.ts';
import { ClusterRenderError, KUBEADM_CONFIG_PATH, renderKubeadm, toYaml, type ClusterSecrets, type KubeadmConfig, type VmRole } from './kubeadm.ts';

export const CALICO_CONFIG_PATH = '/etc/ironbay/calico.yaml';
export const ADMIN_KUBECONFIG = '/etc/kubernetes/admin.conf';
/** The guest's interface: the seed renames the NIC it matches by MAC to this. */
export const GUEST_INTERFACE = 'eth0';

/**
 * Retries in runcmd. A join waits for control plane 0's API server (image pulls on first boot
 * take minutes): 30 attempts 20 s apart, each after a `kubeadm reset` of the failed one. The
 * Calico apply waits for the operator's CRDs and then for the Calico API server that serves
 * projectcalico.org/v3: 60 attempts 10 s apart. Both ~10 minutes, then the failure is left in
 * cloud-init's log for the reconciler to see.
 */
export const JOIN_ATTEMPTS = 30;
export const JOIN_RETRY_SECONDS = 20;
export const CALICO_APPLY_ATTEMPTS = 60;
export const CALICO_RETRY_SECONDS = 10;

/** Ethernet MTUs a guest NIC may be given: IPv4's minimum datagram up to jumbo frames. */
const MTU_MIN = 576;
const MTU_MAX = 9216;

export interface SeedVm {
  /** A DNS label; the guest's hostname and its Kubernetes node name. */
  name: string;
  /** 0-based index among the cluster's VMs of this role; control plane 0 runs `kubeadm init`. */
  index: number;
  role: VmRole;
  mac: string;
  /** Address with prefix: `100.96.0.10/24`. */
  address: string;
  gateway: string;
  mtu: number;
}

export interface SeedInput {
  cluster: Cluster;
  vm: SeedVm;
  /** `host:port` the nodes use for the API, e.g. control plane 0's address and 6443. */
  endpoint: string;
  /** More names or addresses for the API certificate, such as the appliance-side endpoint. */
  extraSANs?: readonly string[];
  /** OpenSSH public keys, one per entry: the default user's and root's (the appliance logs in as root). */
  sshAuthorizedKeys: readonly string[];
  dns?: readonly string[];
  secrets: ClusterSecrets;
  /**
   * The instance-id suffix. A new instance-id makes cloud-init run its per-instance modules
   * (runcmd: kubeadm) again on the next boot, so a caller that re-renders a running VM's seed
   * passes the generation it already has; without one the suffix is a hash of the content.
   */
  generation?: number;
  /** The Tigera operator manifest (a path on the image or a URL) to apply before Calico's configuration; absent when the image installs the operator itself. */
  calicoOperatorManifest?: string;
}

export interface Seed {
  metaData: string;
  userData: string;
  networkConfig: string;
}

export interface RenderedSeed extends Seed {
  kubeadm: KubeadmConfig;
  /** Control plane 0 only. */
  calico?: CalicoConfig;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** One OpenSSH public key line: key type, base64 blob, optional comment; no line breaks. */
const SSH_KEY = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;
/** A manifest location for kubectl -f: printable ASCII, no spaces. */
const MANIFEST = /^[!-~]+$/;

/**
 * The guest's network-config, netplan v2 (cloud-init "network config version 2"). The layout
 * is fixed — key order and indentation as below — because the busybox guest of the tests reads
 * it with sed, not a YAML parser.
 *
 * The default route is written `to: 0.0.0.0/0`, not netplan's `to: default`: cloud-init
 * converts v2 to ifupdown or networkd on Debian, and until canonical/cloud-init#6391 (August
 * 2025) that conversion refused `default` ("Address default is not a valid ip address", #3988).
 * Debian 12 ships cloud-init 22.4.2, whose `net-convert` the tests run.
 * The cluster overlay is IPv4 (kvm/allocate.ts), so the address and gateway are too.
 */
export function renderNetworkConfig(vm: Pick<SeedVm, 'mac' | 'address' | 'gateway' | 'mtu'>, dns: readonly string[] = [], fail: (reason: string) => never = bad): string {
  const mac = normalizeMac(vm.mac) ?? fail(`MAC "${vm.mac}" is not a MAC address`);
  const iface = parseInterface(vm.address) ?? fail(`address "${vm.address}" is not an address with a prefix (e.g. 100.96.0.10/24)`);
  if (iface.family !== 4) fail(`address "${vm.address}" is not IPv4: the cluster overlay is IPv4`);
  const gateway = parseIp(vm.gateway) ?? fail(`gateway "${vm.gateway}" is not an IP address`);
  if (!cidrContains({ family: iface.family, network: iface.value & mask(iface.family, iface.prefix), prefix: iface.prefix }, gateway)) fail(`gateway ${vm.gateway} is not on ${formatInterface(iface)}'s subnet`);
  if (gateway.value === iface.value) fail(`gateway ${vm.gateway} is the VM's own address`);
  if (!Number.isInteger(vm.mtu) || vm.mtu < MTU_MIN || vm.mtu > MTU_MAX) fail(`MTU ${vm.mtu} is not ${MTU_MIN}-${MTU_MAX}`);
  const servers = dns.map((d) => parseIp(d) ?? fail(`DNS server "${d}" is not an IP address`));
  // IPv6 addresses are quoted: bare in a flow sequence, PyYAML (cloud-init's reader) refuses
  // `[::1]` and reads `[2001:db8::]` as a mapping.
  const scalar = (ip: { family: 4 | 6; value: bigint }) => (ip.family === 6 ? JSON.stringify(formatIp(ip)) : formatIp(ip));
  const lines = [
    'version: 2',
    'ethernets:',
    `  ${GUEST_INTERFACE}:`,
    '    match:',
    `      macaddress: ${JSON.stringify(mac)}`,
    `    set-name: ${GUEST_INTERFACE}`,
    `    mtu: ${vm.mtu}`,
    '    addresses:',
    `      - ${formatInterface(iface)}`,
    '    routes:',
    '      - to: 0.0.0.0/0',
    `        via: ${formatIp(gateway)}`,
  ];
  if (servers.length) lines.push('    nameservers:', `      addresses: [${servers.map(scalar).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

function bad(reason: string): never {
  throw new RangeError(reason);
}

export function renderSeed(input: SeedInput): RenderedSeed {
  const { cluster, vm } = input;
  const fail = (reason: string): never => {
    throw new ClusterRenderError(cluster.name, vm.name, reason);
  };
  if (!LABEL.test(vm.name)) fail('the VM name is not a DNS label (it becomes the hostname and node name)');
  if (!input.sshAuthorizedKeys.length) fail('no SSH key: the appliance could not reach the VM');
  for (const k of input.sshAuthorizedKeys) if (!SSH_KEY.test(k)) fail(`"${k.slice(0, 40)}" is not one OpenSSH public key on one line`);
  if (input.calicoOperatorManifest !== undefined && !MANIFEST.test(input.calicoOperatorManifest)) fail('the Calico operator manifest location is not printable ASCII without spaces');
  if (input.generation !== undefined && (!Number.isInteger(input.generation) || input.generation < 0)) fail(`generation ${input.generation} is not a non-negative integer`);

  const networkConfig = renderNetworkConfig(vm, input.dns, fail);
  const kubeadm = renderKubeadm({ cluster, vm, endpoint: input.endpoint, certSANs: input.extraSANs, secrets: input.secrets });
  const first = kubeadm.action === 'init';
  const calico = first ? renderCalico({ cluster, mtu: vm.mtu, vm: vm.name }) : undefined;
  if (first && input.secrets.ca && !input.secrets.ca.keyPem.includes('PRIVATE KEY-----')) fail('the CA key is not a PEM private key');

  const file = (path: string, content: string, permissions: string) => ({ path, owner: 'root:root', permissions, content });
  const writeFiles = [
    // Kubernetes networking needs bridged traffic to pass iptables and the node to forward.
    file('/etc/modules-load.d/k8s.conf', 'overlay\nbr_netfilter\n', '0644'),
    file('/etc/sysctl.d/k8s.conf', 'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n', '0644'),
    ...(first && input.secrets.ca
      ? [file('/etc/kubernetes/pki/ca.crt', input.secrets.ca.certPem, '0644'), file('/etc/kubernetes/pki/ca.key', input.secrets.ca.keyPem, '0600')]
      : []),
    // Holds the bootstrap token (and certificate key): root only.
    file(KUBEADM_CONFIG_PATH, kubeadm.yaml, '0600'),
    ...(calico ? [file(CALICO_CONFIG_PATH, calico.yaml, '0644')] : []),
  ];

  const kubectl = ['kubectl', '--kubeconfig', ADMIN_KUBECONFIG];
  const runcmd: (string | string[])[] = [['modprobe', 'overlay'], ['modprobe', 'br_netfilter'], ['sysctl', '--system']];
  if (first) {
    runcmd.push(['kubeadm', 'init', '--config', KUBEADM_CONFIG_PATH, ...(kubeadm.uploadCerts ? ['--upload-certs'] : [])]);
    // Server-side apply: the operator's CRDs are too large for client-side apply's annotation.
    if (input.calicoOperatorManifest !== undefined) runcmd.push([...kubectl, 'apply', '--server-side', '--force-conflicts', '-f', input.calicoOperatorManifest]);
    runcmd.push(['sh', '-c', retry(CALICO_APPLY_ATTEMPTS, `${kubectl.join(' ')} apply -f ${CALICO_CONFIG_PATH}`, `sleep ${CALICO_RETRY_SECONDS}`)]);
  } else {
    runcmd.push(['sh', '-c', retry(JOIN_ATTEMPTS, `kubeadm join --config ${KUBEADM_CONFIG_PATH}`, `kubeadm reset --force; sleep ${JOIN_RETRY_SECONDS}`)]);
  }

  const userData = `#cloud-config\n${toYaml({
    hostname: vm.name,
    manage_etc_hosts: true,
    // cloud-init gives root the same keys, without the "log in as the default user" stub, when
    // disable_root is false (cc_ssh apply_credentials): the appliance's runbooks log in as root.
    disable_root: false,
    ssh_pwauth: false,
    ssh_authorized_keys: [...input.sshAuthorizedKeys],
    write_files: writeFiles,
    runcmd,
  })}`;

  const suffix = input.generation !== undefined ? `g${input.generation}` : createHash('sha256').update(`${userData}\0${networkConfig}`).digest('hex').slice(0, 12);
  const metaData = toYaml({ 'instance-id': `${cluster.name}-${vm.name}-${suffix}`, 'local-hostname': vm.name });
  return { metaData, userData, networkConfig, kubeadm, ...(calico ? { calico } : {}) };
}

/** A bounded retry loop for sh: `command` until it succeeds, `between` after each failure. */
function retry(attempts: number, command: string, between: string): string {
  return `for i in $(seq 1 ${attempts}); do ${command} && exit 0; ${between}; done; exit 1`;
}
