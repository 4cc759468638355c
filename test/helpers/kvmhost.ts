// Emulated KVM hosts for the workload-cluster tests (issue #7): ironbay drives its kvm-host
// machines over SSH — iproute2, iptables, `ip netns`, virsh, cloud-localds, qemu-img — and here
// each such machine is a set of Linux namespaces on this one, with real daemons in it. What each
// piece stands for:
//
//   the production network   a bridge `<prefix>br` in the ROOT namespace (where the daemon
//                            under test runs), carrying the appliance's address 198.18.64.1/24
//                            (the next free /24 up when another run holds that one: read
//                            `appliance`)
//   host i's NIC and cable   a veth: `<prefix>h<i>` on that bridge, `prod0` inside the host,
//                            198.18.64.(10+i)/24, default route via the appliance, MTU 1500,
//                            TX offloads off on both ends (offloads hide MTU bugs: PEERS.md).
//                            hostDown(i)/hostUp(i) set the bridge end down/up: a pulled cable
//   host i's kernel          its network namespace `<prefix>-h<i>` (links, routes, iptables,
//                            ip_forward=1, VXLAN), its own UTS namespace (hostname), its own PID
//                            namespace (its `ps` shows its processes only; when its init dies
//                            every process in it dies: the power cord)
//   host i's disk            its own mount namespace: /etc and /var are overlays of this
//                            machine's (writes land in `dirs.etc`/`dirs.var`, never in the real
//                            /etc or /var), /run a fresh tmpfs. So /etc/libvirt (qemu.conf with
//                            security_driver "none", user and group root: without root every
//                            define stalls 30–50 s here), /var/lib/libvirt, /var/log/libvirt,
//                            /var/cache/libvirt, /run/libvirt, /run/netns (`ip netns add x` on two
//                            hosts: two different x, none in the root namespace), /etc/ironbay,
//                            /var/lib/ironbay and /etc/systemd/network are the host's own.
//                            /tmp, /usr, /root and /dev are this machine's, shared
//   host i's services        virtlogd and libvirtd (qemu:///system; no default network, no
//                            cgroups: `ip netns exec` hides /sys/fs/cgroup), then OpenSSH's sshd
//                            on 198.18.64.(10+i):22 as the namespace's init (PID 1: it reaps
//                            orphans, which libvirt needs — a qemu zombie makes libvirt wait 40 s
//                            per process). An SSH session lands in all of the host's namespaces.
//                            The hostname resolves from /etc/hosts (127.0.1.1): libvirt looks it
//                            up at every domain start, and unanswered DNS cost 10 s each time.
//                            Sessions get SHLVL=1 (root's ~/.bashrc here costs 0.2 s a command)
//                            and an sftp subsystem
//   the hypervisor           qemu under TCG: domains must say type='qemu' (/dev/kvm here is
//                            nested-virtualisation software that hangs a guest: PEERS.md)
//
// How a host starts: setpriv (parent-death signal KILL) → `ip netns exec NS` → `unshare --mount
// --uts --pid --fork --kill-child --mount-proc --propagation private` → /bin/sh WRAPPER (below),
// which drops the copied netns mounts, mounts the overlays and /run, writes libvirt's settings,
// starts virtlogd -d and libvirtd -d, waits for virsh to answer, and execs sshd -D. If the test
// process dies, the KILL travels down that chain and the kernel ends the host's PID namespace.
// The network namespace, bridge and directories are removed by stopAll(), by the exit hook, or
// by the next run's sweep (each run's directory records what it created, under its pid).
//
// Timings here (2 CPUs, other tests running): two hosts answer SSH 0.7–1.1 s after the call; a
// host's first `virsh define` ~1 s (libvirt probes qemu's capabilities), later ones and `virsh
// start` ~0.5 s; the guest of test/helpers/cluster-guest.ts reaches IRONBAY-GUEST-UP 6–8 s after
// `virsh start` under TCG, and `virsh shutdown` (ACPI) ends it in ~0.5 s; stopAll() ~0.3 s.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns } from './netns.ts';
import { run, type RunResult } from './run.ts';
import { fingerprint, generateKeyPair, sshdConfig, tcpBanner } from './sshd.ts';

