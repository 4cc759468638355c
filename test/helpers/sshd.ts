// OpenSSH's sshd as the SSH peer of tests and benchmarks of the runbook runner: real servers on
// loopback (or inside a test's network namespace), each with its own directory, ed25519 host
// key, authorized_keys and port, logging to a file. Login is as root, by public key only.
//
// What sshd 9.2 (Debian 12, /usr/sbin/sshd) does, learned by trying:
// - It must be started by absolute path (it re-executes itself for every connection) and its
//   -f config path must be absolute too: it chdir()s to / and re-reads the file on SIGHUP.
// - It refuses to start without the privilege separation directory /run/sshd.
// - sshd_config takes the FIRST value given for most keywords, so extra lines are written
//   before the harness's defaults to override them (Match blocks, which must come last, last).
// - With `UsePAM no` a locked account ('!' in /etc/shadow) may not log in; root here has '*'.
// - SIGHUP makes the listener close its sockets and exec itself again (same pid): it re-reads the
//   config and host keys, and established sessions carry on. rotateHostKey() uses that. Until it
//   logs "Server listening" again, connections are refused; a banner may still come from a
//   connection accepted just before the HUP, so readiness waits for that log line, then a banner.
// - SIGTERM ends only the listener: connections already open (their sshd processes and the
//   commands they run) carry on, reparented away. stop() therefore ends the whole tree.
// - A command runs as `bash -c CMD`, and Debian's bash then reads ~/.bashrc (sshd sets
//   SSH_CLIENT): root's here runs `pyenv init`, ~0.2 s of every command's time.
// - Orphans are reparented to a pid 1 that does not reap them here: an ended session can stay a
//   zombie, which stop() counts as gone.
// - Timings on a 2-CPU machine: sshd listens ~30 ms after spawn; startSshd (key, `sshd -t`,
//   spawn, banner) 50–110 ms; a fleet of 50 about 2 s; rotation (SIGHUP) ~60 ms; an `ssh` login
//   running one command ~0.4–0.5 s (its kex, sntrup761x25519, ~70 ms; the bashrc above).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from './run.ts';
import { sweepOrphanDirs } from './orphan-dirs.ts';

const SSHD = '/usr/sbin/sshd';
const PRIVSEP_DIR = '/run/sshd';
const READY_MS = 5_000;
const STOP_MS = 2_000;
/** Attempts at a free port when none was given (another process may take it first). */
const START_ATTEMPTS = 5;
/** Ports tried inside a namespace, where the root namespace cannot tell which are free. */
const NETNS_PORTS = [20_000, 30_000] as const;
const HOST_KEY = 'ssh_host_ed25519_key';

export interface SshKeyPair {
  privateKeyPath: string;
  /** OpenSSH private key text (-----BEGIN OPENSSH PRIVATE KEY-----), unencrypted. */
  privateKey: string;
  /** 'ssh-ed25519 AAAA... comment' */
  publicKey: string;
}

