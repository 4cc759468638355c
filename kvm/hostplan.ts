// One KVM host, whole (issue #7): what the reconciler reads in one command (links, addresses,
// FDB, cluster routers, iptables, domains, capacity, the persisted network script) and the one
// script that takes the host from what it has to what it should have. A pass that finds
// nothing to change sends nothing but the read. Pure; the SSH connection runs both.
import { createHash } from 'node:crypto';
import { parseObserved, planHostNet, READ_COMMAND, SEP, VXLAN_OVERHEAD, type HostNetDesired, type HostNetObserved } from './hostnet.ts';
import {
  applyHostRules,
  buildRouter,
  gwBridgeEnd,
  HOST_JUMPS,
  hostRules,
  hostRulesDigest,
  parseRouters,
  READ_ROUTERS,
  removeRouter,
  routerRight,
  transitHostEnd,
  type Forward,
  type RouterObserved,
} from './router.ts';
import { createVm, domainName, parseVms, q, READ_VMS, removeVm, startVm, type VmCreate } from './vms.ts';

/** Where the network is persisted on the host, and the unit that replays it at boot (before libvirt autostarts the VMs). */
export const PERSIST_SCRIPT = '/etc/ironbay/hostnet.sh';
export const PERSIST_UNIT = '/etc/systemd/system/ironbay-hostnet.service';

export interface ClusterOnHost {
  vni: number;
  gateway: string;
  transit: { host: string; router: string };
  /** The other hosts' underlay addresses. */
  peers: string[];
  forwards: Forward[];
}

export interface VmOnHost {
  name: string;
  mac: string;
  /** The cluster bridge its NIC belongs on. */
  bridge: string;
  dir: string;
  desired: 'running' | 'removed';
  /** Only called when the VM must be created: the seed is rendered then. */
  create: () => VmCreate;
}

export interface HostDesired {
  /** The host's production address: its interface is found in the read. */
  address: string;
  transitPool: string;
  clusters: ClusterOnHost[];
  vms: VmOnHost[];
  vmDir: string;
  shutdownTimeoutS: number;
}

export interface HostObserved {
  net: HostNetObserved;
  routers: Map<number, RouterObserved>;
  rulesDigest: string | undefined;
  jumps: boolean;
  forwarding: boolean;
  vms: Map<string, string>;
  capacity: { vcpu: number; memoryMiB: number; diskGiB: number } | undefined;
  persistedDigest: string | undefined;
  underlay: { dev: string; mtu: number } | undefined;
}

export function readCommand(vmDir: string): string {
  return [
    READ_COMMAND,
    `echo ${SEP}`,
    READ_ROUTERS,
    `echo ${SEP}`,
    'iptables-save',
    `echo ${SEP}`,
    'cat /proc/sys/net/ipv4/ip_forward',
    `echo ${SEP}`,
    `${READ_VMS} 2>&1`,
    `echo ${SEP}`,
    `nproc; awk '/^MemTotal:/ {print $2}' /proc/meminfo; d=${q(vmDir)}; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d" | awk 'NR == 2 {print $2}'`,
    `echo ${SEP}`,
    `sha256sum < ${PERSIST_SCRIPT} 2>/dev/null || true`,
  ].join('; ');
}

export function parseHost(text: string, address: string): HostObserved {
  const s = text.split(`${SEP}\n`);
  if (s.length < 9) throw new Error(`the host read has ${s.length} of 9 sections: ${text.slice(-300)}`);
  const net = parseObserved(s.slice(0, 3).join(`${SEP}\n`));
  const saved = s[4]!;
  const jumps = HOST_JUMPS.every(([, chain, target]) => saved.includes(`-A ${chain} -j ${target}`));
  const [cpu, memKiB, diskKiB] = s[7]!.trim().split('\n').map(Number);
  let underlay: HostObserved['underlay'];
  for (const [dev, addrs] of net.addresses) {
    if (addrs.some((a) => a.split('/')[0] === address)) underlay = { dev, mtu: net.links.get(dev)?.mtu ?? 1500 };
  }
  return {
    net,
    routers: parseRouters(s[3]!),
    rulesDigest: hostRulesDigest(saved),
    jumps,
    forwarding: s[5]!.trim() === '1',
    vms: parseVms(s[6]!),
    capacity: cpu && memKiB && diskKiB ? { vcpu: cpu, memoryMiB: Math.floor(memKiB / 1024), diskGiB: Math.floor(diskKiB / 1024 / 1024) } : undefined,
    persistedDigest: /^([0-9a-f]{64})/.exec(s[8]!.trim())?.[1],
    underlay,
  };
}

