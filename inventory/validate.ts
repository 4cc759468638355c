// Inventory loading: parse → normalise → validate whole. Every problem is reported with its
// file, line and column, all in one run; a file with any error is rejected as a whole.
import { compileChecker } from '../daemon/lib/schema-check.ts';
import { formatPath, parseYaml, type PathSegment, type SourceError, type YamlDocument } from '../daemon/lib/yaml-source.ts';
import {
  canonicalIp,
  cidrContains,
  cidrOverlaps,
  formatCidr,
  formatInterface,
  formatIp,
  mask,
  normalizeMac,
  parseCidr,
  parseInterface,
  parseIp,
  type Cidr,
  type Ip,
} from '../daemon/lib/net.ts';
import type { Inventory, NormalizedInventory } from './schema.ts';
// Generated from schema.ts (see schema-json.ts): loading TypeBox itself costs ~250 ms.
import InventorySchema from './schema.json' with { type: 'json' };

export type InventoryResult = { ok: true; inventory: NormalizedInventory } | { ok: false; errors: SourceError[] };

// Compiled once per process, on first use, not at import.
let checker: ((v: unknown) => ReturnType<ReturnType<typeof compileChecker>>) | undefined;

export function loadInventory(file: string, text: string): InventoryResult {
  const parsed = parseYaml(file, text);
  if (!parsed.ok) return parsed;
  const doc = parsed.doc;
  if (doc.value === null || doc.value === undefined) {
    // An empty file would retire every machine; far more often it is a half-written save.
    return { ok: false, errors: [doc.error([], 'the inventory is empty; an inventory without machines is written as "machines: []"')] };
  }
  checker ??= compileChecker(InventorySchema);
  const errors: SourceError[] = checker(doc.value).map((i) => doc.error(i.path, i.message, i.atKey));
  const inv = doc.value as Inventory;
  const checks = new Checks(doc, errors);
  const normalized = checks.run(inv);
  errors.sort((a, b) => a.line - b.line || a.col - b.col);
  return errors.length ? { ok: false, errors } : { ok: true, inventory: normalized };
}

interface Owner {
  path: PathSegment[];
  machine: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);
// The suites daemon/bmc/ipmi speaks (codec/suites.ts): not the xRC4 ones, nor 11 and 12 (MD5-128 integrity).
const IPMI_SUITES = new Set([0, 1, 2, 3, 6, 7, 8, 15, 16, 17]);

/**
 * Cross-entry rules. Written defensively: it runs even when the schema already found
 * errors, so that one run reports everything, and must not trip over wrong types.
 */
class Checks {
  private readonly doc: YamlDocument;
  private readonly errors: SourceError[];
  private readonly ips = new Map<string, Owner>();

  constructor(doc: YamlDocument, errors: SourceError[]) {
    this.doc = doc;
    this.errors = errors;
  }

  private err(path: PathSegment[], message: string): void {
    this.errors.push(this.doc.error(path, message));
  }