export interface Sshd {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** 'SHA256:...' (OpenSSH's format, base64 without '=' padding) of the host key the server presents (ed25519). */
  hostKeyFingerprint(): string;
  /** The host public key line. */
  hostPublicKey(): string;
  /**
   * Replaces the host key with a fresh one and restarts the server (SIGHUP: same pid, address and
   * port; established sessions carry on); resolves when it accepts connections again. On a
   * stopped server the key is replaced and presented at the next start().
   */
  rotateHostKey(): Promise<void>;
  /**
   * Stops the server and every connection it is serving, with the commands they run: SIGTERM,
   * then SIGKILL after 2 s; resolves once they have exited. Safe to call twice.
   */
  stop(): Promise<void>;
  /** Restarts a stopped server with the same key, address and port; no-op when running. */
  start(): Promise<void>;
  /** The server's log (sshd -D -e writes to stderr), every start appended: `dir`/sshd.log. */
  log(): string;
  /** The listener's pid while running (for /proc readings, SIGSTOP), else undefined. */
  pid(): number | undefined;
}

export interface SshdOptions {
  /** Working directory; default a fresh one under os.tmpdir(), removed when the process exits. */
  dir?: string;
  /** Public key lines accepted for root. */
  authorizedKeys: string[];
  /** Listen address, default 127.0.0.1. */
  host?: string;
  /** Default: a free port. Given, it is not retried elsewhere when taken. */
  port?: number;
  /** Run sshd inside this network namespace (the caller owns it). */
  netns?: string;
  /** Extra sshd_config lines; they win over the harness's defaults. */
  extraConfig?: string[];
}

// ---------------------------------------------------------------------------------------
// Cleanup when a test fails midway. Module state, on purpose: whatever started a server, a
// dying test process must take it along. The 'exit' hook covers a normal end (a failed
// assertion included); setpriv's parent-death signal covers the runner being killed outright
// (for the listener: connections it serves then end with their clients).

const live = new Set<Server>();
const createdDirs = new Set<string>();
let hooked = false;
/** Temporary directories carry their owner's pid, so a later run can remove a killed run's. */
const DIR_PREFIX = 'ironbay-sshd-';

function hook(): void {
  if (hooked) return;
  hooked = true;
  sweepOrphanDirs(DIR_PREFIX);
  process.once('exit', () => {
    for (const s of live) for (const p of s.tree()) signalProc(p, 'SIGKILL');
    for (const d of createdDirs) rmSync(d, { recursive: true, force: true });
  });
}

function freshDir(): string {
  hook();
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  createdDirs.add(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------
// Processes: a server's tree from /proc (proc(5): the fields after "(comm)" start at field 3,
// state; ppid is field 4, starttime field 22). The start time tells a pid reused from ours.

interface Proc {
  pid: number;
  start: string;
}

function procTable(): Map<number, { ppid: number; start: string; state: string }> {
  const table = new Map<number, { ppid: number; start: string; state: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // Gone meanwhile.
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    table.set(Number(name), { state: f[0]!, ppid: Number(f[1]), start: f[19]! });
  }
  return table;
}

/** `root` and all its descendants, root first. */
function descendants(root: number): Proc[] {
  const table = procTable();
  const top = table.get(root);
  if (!top) return [];
  const out: Proc[] = [{ pid: root, start: top.start }];
  for (let i = 0; i < out.length; i++) {
    for (const [pid, p] of table) if (p.ppid === out[i]!.pid) out.push({ pid, start: p.start });
  }
  return out;
}

/** Still running (not a zombie) and still the same process. */
function alive(p: Proc): boolean {
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[0] !== 'Z' && f[19] === p.start;
  } catch {
    return false;
  }
}

function signalProc(p: Proc, sig: NodeJS.Signals): void {
  if (!alive(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // Exited between the check and the signal.
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// Keys

/** SHA256 fingerprint of a public key line, as ssh-keygen -l prints it (base64, no padding). */
export function fingerprint(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (!blob) throw new Error(`not a public key line: ${publicKeyLine}`);
  return `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/** `ssh-keygen -N ''` into `dir`/`name` (and `name`.pub), replacing any key already there. */
export async function generateKeyPair(dir: string, name: string, type: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519'): Promise<SshKeyPair> {
  mkdirSync(dir, { recursive: true });
  const privateKeyPath = resolve(dir, name);
  // ssh-keygen asks before overwriting, and with no terminal that is a failure.
  rmSync(privateKeyPath, { force: true });
  rmSync(`${privateKeyPath}.pub`, { force: true });
  const r = await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', privateKeyPath]);
  if (r.code !== 0) throw new Error(`ssh-keygen -t ${type} -f ${privateKeyPath}: ${r.stderr.trim() || `exit ${String(r.code)}`}`);
  return { privateKeyPath, privateKey: readFileSync(privateKeyPath, 'utf8'), publicKey: readFileSync(`${privateKeyPath}.pub`, 'utf8').trim() };
}

// ---------------------------------------------------------------------------------------
// sshd_config(5)

/** sshd_config splits arguments on blanks and knows double quotes, but no escapes. */
function quote(path: string): string {
  if (/["\n]/.test(path)) throw new Error(`sshd_config path may hold no quotes or newlines: ${path}`);
  return `"${path}"`;
}

/**
 * The harness's sshd_config: root by public key only, host key `dir`/ssh_host_ed25519_key,
 * authorized keys `dir`/authorized_keys; `extra` lines win over the defaults (Match blocks last).
 * Exported for harnesses that start sshd their own way (test/helpers/kvmhost.ts).
 */
export function sshdConfig(o: { host: string; port: number; dir: string; extra: string[] }): string {
  for (const l of o.extra) if (l.includes('\n')) throw new Error(`extraConfig: one line per entry: ${JSON.stringify(l)}`);
  const match = o.extra.findIndex((l) => /^\s*match\s/i.test(l));
  const [before, matchBlocks] = match < 0 ? [o.extra, []] : [o.extra.slice(0, match), o.extra.slice(match)];
  return [
    '# Written by test/helpers/sshd.ts',
    ...before,
    `ListenAddress ${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`,
    `HostKey ${quote(join(o.dir, HOST_KEY))}`,
    'PidFile none',
    `AuthorizedKeysFile ${quote(join(o.dir, 'authorized_keys'))}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    // The directory lives under /tmp, which StrictModes would reject.
    'StrictModes no',
    // Fleets of runners connect all at once: no early drops of unauthenticated connections.
    'MaxStartups 200:30:400',
    'MaxSessions 64',
    'LogLevel VERBOSE',
    'UseDNS no',
    'PrintMotd no',
    ...matchBlocks,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------
// Ports and readiness

/** A port free on `host` right now (the kernel's choice). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error(`no port on ${host}`))));
    });
  });
}

/** The first line the server sends (its identification, RFC 4253 §4.2), or undefined. */
export function tcpBanner(host: string, port: number, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let buf = '';
    let settled = false;
    const done = (v: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(undefined), ms);
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl).replace(/\r$/, ''));
    });
    s.on('error', () => done(undefined));
    s.on('close', () => done(undefined));
  });
}

/** Likewise from inside a namespace, with bash's /dev/tcp. */
async function netnsBanner(ns: string, host: string, port: number): Promise<string | undefined> {
  const script = 'exec 3<>"/dev/tcp/$1/$2" || exit 1; IFS= read -r -t 1 line <&3; printf "%s" "$line"';
  const r = await run('ip', ['netns', 'exec', ns, 'timeout', '2', 'bash', '-c', script, 'probe', host, String(port)]);
  return r.code === 0 ? r.stdout.replace(/\r$/, '') : undefined;
}

// ---------------------------------------------------------------------------------------
// A server

class Server implements Sshd {
  readonly host: string;
  readonly dir: string;
  private portNo: number;
  private readonly netns: string | undefined;
  private readonly extra: string[];
  private readonly config: string;
  private readonly logPath: string;
  private pubLine = '';
  private child: ChildProcess | undefined;
  /** Set when the current child has exited (or could not be spawned). */
  private gone = true;
  private exited: Promise<void> = Promise.resolve();
  /** start/stop/rotate one at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(o: { host: string; port: number; dir: string; netns: string | undefined; extra: string[] }) {
    this.host = o.host;
    this.portNo = o.port;
    this.dir = o.dir;
    this.netns = o.netns;
    this.extra = o.extra;
    this.config = join(o.dir, 'sshd_config');
    this.logPath = join(o.dir, 'sshd.log');
  }

  get port(): number {
    return this.portNo;
  }

  hostKeyFingerprint(): string {
    return fingerprint(this.pubLine);
  }

  hostPublicKey(): string {
    return this.pubLine;
  }

  log(): string {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  pid(): number | undefined {
    return this.running() ? this.child!.pid : undefined;
  }

  start(): Promise<void> {
    return this.serial(async () => {
      if (!this.running()) await this.launch();
    });
  }

  stop(): Promise<void> {
    return this.serial(() => this.terminate());
  }

  rotateHostKey(): Promise<void> {
    return this.serial(async () => {
      await this.newHostKey();
      if (!this.running()) return;
      await this.validate();
      const since = this.logSize();
      process.kill(this.child!.pid!, 'SIGHUP');
      await this.ready(since);
    });
  }

  /** The listener and everything under it (connections, their commands). */
  tree(): Proc[] {
    return this.running() ? descendants(this.child!.pid!) : [];
  }