const SSHD = '/usr/sbin/sshd';
/** The hosts' own PATH (a login's), not the test runner's. */
const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_APPLIANCE = '198.18.64.1/24';
export const PROD_IF = 'prod0';
export const SSH_PORT = 22;
const READY_MS = 30_000;
const STOP_MS = 5_000;
const DIR_PREFIX = 'ironbay-kvmhost-';

// ---------------------------------------------------------------------------------------
// The wrapper: PID 1 of the host's PID namespace until it execs sshd. Arguments: the host's
// directory, hostname, sshd_config.

const WRAPPER = `#!/bin/sh
# test/helpers/kvmhost.ts: one emulated KVM host's init. Runs inside the host's network, mount,
# UTS and PID namespaces; everything it mounts is private to them.
set -eu
dir=$1
name=$2
config=$3
say() { echo "kvmhost[$name]: $*" >&2; }
mount --make-rprivate /
hostname "$name"
# This mount namespace began as a copy of the machine's: it would hold every network namespace
# bound under /run/netns then (other tests' too) alive until this host ends. Drop those mounts.
sed -n 's/^[0-9]* [0-9]* [^ ]* [^ ]* \\([^ ]*\\) .* - nsfs .*/\\1/p' /proc/self/mountinfo | sort -r |
  while read -r m; do umount -l "$m" 2>/dev/null || true; done
umount -l /run/netns 2>/dev/null || true
mount -t tmpfs -o mode=0755,size=64m "run-$name" /run
mkdir -p /run/sshd /run/libvirt /run/lock /run/netns
for d in etc var; do
  mkdir -p "$dir/$d/upper" "$dir/$d/work"
  mount -t overlay "$d-$name" -o "lowerdir=/$d,upperdir=$dir/$d/upper,workdir=$dir/$d/work" "/$d"
done
mkdir -p /etc/ironbay /var/lib/ironbay /etc/systemd/network /var/log/libvirt/qemu /var/cache/libvirt
# The hostname resolves locally, as Debian's installer arranges: libvirt looks it up at every
# domain start, and a DNS server that never answers costs 10 s each time.
printf '127.0.1.1\t%s\n' "$name" >>/etc/hosts
# libvirt as root with no confinement, no default network, logs in /var/log/libvirt.
sed -i -e '/^[[:space:]]*\\(security_driver\\|user\\|group\\)[[:space:]]*=/d' /etc/libvirt/qemu.conf
cat >>/etc/libvirt/qemu.conf <<'EOF'
# test/helpers/kvmhost.ts
security_driver = "none"
user = "root"
group = "root"
EOF
sed -i -e '/^[[:space:]]*log_outputs[[:space:]]*=/d' /etc/libvirt/libvirtd.conf /etc/libvirt/virtlogd.conf
echo 'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"' >>/etc/libvirt/libvirtd.conf
echo 'log_outputs = "3:file:/var/log/libvirt/virtlogd.log"' >>/etc/libvirt/virtlogd.conf
rm -f /etc/libvirt/qemu/networks/autostart/*.xml
sysctl -qw net.ipv4.ip_forward=1
if [ -n "\${KVMHOST_NO_LIBVIRT:-}" ]; then
  say "no libvirt (fake hosts)"
else
  virtlogd -d
  libvirtd -d
  i=0
  until virsh -c qemu:///system list >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -ge 200 ]; then
      say "libvirtd does not answer after 20 s"
      exit 1
    fi
    sleep 0.1
  done
  say "libvirtd answers"
fi
exec ${SSHD} -D -e -f "$config"
`;

// ---------------------------------------------------------------------------------------
// The API

export interface KvmHostsOptions {
  /** Public key lines accepted for root over SSH: the appliance's key. */
  authorizedKeys: string[];
  /**
   * The appliance's address on the production bridge, a /24 in 198.18.0.0/15; host i is .(10+i).
   * Default 198.18.64.1/24 — or, when another run holds that subnet here, the next free /24
   * from 198.18.65.0 up (read `appliance`).
   */
  appliance?: string;
  /** Host i's hostname (i from 1); default `kvm-h<i>`. */
  hostname?: (i: number) => string;
  /** Extra sshd_config lines for every host; they win over the defaults. */
  extraSshdConfig?: string[];
  /** Netns tag (1–4 lower-case letters); default 'kvh'. */
  tag?: string;
  /**
   * Fake hosts for benchmarks: no libvirtd, and this directory first in the PATH of SSH
   * sessions and exec() (stand-ins for virsh, qemu-img, cloud-localds). Networking stays real.
   */
  fakeBin?: string;
}