  run(inv: Inventory): NormalizedInventory {
    // flatMap, not map: an entry that is not a mapping (`- ` with nothing after it) has been
    // reported by the schema and is skipped here.
    const boot = list(inv.networks?.boot).flatMap((n, i) => {
      if (!isObj(n)) return [];
      const at: PathSegment[] = ['networks', 'boot', i];
      const subnet = this.subnet(n.subnet, [...at, 'subnet']);
      if (subnet && subnet.family !== 4) this.err([...at, 'subnet'], 'boot networks are IPv4 (DHCPv4 and PXE)');
      const gateway = this.addressIn(n.gateway, subnet, [...at, 'gateway']);
      let pool = n.pool;
      if (isObj(n.pool)) {
        const start = this.addressIn(n.pool.start, subnet, [...at, 'pool', 'start']);
        const end = this.addressIn(n.pool.end, subnet, [...at, 'pool', 'end']);
        const s = start ? parseIp(start) : undefined;
        const e = end ? parseIp(end) : undefined;
        if (s && e && s.value > e.value) this.err([...at, 'pool', 'end'], `pool end ${end} is before its start ${start}`);
        if (start && end) pool = { start, end };
      }
      return [{ n: { ...n, subnet: subnet ? formatCidr(subnet) : n.subnet, ...opt('gateway', gateway), ...opt('pool', pool), ...opt('dns', this.ipList(n.dns, [...at, 'dns'])) }, subnet, at }];
    });
    this.unique(boot.map((b) => ({ key: b.n.name, path: [...b.at, 'name'] })), 'boot network name');
    this.noOverlap(boot, 'boot');

    const production = list(inv.networks?.production).flatMap((n, i) => {
      if (!isObj(n)) return [];
      const at: PathSegment[] = ['networks', 'production', i];
      const subnet = this.subnet(n.subnet, [...at, 'subnet']);
      const gateway = this.addressIn(n.gateway, subnet, [...at, 'gateway']);
      return [{ n: { ...n, subnet: subnet ? formatCidr(subnet) : n.subnet, ...opt('gateway', gateway), ...opt('dns', this.ipList(n.dns, [...at, 'dns'])) }, subnet, at }];
    });
    this.unique(production.map((p) => ({ key: p.n.name, path: [...p.at, 'name'] })), 'production network name');
    this.noOverlap(production, 'production');

    const profiles = list(inv.profiles);
    this.unique(profiles.map((p, i) => ({ key: p?.name, path: ['profiles', i, 'name'] })), 'profile name');
    const profileNames = new Set(profiles.map((p) => p?.name));

    const machines = list(inv.machines);
    this.unique(machines.map((m, i) => ({ key: m?.name, path: ['machines', i, 'name'] })), 'machine name');
    const macs = new Map<string, Owner>();
    const bmcs = new Map<string, Owner>();
    const normMachines = machines.map((m, i) => {
      const at: PathSegment[] = ['machines', i];
      if (!isObj(m)) return m;
      const owner = m.name;
      const normMacs = list(m.macs).map((raw, j) => {
        const mac = typeof raw === 'string' ? normalizeMac(raw) : undefined;
        if (typeof raw === 'string' && !mac) this.err([...at, 'macs', j], `"${raw}" is not a MAC address (e.g. 52:54:00:12:34:56)`);
        if (mac) this.claim(macs, mac, { path: [...at, 'macs', j], machine: owner }, 'MAC');
        return mac ?? raw;
      });
      if (isObj(m.bmc)) this.bmc(m.bmc, [...at, 'bmc'], owner, bmcs);
      if (typeof m.profile === 'string' && !profileNames.has(m.profile)) {
        this.err([...at, 'profile'], `unknown profile "${m.profile}"${profileNames.size ? ` (profiles: ${[...profileNames].join(', ')})` : ' (no profiles are defined)'}`);
      }
      let bootAddress = m.bootAddress;
      if (typeof m.bootAddress === 'string') bootAddress = this.bootAddress(m.bootAddress, [...at, 'bootAddress'], owner, boot);
      let prodOut: unknown = m.production;
      if (isObj(m.production)) prodOut = this.production(m.production, [...at, 'production'], owner, production);
      return { ...m, macs: normMacs, ...opt('bootAddress', bootAddress), ...opt('production', prodOut) } as typeof m;
    });

    const clusters = list(inv.clusters).map((c, i) => {
      const at: PathSegment[] = ['clusters', i];
      if (!isObj(c)) return c;
      const pod = this.subnet(c.podCidr, [...at, 'podCidr']);
      const svc = this.subnet(c.serviceCidr, [...at, 'serviceCidr']);
      if (pod && svc && cidrOverlaps(pod, svc)) this.err([...at, 'serviceCidr'], `service CIDR ${formatCidr(svc)} overlaps the pod CIDR ${formatCidr(pod)}`);
      let calico = c.calico;
      if (isObj(c.calico) && typeof c.calico.ipPool === 'string') {
        const pool = this.subnet(c.calico.ipPool, [...at, 'calico', 'ipPool']);
        if (pool) calico = { ...c.calico, ipPool: formatCidr(pool) };
      }
      let subnet = c.subnet;
      if (typeof c.subnet === 'string') {
        const n = this.subnet(c.subnet, [...at, 'subnet']);
        if (n && (n.family !== 4 || n.prefix > 28)) this.err([...at, 'subnet'], `the node subnet ${formatCidr(n)} must be IPv4 and /28 or larger (room for the gateway and the VMs)`);
        else if (n) subnet = formatCidr(n);
      }
      return { ...c, podCidr: pod ? formatCidr(pod) : c.podCidr, serviceCidr: svc ? formatCidr(svc) : c.serviceCidr, ...opt('calico', calico), ...opt('subnet', subnet) };
    });
    this.unique(clusters.map((c, i) => ({ key: isObj(c) ? c.name : undefined, path: ['clusters', i, 'name'] })), 'cluster name');

    return {
      networks: { boot: boot.map((b) => b.n), production: production.map((p) => p.n) },
      profiles,
      machines: normMachines,
      clusters,
    };
  }