  // -------------------------------------------------------------------------------------

  /** Directory, host key, authorized_keys; then a start, on other ports while they are taken. */
  async init(authorizedKeys: string[], fixedPort: boolean): Promise<void> {
    for (const k of authorizedKeys) if (k.includes('\n')) throw new Error(`authorizedKeys: one key per entry: ${k.slice(0, 40)}…`);
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, 'authorized_keys'), authorizedKeys.map((k) => `${k.trim()}\n`).join(''), { mode: 0o600 });
    await this.newHostKey();
    for (let attempt = 1; ; attempt++) {
      if (!fixedPort) this.portNo = this.netns ? randomInt(...NETNS_PORTS) : await freePort(this.host);
      try {
        await this.launch();
        return;
      } catch (e) {
        const inUse = /Address already in use/.test((e as Error).message);
        if (fixedPort || !inUse || attempt >= START_ATTEMPTS) throw e;
      }
    }
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private running(): boolean {
    return this.child !== undefined && !this.gone;
  }

  private logSize(): number {
    try {
      return readFileSync(this.logPath).length;
    } catch {
      return 0;
    }
  }

  private logSince(offset: number): string {
    try {
      return readFileSync(this.logPath).subarray(offset).toString();
    } catch {
      return '';
    }
  }

  private async newHostKey(): Promise<void> {
    // Made aside and renamed into place, so a server never sees half a key pair.
    const k = await generateKeyPair(this.dir, `${HOST_KEY}.new`);
    renameSync(`${k.privateKeyPath}.pub`, join(this.dir, `${HOST_KEY}.pub`));
    renameSync(k.privateKeyPath, join(this.dir, HOST_KEY));
    this.pubLine = k.publicKey;
  }

