// A cluster VM's lifecycle on its host, as shell for one round trip (issue #7): create (disk
// overlay on the base image, NoCloud seed, domain defined, autostarted, started), start again,
// and remove (ACPI shutdown with a deadline, then destroy, undefine, files gone). Every
// command reports when it ran, so a create can be broken down into disk, seed, define and
// start. Pure text; the reconciler sends it over SSH.
import { domainXml, type DomainSpec } from './domain.ts';

/** ironbay's domains on a host, and only they, carry this prefix. */
export const DOMAIN_PREFIX = 'ib-';
export const domainName = (vm: string): string => `${DOMAIN_PREFIX}${vm}`;
export const VIRSH = 'virsh -q -c qemu:///system';

/** `virsh list --all` (names and states, no header) in the host read. */
export const READ_VMS = `${VIRSH} list --all`;

/** Domain name → state (`running`, `shut off`, `paused` …), ironbay's domains only. */
export function parseVms(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+|-)\s+(\S+)\s+(.+?)\s*$/.exec(line);
    if (m && m[2]!.startsWith(DOMAIN_PREFIX)) out.set(m[2]!, m[3]!);
  }
  return out;
}

export interface VmFiles {
  'user-data': string;
  'meta-data': string;
  'network-config': string;
}

export interface VmCreate {
  vm: string;
  cluster: string;
  role: 'control-plane' | 'worker';
  dir: string;
  /** Base image path on the host and its format. */
  image: string;
  diskGiB: number;
  domain: Omit<DomainSpec, 'name' | 'cluster' | 'role' | 'disk' | 'seed' | 'consoleLog'>;
  seed: VmFiles;
}

/** A heredoc body cannot end early: its terminator never occurs in ironbay's own text, checked. */
function heredoc(path: string, body: string): string {
  const end = 'IRONBAY_EOF';
  if (body.split('\n').includes(end)) throw new Error(`${path}: content contains the heredoc terminator`);
  return `cat > ${q(path)} <<'${end}'\n${body.endsWith('\n') ? body : body + '\n'}${end}`;
}

/** One shell word. */
export const q = (s: string): string => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
const mark = (vm: string, what: string): string => `echo "@t ${vm} ${what} $(date +%s%N)"`;

export function createVm(c: VmCreate): string[] {
  const name = domainName(c.vm);
  const disk = `${c.dir}/disk.qcow2`;
  const seed = `${c.dir}/seed.iso`;
  const fmt = /\.qcow2$/.test(c.image) ? 'qcow2' : 'raw';
  const xml = domainXml({ ...c.domain, name, cluster: c.cluster, role: c.role, disk, seed, consoleLog: `${c.dir}/console.log` });
  return [
    mark(c.vm, 'begin'),
    `mkdir -p ${q(c.dir)}`,
    `test -r ${q(c.image)} || { echo "ironbay: ${c.vm}: base image ${c.image} is missing on this host" >&2; exit 1; }`,
    // A VM that vanished comes back on its own disk: only a missing overlay is made anew.
    `test -f ${q(disk)} || qemu-img create -q -f qcow2 -F ${fmt} -b ${q(c.image)} ${q(disk)} ${c.diskGiB}G`,
    mark(c.vm, 'disk'),
    heredoc(`${c.dir}/user-data`, c.seed['user-data']),
    heredoc(`${c.dir}/meta-data`, c.seed['meta-data']),
    heredoc(`${c.dir}/network-config`, c.seed['network-config']),
    `cloud-localds --network-config=${q(`${c.dir}/network-config`)} ${q(seed)} ${q(`${c.dir}/user-data`)} ${q(`${c.dir}/meta-data`)}`,
    mark(c.vm, 'seed'),
    heredoc(`${c.dir}/domain.xml`, xml),
    `${VIRSH} define ${q(`${c.dir}/domain.xml`)} >/dev/null`,
    `${VIRSH} autostart ${name} >/dev/null`,
    mark(c.vm, 'define'),
    `${VIRSH} start ${name} >/dev/null`,
    mark(c.vm, 'start'),
  ];
}

export const startVm = (vm: string): string[] => [`${VIRSH} start ${domainName(vm)} >/dev/null`, mark(vm, 'start')];

/** ACPI shutdown, bounded; then destroy, undefine, and the VM's files. */
export function removeVm(vm: string, dir: string, shutdownTimeoutS: number): string[] {
  const name = domainName(vm);
  return [
    `if ${VIRSH} domstate ${name} 2>/dev/null | grep -q running; then ${VIRSH} shutdown ${name} >/dev/null 2>&1 || true; ` +
      `i=0; while [ $i -lt ${shutdownTimeoutS * 5} ] && ${VIRSH} domstate ${name} 2>/dev/null | grep -q running; do sleep 0.2; i=$((i + 1)); done; ` +
      `${VIRSH} domstate ${name} 2>/dev/null | grep -q running && { echo "@shutdown ${vm} destroyed"; ${VIRSH} destroy ${name} >/dev/null; } || echo "@shutdown ${vm} clean"; fi`,
    `${VIRSH} domstate ${name} >/dev/null 2>&1 && ${VIRSH} undefine ${name} >/dev/null || true`,
    `rm -rf ${q(dir)}`,
    mark(vm, 'removed'),
  ];
}

/** The `@t VM STEP NANOS` and `@shutdown VM how` lines an apply printed. */
export function parseMarks(stdout: string): { times: Map<string, Map<string, number>>; shutdowns: Map<string, string> } {
  const times = new Map<string, Map<string, number>>();
  const shutdowns = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    let m = /^@t (\S+) (\S+) (\d+)$/.exec(line);
    if (m) {
      const t = times.get(m[1]!) ?? new Map<string, number>();
      t.set(m[2]!, Number(BigInt(m[3]!) / 1000n) / 1000);
      times.set(m[1]!, t);
      continue;
    }
    m = /^@shutdown (\S+) (\S+)$/.exec(line);
    if (m) shutdowns.set(m[1]!, m[2]!);
  }
  return { times, shutdowns };
}