  private bmc(b: Record<string, unknown>, at: PathSegment[], machine: string, bmcs: Map<string, Owner>): void {
    if ('password' in b) {
      this.err([...at, 'password'], 'inline secret: BMC passwords are never stored in the inventory; use passwordFile (a path) or passwordEnv (a variable name)');
    }
    const hasFile = typeof b.passwordFile === 'string';
    const hasEnv = typeof b.passwordEnv === 'string';
    if (!hasFile && !hasEnv && !('password' in b)) this.err(at, 'one of passwordFile or passwordEnv is required');
    if (hasFile && hasEnv) this.err([...at, 'passwordEnv'], 'give passwordFile or passwordEnv, not both');
    const suite = b.cipherSuite;
    // Out-of-range and fractional numbers are the schema's to report, once.
    if (typeof suite === 'number' && Number.isInteger(suite) && suite >= 0 && suite <= 17) {
      if (b.driver === 'redfish') this.err([...at, 'cipherSuite'], 'cipherSuite applies to the ipmi driver only');
      // IPMI v2.0 Table 22-20: suites 4, 5, 9, 10, 13, 14 (and 18, 19) encrypt with xRC4.
      else if (!IPMI_SUITES.has(suite)) {
        const why = suite === 11 || suite === 12 ? 'uses the MD5-128 integrity algorithm' : 'encrypts with xRC4';
        this.err([...at, 'cipherSuite'], `cipher suite ${suite} ${why}, which ironbay does not support; use 17 (or 3 on BMCs without SHA-256)`);
      }
      else if (suite === 0 && b.allowCipherSuiteZero !== true) {
        this.err([...at, 'cipherSuite'], 'cipher suite 0 sends commands without authentication; set allowCipherSuiteZero: true on this machine to accept that');
      }
    }
    if (b.driver === 'ipmi') {
      for (const k of ['insecureTls', 'tlsFingerprint'] as const) if (k in b) this.err([...at, k], `${k} applies to the redfish driver only`);
    }
    if (typeof b.address === 'string') {
      const host = canonicalIp(b.address) ?? b.address.toLowerCase();
      const port = typeof b.port === 'number' ? b.port : b.driver === 'redfish' ? 443 : 623;
      this.claim(bmcs, `${host}:${port}`, { path: [...at, 'address'], machine }, 'BMC address');
    }
  }

  private bootAddress(text: string, at: PathSegment[], machine: string, boot: { n: { name: string; pool?: { start: string; end: string } | undefined }; subnet: Cidr | undefined }[]): string | undefined {
    const ip = parseIp(text);
    if (!ip) {
      this.err(at, `"${text}" is not an IP address`);
      return undefined;
    }
    const net = boot.find((b) => b.subnet && cidrContains(b.subnet, ip));
    if (!net) this.err(at, boot.length ? `${text} is outside every boot network (${boot.map((b) => b.n.name).join(', ')})` : `${text}: no boot network is defined under networks.boot`);
    else {
      this.hostAddress(ip, net.subnet!, at, text);
      const pool = net.n.pool;
      const s = pool ? parseIp(pool.start) : undefined;
      const e = pool ? parseIp(pool.end) : undefined;
      if (s && e && ip.value >= s.value && ip.value <= e.value) {
        this.err(at, `${text} is inside the dynamic pool ${pool!.start}-${pool!.end} of boot network ${net.n.name}; static addresses must be outside it`);
      }
    }
    const canon = formatIp(ip);
    this.claim(this.ips, canon, { path: at, machine }, 'IP address');
    return canon;
  }