const EMPTY_NET: HostNetObserved = { links: new Map(), addresses: new Map(), flood: new Map() };

export interface HostPlan {
  /** The whole apply, or '' when the host is as wanted. */
  script: string;
  /** Each part, for logs, events and tests. */
  network: string[];
  routers: { build: number[]; remove: number[] };
  rules: boolean;
  persist: boolean;
  create: string[];
  start: string[];
  remove: string[];
  /** Domains found on the host that ironbay has no VM for (removed too). */
  orphans: string[];
}

/** The host's network from nothing: what the persisted script replays at boot. */
function persistedScript(netWant: HostNetDesired, routers: ReturnType<typeof routerDesired>, rules: Parameters<typeof applyHostRules>[0]): string {
  return [
    '#!/bin/sh',
    "# Written by ironbay: this host's workload-cluster networks (VXLAN, bridges, routers, rules).",
    '# Replayed at boot by ironbay-hostnet.service, before libvirt autostarts the VMs. Do not edit:',
    '# ironbay rewrites it whenever the clusters on this host change.',
    ...planHostNet(netWant, EMPTY_NET),
    ...routers.flatMap(buildRouter),
    ...applyHostRules(rules),
    '',
  ].join('\n');
}

const UNIT = `[Unit]
Description=ironbay workload-cluster networks
After=network-online.target
Wants=network-online.target
Before=libvirtd.service libvirt-guests.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh ${PERSIST_SCRIPT}

[Install]
WantedBy=multi-user.target
`;

function routerDesired(d: HostDesired, mtu: number) {
  return d.clusters.map((c) => ({ vni: c.vni, gateway: c.gateway, mtu, transit: c.transit, forwards: c.forwards }));
}