export interface KvmHost {
  /** 1-based: host i is `<prefix>-h<i>` at 198.18.64.(10+i). */
  readonly index: number;
  /** Its network namespace's name in the root namespace. */
  readonly netns: string;
  readonly hostname: string;
  /** Production address (no prefix), which sshd listens on. */
  readonly address: string;
  readonly port: number;
  /** The bridge end of its veth (root namespace); `prod0` inside. */
  readonly veth: string;
  /** 'ssh-ed25519 AAAA…' */
  readonly hostPublicKey: string;
  /** 'SHA256:…' of the host key (OpenSSH's format). */
  readonly hostKeyFingerprint: string;
  /** root: its directory; etc/var: the overlays' upper layers (what the host wrote there). */
  readonly dirs: { root: string; etc: string; var: string };
  /** The PID (root namespace's numbering) of the host's init, sshd; undefined once stopped. */
  pid(): number | undefined;
  /** Runs `sh -c cmd` inside all the host's namespaces (as its SSH sessions do), with its PATH. */
  exec(cmd: string, input?: string): Promise<RunResult>;
  /** exec() that throws on a non-zero exit; returns stdout. */
  sh(cmd: string, input?: string): Promise<string>;
  /** A path of the host's file system as seen from here (/proc/PID/root/…), while it runs. */
  path(hostPath: string): string;
  /** The wrapper's and sshd's log (sshd -e). */
  log(): string;
  /** libvirtd's log (warnings and errors). */
  libvirtLog(): string;
  /** Cable pulled: the bridge end of its veth down. The host keeps running. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Destroys its domains, ends every process (PID namespace), deletes its namespace. Idempotent. */
  stop(): Promise<void>;
}