  /** `sshd -t`: a bad config or key is reported as such, not as a server that never listens. */
  private async validate(): Promise<void> {
    const r = await run(SSHD, ['-t', '-f', this.config]);
    if (r.code !== 0) throw new Error(`sshd -t -f ${this.config}: ${r.stderr.trim() || `exit ${String(r.code)}`}`);
  }

  private async launch(): Promise<void> {
    writeFileSync(this.config, sshdConfig({ host: this.host, port: this.portNo, dir: this.dir, extra: this.extra }));
    await this.validate();
    mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
    const since = this.logSize();
    const fd = openSync(this.logPath, 'a');
    // setpriv and `ip netns exec` both exec, so the pid is sshd's own (signals reach it).
    const argv = [...(this.netns ? ['ip', 'netns', 'exec', this.netns] : []), SSHD, '-D', '-e', '-f', this.config];
    let child: ChildProcess;
    try {
      child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], { stdio: ['ignore', fd, fd] });
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
        writeFileSync(this.logPath, `harness: spawn failed: ${e.message}\n`, { flag: 'a' });
        this.gone = true;
        resolve();
      });
    });
    // A server left running does not keep the test process alive; the exit hook ends it.
    child.unref();
    hook();
    live.add(this);
    try {
      await this.ready(since);
    } catch (e) {
      await this.terminate();
      throw e;
    }
  }

  /** Listening (its log says so since `since`) and answering with an SSH-2.0 banner. */
  private async ready(since: number): Promise<void> {
    const where = `${this.host}:${this.portNo}${this.netns ? ` in netns ${this.netns}` : ''}`;
    const until = performance.now() + READY_MS;
    const listening = `Server listening on ${this.host} port ${this.portNo}.`;
    for (;;) {
      const log = this.logSince(since);
      if (!this.running()) throw new Error(`sshd on ${where} exited (log ${this.logPath}): ${log.trim().split('\n').slice(-5).join(' | ')}`);
      if (log.includes(listening)) {
        const banner = this.netns ? await netnsBanner(this.netns, this.host, this.portNo) : await tcpBanner(this.host, this.portNo, 1_000);
        if (banner?.startsWith('SSH-2.0-')) return;
      }
      if (performance.now() > until) throw new Error(`sshd on ${where} not answering with an SSH-2.0 banner after ${READY_MS} ms (log ${this.logPath})`);
      await sleep(20);
    }
  }

  private async terminate(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.ref(); // until it has exited
    const procs = this.tree();
    for (const p of procs) signalProc(p, 'SIGTERM');
    const t = setTimeout(() => {
      for (const p of procs) signalProc(p, 'SIGKILL');
    }, STOP_MS);
    await this.exited;
    // Connections and commands, reparented once the listener is gone; SIGKILLed at STOP_MS.
    const until = performance.now() + 2 * STOP_MS;
    while (procs.some(alive) && performance.now() < until) await sleep(20);
    clearTimeout(t);
    live.delete(this);
  }
}