  private production(p: Record<string, unknown>, at: PathSegment[], machine: string, nets: { n: { name: string }; subnet: Cidr | undefined }[]): Record<string, unknown> {
    const out = { ...p };
    if (typeof p.address !== 'string') return out;
    const iface = parseInterface(p.address);
    if (!iface) {
      this.err([...at, 'address'], `"${p.address}" is not an address with a prefix length (e.g. 203.0.113.5/24)`);
      return out;
    }
    const subnet: Cidr = { family: iface.family, network: iface.value & mask(iface.family, iface.prefix), prefix: iface.prefix };
    this.hostAddress(iface, subnet, [...at, 'address'], p.address);
    out.address = formatInterface(iface);
    const canon = formatIp(iface);
    if (nets.length) {
      const net = nets.find((n) => n.subnet && cidrContains(n.subnet, iface));
      if (!net) this.err([...at, 'address'], `${p.address} is outside every production network (${nets.map((n) => n.n.name).join(', ')})`);
      else if (net.subnet!.prefix !== iface.prefix) {
        this.err([...at, 'address'], `prefix /${iface.prefix} differs from production network ${net.n.name} (${formatCidr(net.subnet!)})`);
      }
    }
    const gw = this.addressIn(p.gateway, subnet, [...at, 'gateway']);
    if (gw) out.gateway = gw;
    const dns = this.ipList(p.dns, [...at, 'dns']);
    if (dns) out.dns = dns;
    this.claim(this.ips, canon, { path: [...at, 'address'], machine }, 'IP address');
    return out;
  }

  /** The network and (IPv4) broadcast addresses cannot be given to a host. */
  private hostAddress(ip: Ip, subnet: Cidr, at: PathSegment[], text: string): void {
    if (subnet.family !== 4 || subnet.prefix >= 31) return;
    const broadcast = subnet.network | ((1n << BigInt(32 - subnet.prefix)) - 1n);
    if (ip.value === subnet.network) this.err(at, `${text} is the network address of ${formatCidr(subnet)}`);
    if (ip.value === broadcast) this.err(at, `${text} is the broadcast address of ${formatCidr(subnet)}`);
  }

  private subnet(v: unknown, at: PathSegment[]): Cidr | undefined {
    if (typeof v !== 'string') return undefined;
    const r = parseCidr(v);
    if (!r.ok) {
      this.err(at, r.reason);
      return undefined;
    }
    return r.cidr;
  }

  /** A host address (gateway, pool bound) that must lie in `subnet`, when one is given. */
  private addressIn(v: unknown, subnet: Cidr | undefined, at: PathSegment[]): string | undefined {
    if (typeof v !== 'string') return undefined;
    const ip = parseIp(v);
    if (!ip) {
      this.err(at, `"${v}" is not an IP address`);
      return undefined;
    }
    if (subnet && !cidrContains(subnet, ip)) this.err(at, `${v} is outside ${formatCidr(subnet)}`);
    else if (subnet) this.hostAddress(ip, subnet, at, v);
    return formatIp(ip);
  }

  private ipList(v: unknown, at: PathSegment[]): string[] | undefined {
    if (!Array.isArray(v)) return undefined;
    return (v as unknown[]).map((x, i) => (typeof x === 'string' ? (this.addressIn(x, undefined, [...at, i]) ?? x) : x)) as string[];
  }

  private claim(seen: Map<string, Owner>, key: string, owner: Owner, what: string): void {
    const first = seen.get(key);
    if (!first) {
      seen.set(key, owner);
      return;
    }
    const whose = first.path[1] === owner.path[1] ? 'this machine' : `machine ${first.machine}`;
    this.err(owner.path, `duplicate ${what} ${key}: already used by ${whose} at ${formatPath(first.path)}`);
  }

  private unique(items: { key: unknown; path: PathSegment[] }[], what: string): void {
    const seen = new Map<string, PathSegment[]>();
    for (const { key, path } of items) {
      if (typeof key !== 'string') continue;
      const first = seen.get(key);
      if (first) this.err(path, `duplicate ${what} "${key}" (first at ${formatPath(first)})`);
      else seen.set(key, path);
    }
  }

  private noOverlap(nets: { subnet: Cidr | undefined; at: PathSegment[]; n: { name: string } }[], kind: string): void {
    for (let i = 0; i < nets.length; i++) {
      for (let j = 0; j < i; j++) {
        const a = nets[j]!;
        const b = nets[i]!;
        if (a.subnet && b.subnet && cidrOverlaps(a.subnet, b.subnet)) {
          this.err([...b.at, 'subnet'], `${kind} network ${b.n.name} overlaps ${a.n.name} (${formatCidr(a.subnet)})`);
        }
      }
    }
  }
}

/** Spread helper that leaves a key out instead of writing `key: undefined`. */
function opt<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}