export interface KvmHosts extends AsyncDisposable {
  /** hosts[0] is host 1. */
  readonly hosts: KvmHost[];
  /** The production bridge in the root namespace. */
  readonly bridge: string;
  /** The appliance's address on it, no prefix (198.18.64.1) … */
  readonly appliance: string;
  /** … and with it (198.18.64.1/24). */
  readonly applianceCidr: string;
  /** Host i's (1-based) cable pulled / plugged back. */
  hostDown(i: number): Promise<void>;
  hostUp(i: number): Promise<void>;
  /** Stops every host, removes the bridge, namespaces and directories. Idempotent. */
  stopAll(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Cleanup: on exit (a failed test included), and a killed run's leftovers on the next start.

interface State {
  netns: string[];
  links: string[];
}

const live = new Set<Host>();
const runs = new Set<{ dir: string; state: State }>();
let hooked = false;

function removeLeftovers(state: State): void {
  for (const l of state.links) spawnSync('ip', ['link', 'del', l], { stdio: 'ignore' });
  for (const n of state.netns) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
}

/** Directories `ironbay-kvmhost-<pid>-…` of runs that are gone: their namespaces, links, files. */
function sweep(): void {
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // Its owner still runs.
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    const dir = join(tmpdir(), name);
    try {
      removeLeftovers(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as State);
    } catch {
      // No state written yet: nothing was created.
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  sweep();
  process.once('exit', () => {
    for (const h of live) {
      const pid = h.pid();
      if (pid !== undefined) killQuietly(pid, 'SIGKILL');
    }
    for (const r of runs) {
      removeLeftovers(r.state);
      rmSync(r.dir, { recursive: true, force: true });
    }
  });
}

function killQuietly(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already.
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function must(cmd: string, args: string[]): Promise<RunResult> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${String(r.code)}`}`);
  return r;
}

// ---------------------------------------------------------------------------------------
// Addresses

function parseAppliance(cidr: string): { octets: number[]; prefix: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  if (!m || octets.some((o) => o > 255) || Number(m[5]) !== 24) throw new Error(`appliance: an IPv4 /24 address, e.g. ${DEFAULT_APPLIANCE}; got ${cidr}`);
  if (octets[0] !== 198 || (octets[1] !== 18 && octets[1] !== 19)) throw new Error(`appliance: addresses here stay in 198.18.0.0/15; got ${cidr}`);
  return { octets, prefix: 24 };
}

/** Per /24 (as "a.b.c"), the root namespace's interfaces holding an IPv4 address in it now. */
async function subnetsInUse(): Promise<Map<string, string[]>> {
  const r = await must('ip', ['-4', '-o', 'addr', 'show']);
  const used = new Map<string, string[]>();
  for (const m of r.stdout.matchAll(/^\d+:\s+(\S+)\s+inet (\d+\.\d+\.\d+)\.\d+\//gm)) used.set(m[2]!, [...(used.get(m[2]!) ?? []), m[1]!]);
  return used;
}

/** Another run's production bridge (this harness's naming: Netns prefix + "br"). */
const HARNESS_BRIDGE = /^[a-z]{1,4}[0-9a-f]{6}br$/;

/**
 * Puts the appliance's address on the bridge: the given one, or the first /24 from 198.18.64.0
 * no interface here holds. Two runs starting at once may pick the same one: each checks after
 * adding, and all but the harness bridge with the lowest name step aside to the next.
 */
async function claimAppliance(bridge: string, given: string | undefined): Promise<string> {
  const skip = new Set<string>();
  for (;;) {
    const used = await subnetsInUse();
    let cidr = given;
    if (cidr === undefined) {
      for (let c = 64; c < 128 && cidr === undefined; c++) if (!used.has(`198.18.${c}`) && !skip.has(`198.18.${c}`)) cidr = `198.18.${c}.1/24`;
      if (cidr === undefined) throw new Error('no free /24 in 198.18.64.0–198.18.127.255 for the production bridge');
    }
    const net24 = parseAppliance(cidr).octets.slice(0, 3).join('.');
    if (given !== undefined && used.has(net24)) throw new Error(`appliance ${given}: its /24 is already on ${used.get(net24)!.join(', ')} in the root namespace`);
    await must('ip', ['addr', 'add', cidr, 'dev', bridge]);
    const others = ((await subnetsInUse()).get(net24) ?? []).filter((d) => d !== bridge);
    if (others.every((d) => HARNESS_BRIDGE.test(d) && d > bridge)) return cidr;
    await run('ip', ['addr', 'del', cidr, 'dev', bridge]);
    if (given !== undefined) throw new Error(`appliance ${given}: its /24 was taken meanwhile by ${others.join(', ')}`);
    skip.add(net24);
  }
}

// ---------------------------------------------------------------------------------------
// One host

class Host implements KvmHost {
  readonly index: number;
  readonly netns: string;
  readonly hostname: string;
  readonly address: string;
  readonly port = SSH_PORT;
  readonly veth: string;
  readonly dirs: { root: string; etc: string; var: string };
  hostPublicKey = '';
  hostKeyFingerprint = '';
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private gone = true;
  private initPid: number | undefined;
  private stopping: Promise<void> | undefined;
  private readonly logPath: string;

  private readonly fakeBin: string | undefined;

  constructor(o: { index: number; netns: string; hostname: string; address: string; veth: string; dir: string; fakeBin?: string | undefined }) {
    this.fakeBin = o.fakeBin;
    this.index = o.index;
    this.netns = o.netns;
    this.hostname = o.hostname;
    this.address = o.address;
    this.veth = o.veth;
    this.dirs = { root: o.dir, etc: join(o.dir, 'etc/upper'), var: join(o.dir, 'var/upper') };
    this.logPath = join(o.dir, 'host.log');
  }

  pid(): number | undefined {
    return this.gone ? undefined : this.initPid;
  }

  private running(): number {
    const pid = this.pid();
    if (pid === undefined) throw new Error(`kvm host ${this.hostname} is not running`);
    return pid;
  }

  exec(cmd: string, input?: string): Promise<RunResult> {
    const pid = String(this.running());
    // nsenter forks into the PID namespace; entering the mount namespace sets root and cwd to its /.
    const argv = ['-t', pid, '-n', '-m', '-u', '-p', '--', 'env', '-i', `PATH=${this.fakeBin ? `${this.fakeBin}:` : ''}${HOST_PATH}`, 'HOME=/root', 'sh', '-c', cmd];
    return run('nsenter', argv, input === undefined ? {} : { input });
  }

  async sh(cmd: string, input?: string): Promise<string> {
    const r = await this.exec(cmd, input);
    if (r.code !== 0) throw new Error(`[${this.hostname}] ${cmd}: ${r.stderr.trim() || `exit ${String(r.code)}`}`);
    return r.stdout;
  }

  path(hostPath: string): string {
    if (!hostPath.startsWith('/')) throw new Error(`path: absolute, got ${hostPath}`);
    return `/proc/${this.running()}/root${hostPath}`;
  }

  log(): string {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  libvirtLog(): string {
    try {
      return readFileSync(join(this.dirs.var, 'log/libvirt/libvirtd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async down(): Promise<void> {
    await must('ip', ['link', 'set', this.veth, 'down']);
  }

  async up(): Promise<void> {
    await must('ip', ['link', 'set', this.veth, 'up']);
  }

  async start(authorizedKeys: string[], extra: string[]): Promise<void> {
    const dir = this.dirs.root;
    mkdirSync(dir, { recursive: true });
    for (const k of authorizedKeys) if (k.includes('\n')) throw new Error(`authorizedKeys: one key per entry: ${k.slice(0, 40)}…`);
    writeFileSync(join(dir, 'authorized_keys'), authorizedKeys.map((k) => `${k.trim()}\n`).join(''), { mode: 0o600 });
    const key = await generateKeyPair(dir, 'ssh_host_ed25519_key');
    this.hostPublicKey = key.publicKey;
    this.hostKeyFingerprint = fingerprint(key.publicKey);
    const config = join(dir, 'sshd_config');
    writeFileSync(config, sshdConfig({ host: this.address, port: this.port, dir, extra }));
    const t = await run(SSHD, ['-t', '-f', config]);
    if (t.code !== 0) throw new Error(`sshd -t -f ${config}: ${t.stderr.trim() || `exit ${String(t.code)}`}`);
    const wrapper = join(dir, 'init.sh');
    writeFileSync(wrapper, WRAPPER, { mode: 0o755 });

    const fd = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      const argv = ['--pdeathsig', 'KILL', '--', 'ip', 'netns', 'exec', this.netns];
      argv.push('unshare', '--mount', '--uts', '--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc', '--propagation', 'private');
      argv.push('--', '/bin/sh', wrapper, dir, this.hostname, config);
      child = spawn('setpriv', argv, { stdio: ['ignore', fd, fd], env: { PATH: HOST_PATH, HOME: '/root', ...(this.fakeBin && { KVMHOST_NO_LIBVIRT: '1' }) } });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    this.gone = false;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        this.gone = true;
        resolve();
      });
      child.once('error', (e) => {
        writeFileSync(this.logPath, `kvmhost: spawn failed: ${e.message}\n`, { flag: 'a' });
        this.gone = true;
        resolve();
      });
    });
    child.unref();
    live.add(this);
    try {
      await this.ready(child.pid!);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** The init (unshare's child) found, sshd listening and answering with its banner. */
  private async ready(unsharePid: number): Promise<void> {
    const until = performance.now() + READY_MS;
    const listening = `Server listening on ${this.address} port ${this.port}.`;
    for (;;) {
      if (this.gone) throw new Error(`kvm host ${this.hostname} exited during start: ${this.log().trim().split('\n').slice(-6).join(' | ')}`);
      if (this.initPid === undefined) {
        try {
          const kids = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim();
          if (kids) this.initPid = Number(kids.split(/\s+/)[0]);
        } catch {
          // Not there yet, or gone (the next round says which).
        }
      }
      if (this.initPid !== undefined && this.log().includes(listening)) {
        const banner = await tcpBanner(this.address, this.port, 1_000);
        if (banner?.startsWith('SSH-2.0-')) return;
      }
      if (performance.now() > until) throw new Error(`kvm host ${this.hostname} not answering SSH on ${this.address}:${this.port} after ${READY_MS} ms (log ${this.logPath}): ${this.log().trim().split('\n').slice(-6).join(' | ')}`);
      await sleep(50);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.terminate();
    return this.stopping;
  }

  private async terminate(): Promise<void> {
    const child = this.child;
    if (child && !this.gone) {
      child.ref();
      // Domains first, as a host shutting down would (libvirt then reaps qemu); whatever is
      // left ends with the PID namespace.
      if (this.initPid !== undefined) {
        const destroy = 'for d in $(virsh -c qemu:///system list --name); do virsh -c qemu:///system destroy "$d" >/dev/null 2>&1; done';
        await Promise.race([this.exec(destroy).catch(() => undefined), sleep(STOP_MS)]);
        killQuietly(this.initPid, 'SIGKILL');
      }
      const t = setTimeout(() => killQuietly(child.pid!, 'SIGKILL'), STOP_MS);
      await this.exited;
      clearTimeout(t);
    }
    live.delete(this);
    await run('ip', ['netns', 'del', this.netns]);
  }
}

// ---------------------------------------------------------------------------------------
// Starting

/** `count` emulated KVM hosts on a fresh production bridge, started concurrently. */
export async function startKvmHosts(count: number, opts: KvmHostsOptions): Promise<KvmHosts> {
  if (!Number.isInteger(count) || count < 1 || count > 200) throw new Error(`startKvmHosts: 1–200 hosts, got ${count}`);
  hook();
  const root = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const state: State = { netns: [], links: [] };
  const record = { dir: root, state };
  runs.add(record);
  const save = (): void => writeFileSync(join(root, 'state.json'), JSON.stringify(state));
  const net = new Netns(opts.tag ?? 'kvh');
  const bridge = `${net.prefix}br`;
  const hosts: Host[] = [];
  let stopped: Promise<void> | undefined;

  const stopAll = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.all(hosts.map((h) => h.stop()));
      await run('ip', ['link', 'del', bridge]);
      await net.dispose();
      removeLeftovers(state);
      rmSync(root, { recursive: true, force: true });
      runs.delete(record);
    })());

  try {
    if (opts.appliance !== undefined) parseAppliance(opts.appliance);
    state.links.push(bridge);
    save();
    await must('ip', ['link', 'add', bridge, 'type', 'bridge']);
    const applianceCidr = await claimAppliance(bridge, opts.appliance);
    const appliance = applianceCidr.split('/')[0]!;
    const net24 = parseAppliance(applianceCidr).octets.slice(0, 3).join('.');
    await must('ip', ['link', 'set', bridge, 'up']);

    // sshd takes the first SetEnv line only: one line for all.
    const extra = [...(opts.extraSshdConfig ?? []), `SetEnv SHLVL=1${opts.fakeBin ? ` PATH=${opts.fakeBin}:${HOST_PATH}` : ''}`, 'Subsystem sftp internal-sftp'];
    for (let i = 1; i <= count; i++) {
      const netns = `${net.prefix}-h${i}`;
      const veth = `${net.prefix}h${i}`;
      state.netns.push(netns);
      state.links.push(veth);
      hosts.push(new Host({ index: i, netns, hostname: opts.hostname?.(i) ?? `kvm-h${i}`, address: `${net24}.${10 + i}`, veth, dir: join(root, `h${i}`), fakeBin: opts.fakeBin }));
    }
    save();

    await Promise.all(
      hosts.map(async (h) => {
        await net.add(`h${h.index}`);
        // The peer is made inside the host under its final name: no collision between hosts.
        await must('ip', ['link', 'add', h.veth, 'type', 'veth', 'peer', 'name', PROD_IF, 'netns', h.netns]);
        await must('ip', ['link', 'set', h.veth, 'master', bridge]);
        await must('ethtool', ['-K', h.veth, 'tx', 'off']);
        await must('ip', ['link', 'set', h.veth, 'up']);
        const inside = [
          `ip link set ${PROD_IF} mtu 1500`,
          `ip addr add ${h.address}/24 dev ${PROD_IF}`,
          `ethtool -K ${PROD_IF} tx off >/dev/null`,
          `ip link set ${PROD_IF} up`,
          `ip route add default via ${appliance}`,
        ].join(' && ');
        await net.exec(h.netns, 'sh', ['-c', inside]);
        await h.start(opts.authorizedKeys, extra);
      }),
    );

    return {
      hosts,
      bridge,
      appliance,
      applianceCidr,
      hostDown: (i) => host(hosts, i).down(),
      hostUp: (i) => host(hosts, i).up(),
      stopAll,
      [Symbol.asyncDispose]: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

function host(hosts: Host[], i: number): Host {
  const h = hosts[i - 1];
  if (!h) throw new Error(`no kvm host ${i} (hosts are 1–${hosts.length})`);
  return h;
}

/** Whether this machine can run the hosts (libvirtd, qemu-img, cloud-localds, ethtool installed). */
export function kvmHostsAvailable(): boolean {
  return ['/usr/sbin/libvirtd', '/usr/sbin/virtlogd', '/usr/bin/qemu-img', '/usr/bin/cloud-localds', '/usr/sbin/ethtool', '/usr/bin/qemu-system-x86_64'].every((p) => existsSync(p));
}