// ---------------------------------------------------------------------------------------
// Starting

/** One sshd, answering with its banner. */
export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  const s = new Server({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, dir: opts.dir ? resolve(opts.dir) : freshDir(), netns: opts.netns, extra: opts.extraConfig ?? [] });
  await s.init(opts.authorizedKeys, opts.port !== undefined);
  return s;
}

export interface SshdFleetOptions extends Omit<SshdOptions, 'port' | 'host' | 'dir'> {
  /** Parent directory: server i lives in `dir`/i. Default a fresh temporary one. */
  dir?: string;
  /** One address for all, or one per index, e.g. i => `127.0.1.${i + 1}`. */
  host?: string | ((i: number) => string);
  /** The same port for all (the hosts must then differ); default a free port each. */
  port?: number;
}

/** `count` servers started concurrently, each with its own directory, host key and port. */
export async function startSshdFleet(count: number, opts: SshdFleetOptions): Promise<{ servers: Sshd[]; stop(): Promise<void> }> {
  const { host, port, dir, ...rest } = opts;
  const hostOf = (i: number): string => (typeof host === 'function' ? host(i) : (host ?? '127.0.0.1'));
  if (port !== undefined) {
    const hosts = new Set(Array.from({ length: count }, (_, i) => hostOf(i)));
    if (hosts.size !== count) throw new Error(`startSshdFleet: port ${port} for all needs ${count} distinct hosts, got ${hosts.size}`);
  }
  const parent = dir ? resolve(dir) : freshDir();
  const results = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => startSshd({ ...rest, dir: join(parent, String(i)), host: hostOf(i), ...(port === undefined ? {} : { port }) })),
  );
  const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const failed = results.findIndex((r) => r.status === 'rejected');
  if (failed >= 0) {
    await stop();
    const reason = (results[failed] as PromiseRejectedResult).reason as Error;
    throw new Error(`startSshdFleet: server ${failed} of ${count} did not start: ${reason.message}`, { cause: reason });
  }
  return { servers, stop };
}

/**
 * An inventory whose machines are sshd servers on loopback: production network 127.0.0.0/8,
 * each machine at its server's host with `ssh.port` its server's port. `machine(i)` names
 * machine i and gives its other fields as flow YAML (`role: worker, zone: a`); `head` adds
 * top-level sections (profiles).
 */
export function loopbackInventory(servers: readonly Pick<Sshd, 'host' | 'port'>[], machine: (i: number) => { name: string; fields: string }, head = ''): string {
  const rows = servers.map((s, i) => {
    const m = machine(i);
    const mac = `52:54:00:5e:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
    return `  - { name: ${m.name}, macs: ["${mac}"], ${m.fields}, production: { address: ${s.host}/8 }, ssh: { port: ${s.port} } }\n`;
  });
  return `networks:\n  production:\n    - { name: prod, subnet: 127.0.0.0/8 }\n${head}machines:\n${rows.join('')}`;
}