export function planHost(d: HostDesired, have: HostObserved): HostPlan {
  if (!have.underlay) throw new Error(`no interface holds the host's production address ${d.address}`);
  const underlay = { dev: have.underlay.dev, address: d.address, mtu: have.underlay.mtu };
  const mtu = underlay.mtu - VXLAN_OVERHEAD;
  const netWant: HostNetDesired = { underlay, clusters: d.clusters.map((c) => ({ vni: c.vni, peers: c.peers })) };
  const wantedDevs = new Set(d.clusters.flatMap((c) => [`ibvx${c.vni}`, `ibbr${c.vni}`]));
  const allNet = planHostNet(netWant, have.net);
  const isGone = (cmd: string): boolean => {
    const m = /^ip link del (ib(?:vx|br)\d+)$/.exec(cmd);
    return !!m && !wantedDevs.has(m[1]!);
  };
  const network = allNet.filter((c) => !isGone(c));
  const netGone = allNet.filter(isGone);

  const routers = routerDesired(d, mtu);
  const build: number[] = [];
  const routerCmds: string[] = [];
  for (const r of routers) {
    const gb = have.net.links.get(gwBridgeEnd(r.vni));
    const te = have.net.links.get(transitHostEnd(r.vni));
    const ends = { gbMaster: gb?.master, gbUp: !!gb?.up, teUp: !!te?.up, teAddrs: have.net.addresses.get(transitHostEnd(r.vni)) ?? [] };
    // A bridge made anew in this pass lost its ports: the router's veth goes back on it.
    const bridgeNew = network.some((c) => c === `ip link add ibbr${r.vni} type bridge`);
    if (!bridgeNew && routerRight(r, have.routers.get(r.vni), ends)) continue;
    build.push(r.vni);
    if (have.routers.has(r.vni) || gb || te) routerCmds.push(...removeRouter(r.vni));
    routerCmds.push(...buildRouter(r));
  }
  const removeVnis = [...have.routers.keys()].filter((v) => !routers.some((r) => r.vni === v)).sort((a, b) => a - b);

  const rulesWant = { underlay: { dev: underlay.dev, address: d.address }, transitPool: d.transitPool, routers };
  const rules = hostRulesDigest(hostRules(rulesWant)) !== have.rulesDigest || !have.jumps || !have.forwarding;

  const script = persistedScript(netWant, routers, rulesWant);
  const persist = createHash('sha256').update(script).digest('hex') !== have.persistedDigest;

  const create: string[] = [];
  const start: string[] = [];
  const remove: string[] = [];
  const vmCmds: string[] = [];
  const removeCmds: string[] = [];
  const known = new Set<string>();
  for (const vm of d.vms) {
    const dom = domainName(vm.name);
    known.add(dom);
    const state = have.vms.get(dom);
    if (vm.desired === 'removed') {
      remove.push(vm.name);
      removeCmds.push(...removeVm(vm.name, vm.dir, d.shutdownTimeoutS));
    } else if (state === undefined) {
      create.push(vm.name);
      vmCmds.push(...createVm(vm.create()));
    } else if (state !== 'running') {
      start.push(vm.name);
      vmCmds.push(...startVm(vm.name));
    }
  }
  // A bridge made again (a drift repaired, a reboot replayed) has lost the running VMs' taps:
  // each goes back on its bridge. libvirt names a tap's MAC after the guest's, fe: first.
  const tapCmds: string[] = [];
  const byMac = new Map([...have.net.links.values()].filter((l) => l.address).map((l) => [l.address!, l]));
  for (const vm of d.vms) {
    if (vm.desired !== 'running' || have.vms.get(domainName(vm.name)) !== 'running') continue;
    const tap = byMac.get(`fe:${vm.mac.slice(3)}`);
    if (tap && tap.master !== vm.bridge) tapCmds.push(`ip link set ${tap.name} master ${vm.bridge}`);
  }
  const orphans = [...have.vms.keys()].filter((dom) => !known.has(dom)).sort();
  for (const dom of orphans) removeCmds.push(...removeVm(dom.slice(3), `${d.vmDir}/orphans/${dom}`, d.shutdownTimeoutS));

  const persistCmds = persist
    ? [
        `mkdir -p ${PERSIST_SCRIPT.replace(/\/[^/]+$/, '')} /etc/systemd/system/multi-user.target.wants`,
        `cat > ${PERSIST_SCRIPT}.new <<'IRONBAY_PERSIST'\n${script}IRONBAY_PERSIST`,
        `mv ${PERSIST_SCRIPT}.new ${PERSIST_SCRIPT}`,
        `cat > ${PERSIST_UNIT} <<'IRONBAY_UNIT'\n${UNIT}IRONBAY_UNIT`,
        `ln -sf ${PERSIST_UNIT} /etc/systemd/system/multi-user.target.wants/ironbay-hostnet.service`,
      ]
    : [];

  // Networks before the VMs that use them; a departing cluster's VMs before its networks.
  const all = [
    ...network,
    ...tapCmds,
    ...routerCmds,
    ...(rules ? applyHostRules(rulesWant) : []),
    ...removeCmds,
    ...vmCmds,
    ...removeVnis.flatMap(removeRouter),
    ...netGone,
    ...persistCmds,
  ];
  return {
    // The first mark dates the apply: each VM's steps are timed from it.
    script: all.length ? ['set -e', 'echo "@t - apply $(date +%s%N)"', ...all, ''].join('\n') : '',
    network: [...network, ...tapCmds, ...netGone],
    routers: { build, remove: removeVnis },
    rules,
    persist,
    create,
    start,
    remove,
    orphans,
  };
}
