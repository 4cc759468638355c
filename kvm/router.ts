// Each cluster's router on a KVM host (issue #7): a network namespace per cluster, as
// OpenStack's qrouter namespaces are, holding the cluster's gateway address on a veth into
// the cluster bridge and a /30 transit link to the host. Clusters may share a subnet, and the
// host's own routing never sees one: a VM reaches the production network only through its
// router (NAT to the transit address) and then the host (NAT to the host's address), and the
// host forwards nothing from one router to another. Published ports (the API and ingress
// endpoints) are DNAT on the host to the router, then DNAT in the router to the VM.
//
// The router's whole configuration is small, so it is not diffed piece by piece: its digest
// is kept as the gateway veth's alias, and a router whose digest or live state differs is
// rebuilt. The host's own rules live in ironbay's chains, replaced whole (iptables-restore,
// atomic) when their digest differs.
import { createHash } from 'node:crypto';
import { bridgeName } from './hostnet.ts';

export const routerNs = (vni: number): string => `ibrt${vni}`;
/** Gateway veth: the host end on the bridge, the router end with the gateway address. */
export const gwBridgeEnd = (vni: number): string => `ibgb${vni}`;
export const gwRouterEnd = (vni: number): string => `ibgi${vni}`;
/** Transit veth: the host end, the router end. */
export const transitHostEnd = (vni: number): string => `ibte${vni}`;
export const transitRouterEnd = (vni: number): string => `ibti${vni}`;

export interface Forward {
  /** The port on the host's production address (and on the router's transit address). */
  port: number;
  /** The VM address and port it reaches. */
  to: string;
  toPort: number;
}

export interface RouterDesired {
  vni: number;
  /** The cluster's gateway with the node subnet's prefix, e.g. 100.96.0.1/24. */
  gateway: string;
  mtu: number;
  /** The transit /30: the host's end (.1) and the router's (.2), with prefix. */
  transit: { host: string; router: string };
  forwards: Forward[];
}

export interface HostRulesDesired {
  /** The production interface and the host's address on it. */
  underlay: { dev: string; address: string };
  /** The transit pool, masqueraded to the host's address on the way out. */
  transitPool: string;
  routers: RouterDesired[];
}

const addr = (cidr: string): string => cidr.split('/')[0]!;
const digestOf = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** The router namespace's iptables (iptables-restore input, replacing the namespace's tables whole). */
export function routerRules(r: RouterDesired): string {
  const ti = transitRouterEnd(r.vni);
  const gi = gwRouterEnd(r.vni);
  return [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...r.forwards.map((f) => `-A PREROUTING -i ${ti} -p tcp --dport ${f.port} -j DNAT --to-destination ${f.to}:${f.toPort}`),
    `-A POSTROUTING -o ${ti} -j MASQUERADE`,
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    // The router answers its VMs' pings and nothing else of theirs: no service of its own.
    `-A INPUT -i ${gi} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A INPUT -i ${gi} -p icmp -j ACCEPT`,
    `-A INPUT -i ${gi} -j DROP`,
    'COMMIT',
    '',
  ].join('\n');
}

/** What identifies a router's configuration: a change of any of it rebuilds the router. */
export function routerDigest(r: RouterDesired): string {
  return digestOf(JSON.stringify([r.gateway, r.mtu, r.transit, routerRules(r)]));
}

/** Commands that build one router from nothing (its namespace and both veths). */
export function buildRouter(r: RouterDesired): string[] {
  const ns = routerNs(r.vni);
  const [gb, gi, te, ti] = [gwBridgeEnd(r.vni), gwRouterEnd(r.vni), transitHostEnd(r.vni), transitRouterEnd(r.vni)];
  const n = `ip -n ${ns}`;
  return [
    `ip netns add ${ns}`,
    `${n} link set lo up`,
    `ip link add ${gb} mtu ${r.mtu} type veth peer name ${gi} netns ${ns}`,
    `ip link set ${gb} master ${bridgeName(r.vni)}`,
    `ip link set ${gb} up`,
    `${n} link set ${gi} mtu ${r.mtu}`,
    `${n} addr add ${r.gateway} dev ${gi}`,
    `${n} link set ${gi} alias ironbay-router=${routerDigest(r)}`,
    `${n} link set ${gi} up`,
    `ip link add ${te} type veth peer name ${ti} netns ${ns}`,
    `ip addr add ${r.transit.host} dev ${te}`,
    `ip link set ${te} up`,
    `${n} addr add ${r.transit.router} dev ${ti}`,
    `${n} link set ${ti} up`,
    `${n} route add default via ${addr(r.transit.host)}`,
    `ip netns exec ${ns} sysctl -qw net.ipv4.ip_forward=1`,
    `ip netns exec ${ns} iptables-restore <<'IRONBAY_RULES'\n${routerRules(r)}IRONBAY_RULES`,
  ];
}

export const removeRouter = (vni: number): string[] => [`ip netns del ${routerNs(vni)}`, `ip link del ${transitHostEnd(vni)} 2>/dev/null || true`, `ip link del ${gwBridgeEnd(vni)} 2>/dev/null || true`];

