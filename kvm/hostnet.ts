// A KVM host's cluster networks (issue #7), as desired state and a plan: per cluster with VMs on
// the host, a VXLAN device (the cluster's VNI over the production interface, learning off, MTU
// with room for the 50-byte encapsulation) enslaved to a bridge, and one flood entry per other
// host of the cluster. The bridge carries no address: the host's own routing never touches an
// overlay (clusters may share a subnet); the cluster's router namespace (router.ts) holds the
// gateway. The host is read in one
// command (iproute2's JSON), compared, and only the difference is applied: applying twice
// changes nothing, and a deleted FDB entry or a missing bridge is put back. Pure but for the
// command texts; the SSH connection runs them.

/** Linux interface names are at most 15 characters: "ibvx" + an up-to-8-digit VNI fits. */
export const vxlanName = (vni: number): string => `ibvx${vni}`;
export const bridgeName = (vni: number): string => `ibbr${vni}`;
const OURS = /^ib(vx|br)(\d{1,8})$/;
const ALL_ZERO = '00:00:00:00:00:00';
export const VXLAN_PORT = 4789;
/** Outer IPv4 + UDP + VXLAN + inner Ethernet headers. */
export const VXLAN_OVERHEAD = 50;

export interface ClusterNet {
  vni: number;
}

export interface HostNetDesired {
  /** The production interface the VXLAN traffic leaves by, and its address. */
  underlay: { dev: string; address: string; mtu: number };
  /** Each cluster with VMs here, with the underlay addresses of its other hosts. */
  clusters: (ClusterNet & { peers: string[] })[];
}

interface Link {
  name: string;
  /** Its MAC: a VM's tap is found by it (libvirt gives the tap the guest's MAC with fe: first). */
  address: string | undefined;
  kind: string | undefined;
  up: boolean;
  mtu: number;
  master: string | undefined;
  vxlan?: { id: number; dev: string | undefined; local: string | undefined; port: number; learning: boolean };
}

export interface HostNetObserved {
  links: Map<string, Link>;
  /** IPv4 addresses with prefix, by device. */
  addresses: Map<string, string[]>;
  /** All-zero (flood) FDB entries' destinations, by VXLAN device. */
  flood: Map<string, string[]>;
}

export const SEP = '--ironbay-section--';

/** One command, one round trip: links, addresses and the FDB as JSON, separated. */
export const READ_COMMAND = `ip -d -j link show; echo ${SEP}; ip -4 -j addr show; echo ${SEP}; bridge -j fdb show`;

interface JsonLink {
  ifname: string;
  address?: string;
  flags?: string[];
  mtu: number;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; link?: string; local?: string; port?: number; learning?: boolean } };
}

/** Parses READ_COMMAND's output. */
export function parseObserved(text: string): HostNetObserved {
  const [links, addrs, fdb] = text.split(`${SEP}\n`);
  if (fdb === undefined) throw new Error('the host answered without the three sections of the network read (iproute2 with JSON output needed)');
  const obs: HostNetObserved = { links: new Map(), addresses: new Map(), flood: new Map() };
  for (const l of JSON.parse(links!) as JsonLink[]) {
    const d = l.linkinfo?.info_data;
    obs.links.set(l.ifname, {
      name: l.ifname,
      address: l.address,
      kind: l.linkinfo?.info_kind,
      up: (l.flags ?? []).includes('UP'),
      mtu: l.mtu,
      master: l.master,
      ...(l.linkinfo?.info_kind === 'vxlan' && d && { vxlan: { id: d.id ?? -1, dev: d.link, local: d.local, port: d.port ?? 0, learning: d.learning ?? true } }),
    });
  }
  for (const a of JSON.parse(addrs!) as { ifname: string; addr_info?: { family: string; local: string; prefixlen: number }[] }[])
    obs.addresses.set(a.ifname, (a.addr_info ?? []).filter((i) => i.family === 'inet').map((i) => `${i.local}/${i.prefixlen}`));
  for (const e of JSON.parse(fdb) as { mac: string; ifname?: string; dst?: string }[]) {
    if (e.mac !== ALL_ZERO || !e.ifname || !e.dst) continue;
    obs.flood.set(e.ifname, [...(obs.flood.get(e.ifname) ?? []), e.dst]);
  }
  return obs;
}

/** The commands that take the host from what it has to what it should have, in order. Empty: nothing to do. */
export function planHostNet(want: HostNetDesired, have: HostNetObserved): string[] {
  const cmds: string[] = [];
  const mtu = want.underlay.mtu - VXLAN_OVERHEAD;
  const wanted = new Set<string>();
  for (const c of want.clusters) {
    const vx = vxlanName(c.vni);
    const br = bridgeName(c.vni);
    wanted.add(vx).add(br);
    const bridge = have.links.get(br);
    if (!bridge || bridge.kind !== 'bridge') {
      if (bridge) cmds.push(`ip link del ${br}`);
      cmds.push(`ip link add ${br} type bridge`);
    }
    if (!bridge || bridge.kind !== 'bridge' || bridge.mtu !== mtu) cmds.push(`ip link set ${br} mtu ${mtu}`);
    // An address on the bridge would route the overlay through the host itself.
    const addrs = bridge?.kind === 'bridge' ? (have.addresses.get(br) ?? []) : [];
    for (const a of addrs) cmds.push(`ip addr del ${a} dev ${br}`);

    const link = have.links.get(vx);
    const v = link?.vxlan;
    const right = v && v.id === c.vni && v.dev === want.underlay.dev && v.local === want.underlay.address && v.port === VXLAN_PORT && !v.learning;
    if (link && !right) cmds.push(`ip link del ${vx}`);
    if (!right) cmds.push(`ip link add ${vx} type vxlan id ${c.vni} dev ${want.underlay.dev} local ${want.underlay.address} dstport ${VXLAN_PORT} nolearning`);
    if (!right || link.mtu !== mtu) cmds.push(`ip link set ${vx} mtu ${mtu}`);
    if (!right || link.master !== br) cmds.push(`ip link set ${vx} master ${br}`);
    if (!right || !link.up) cmds.push(`ip link set ${vx} up`);
    if (!bridge || bridge.kind !== 'bridge' || !bridge.up) cmds.push(`ip link set ${br} up`);

    const flood = right ? (have.flood.get(vx) ?? []) : [];
    for (const p of c.peers) if (!flood.includes(p)) cmds.push(`bridge fdb append ${ALL_ZERO} dev ${vx} dst ${p}`);
    for (const p of flood) if (!c.peers.includes(p)) cmds.push(`bridge fdb del ${ALL_ZERO} dev ${vx} dst ${p}`);
  }
  // A cluster that left this host: its devices go (the VXLAN first, its FDB with it).
  const gone = [...have.links.keys()].filter((n) => OURS.test(n) && !wanted.has(n)).sort((a, b) => (a.startsWith('ibvx') === b.startsWith('ibvx') ? a.localeCompare(b) : a.startsWith('ibvx') ? -1 : 1));
  for (const n of gone) cmds.push(`ip link del ${n}`);
  return cmds;
}

/** One script for one round trip: stops at the first command that fails, naming it. */
export function applyScript(cmds: string[]): string {
  return ['set -e', ...cmds.map((c) => `${c} || { echo "ironbay: failed: ${c}" >&2; exit 1; }`), ''].join('\n');
}