/** ironbay's chains on the host, as iptables-restore --noflush input (declaring a chain flushes it). */
export function hostRules(d: HostRulesDesired): string {
  const body = [
    '*nat',
    ':IRONBAY-PRE - [0:0]',
    ':IRONBAY-POST - [0:0]',
    ...d.routers.flatMap((r) =>
      r.forwards.map((f) => `-A IRONBAY-PRE -d ${d.underlay.address}/32 -p tcp --dport ${f.port} -j DNAT --to-destination ${addr(r.transit.router)}:${f.port}`),
    ),
    `-A IRONBAY-POST -s ${d.transitPool} -o ${d.underlay.dev} -j MASQUERADE`,
    'COMMIT',
    '*filter',
    ':IRONBAY-FWD - [0:0]',
    ':IRONBAY-IN - [0:0]',
    // One cluster's router never forwards into another's through the host.
    '-A IRONBAY-FWD -i ibte+ -o ibte+ -j DROP',
    // Nor may a VM use the host's own services (sshd, libvirt): replies only.
    '-A IRONBAY-IN -i ibte+ -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    '-A IRONBAY-IN -i ibte+ -j DROP',
    'COMMIT',
  ];
  const digest = digestOf(body.join('\n'));
  // The digest rides on a rule that matches nothing and does nothing, at the end of a chain.
  const at = body.indexOf('COMMIT');
  body.splice(at, 0, `-A IRONBAY-POST -m comment --comment ironbay-rules=${digest}`);
  return body.join('\n') + '\n';
}

export const hostRulesDigest = (text: string): string | undefined => /ironbay-rules=([0-9a-f]{16})/.exec(text)?.[1];

/** The jumps from the built-in chains into ironbay's, each added once. */
export const HOST_JUMPS: readonly [table: string, chain: string, target: string][] = [
  ['nat', 'PREROUTING', 'IRONBAY-PRE'],
  ['nat', 'POSTROUTING', 'IRONBAY-POST'],
  ['filter', 'FORWARD', 'IRONBAY-FWD'],
  ['filter', 'INPUT', 'IRONBAY-IN'],
];

/** Applies the host rules and makes sure every jump is there (first in its chain). */
export function applyHostRules(d: HostRulesDesired): string[] {
  return [
    `iptables-restore --noflush <<'IRONBAY_RULES'\n${hostRules(d)}IRONBAY_RULES`,
    ...HOST_JUMPS.map(([t, c, j]) => `iptables -t ${t} -C ${c} -j ${j} 2>/dev/null || iptables -t ${t} -I ${c} -j ${j}`),
    'sysctl -qw net.ipv4.ip_forward=1',
  ];
}

/** What the host read says of one router namespace (see readRouters). */
export interface RouterObserved {
  alias: string | undefined;
  gwUp: boolean;
  gwAddrs: string[];
  transitUp: boolean;
  transitAddrs: string[];
  defaultVia: string | undefined;
  forwarding: boolean;
}

/** Per router namespace, one section: its links, addresses, default route and forwarding flag. */
export const READ_ROUTERS = `for ns in $(ip netns list | sed -n 's/^\\(ibrt[0-9]*\\).*/\\1/p'); do echo "@ns $ns"; ip -n $ns -d -j addr show; echo; ip -n $ns -4 -j route show default; echo; ip netns exec $ns cat /proc/sys/net/ipv4/ip_forward; done`;

interface JsonAddr {
  ifname: string;
  flags?: string[];
  ifalias?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export function parseRouters(text: string): Map<number, RouterObserved> {
  const out = new Map<number, RouterObserved>();
  for (const chunk of text.split('@ns ').slice(1)) {
    // ip's JSON ends its own line; the echo between sections adds an empty one.
    const [head, addrs, route, fwd] = chunk.split('\n').filter((l) => l.trim() !== '');
    const vni = Number(/^ibrt(\d+)/.exec(head ?? '')?.[1]);
    if (!Number.isInteger(vni)) continue;
    const links = JSON.parse(addrs || '[]') as JsonAddr[];
    const inet = (l: JsonAddr | undefined): string[] => (l?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
    const gi = links.find((l) => l.ifname === gwRouterEnd(vni));
    const ti = links.find((l) => l.ifname === transitRouterEnd(vni));
    const routes = JSON.parse(route || '[]') as { dst: string; gateway?: string }[];
    out.set(vni, {
      alias: gi?.ifalias,
      gwUp: (gi?.flags ?? []).includes('UP'),
      gwAddrs: inet(gi),
      transitUp: (ti?.flags ?? []).includes('UP'),
      transitAddrs: inet(ti),
      defaultVia: routes.find((r) => r.dst === 'default')?.gateway,
      forwarding: fwd?.trim() === '1',
    });
  }
  return out;
}

/** Is the router as wanted? A missing piece or another digest: rebuild. */
export function routerRight(want: RouterDesired, have: RouterObserved | undefined, hostEnds: { gbMaster: string | undefined; gbUp: boolean; teUp: boolean; teAddrs: string[] }): boolean {
  return (
    !!have &&
    have.alias === `ironbay-router=${routerDigest(want)}` &&
    have.gwUp &&
    have.gwAddrs.length === 1 &&
    have.gwAddrs[0] === want.gateway &&
    have.transitUp &&
    have.transitAddrs.length === 1 &&
    have.transitAddrs[0] === want.transit.router &&
    have.defaultVia === addr(want.transit.host) &&
    have.forwarding &&
    hostEnds.gbMaster === bridgeName(want.vni) &&
    hostEnds.gbUp &&
    hostEnds.teUp &&
    hostEnds.teAddrs.length === 1 &&
    hostEnds.teAddrs[0] === want.transit.host
  );
}
