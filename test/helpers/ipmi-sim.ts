// OpenIPMI's ipmi_sim as the IPMI peer of tests and benchmarks: real BMCs speaking IPMI v2.0
// RMCP+ on loopback, each with its own UDP port, temporary directory, lan.conf and chassis
// (test/helpers/chassis-control.sh keeps power and boot device in files there). Also
// ipmitool(), to drive them the way an operator would.
//
// What ipmi_sim 2.0.33 (Debian 12) does, learned from its source (lanserv/) and by trying:
// - RMCP+ cipher suites 0, 1, 2, 3 and 6 work with ipmitool; 7 and 8 (HMAC-MD5-128 integrity)
//   fail at Set Session Privilege, 11 and 12 abort ipmitool, 15–17 are refused in the Open
//   Session Response (status 04h, invalid authentication algorithm: no RAKP-HMAC-SHA256). Its
//   Get Channel Cipher Suites lists 0–14. Suite 0 logs a valid user in with any password.
// - It grants the privilege the client asks for in RAKP 1 (name-only lookup) whatever the user's
//   own limit: a user-level account that asks for ADMINISTRATOR gets it. Insufficient privilege
//   (CC D4h) is only seen when the client asks for less (ipmitool -L USER).
// - It echoes the Open Session Request's requested privilege in the response (0 when the client
//   asked for "highest"); FreeIPMI then fails ("privilege level cannot be obtained") unless run
//   with -W opensesspriv.
// - A wrong password is not refused in RAKP 2 (status 0): its key exchange authentication code
//   is made with the right password, and the client finds it does not match. An unknown user
//   gets RAKP 2 status 0Dh (unauthorized name).
// - The per-user session limit in lan.conf is stored, not enforced: 63 sessions per channel in
//   all; an idle session is dropped after 30 s.
// - Two ipmi_sim processes bind the same UDP port without error (SO_REUSEADDR): a port is only
//   ours once `ss` shows no other process on it.
// - It dies silently on SIGPIPE (PEERS.md: seen on a power-off right after a power-on): it is
//   started with SIGPIPE ignored.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './run.ts';
import { sweepOrphanDirs } from './orphan-dirs.ts';

const CHASSIS_CONTROL = fileURLToPath(new URL('chassis-control.sh', import.meta.url));
/** The BMC's IPMB address (IPMI v2.0 §5.1: 20h is the BMC). */
const BMC_ADDR = '0x20';
const READY_MS = 5_000;
const STOP_MS = 2_000;
const START_ATTEMPTS = 5;

export type SimPrivilege = 'user' | 'operator' | 'admin';

export interface SimUser {
  /** 2–63; 1 is ipmi_sim's anonymous user, which is never defined here. */
  id: number;
  name: string;
  password: string;
  priv: SimPrivilege;
}

export interface SimOptions {
  /** The administrator (user id 2); default "admin". At most 16 characters. */
  username?: string;
  /** Default: 16 random hex characters. At most 20 characters, no spaces or quotes. */
  password?: string;
  extraUsers?: SimUser[];
  /** Written as each user's session limit; ipmi_sim 2.0.33 does not enforce it (see above). */
  maxSessions?: number;
  /** Loopback address to listen on; default 127.0.0.1. Any 127.0.0.0/8 address works. */
  host?: string;
  /** UDP port; default: a free one. Given, it is not retried elsewhere when taken. */
  port?: number;
  /** Chassis power at start; default off. */
  powerOn?: boolean;
  /** The system GUID (16 bytes, hex) reported in RAKP 2; default random. */
  guid?: string;
}

export interface SimBmc {
  host: string;
  port: number;
  username: string;
  password: string;
  /** The BMC's temporary directory: lan.conf, the command file, the chassis state. */
  dir: string;
  /** The ipmi_sim process (for /proc readings). */
  pid: number;
  guid: string;
  /** What the chassis state file says. */
  power(): Promise<boolean>;
  /** Likewise: none | pxe | default (disk) | cdrom | bios. */
  bootDevice(): Promise<string>;
  /** Sets the chassis state file directly, as a front-panel button would. */
  setPower(on: boolean): Promise<void>;
  /** Every "set" the BMC sent its chassis, in order: "power 0", "reset 1", "shutdown 1", "boot pxe" … */
  events(): Promise<string[]>;
  /** SIGSTOP: the BMC stops answering (mid-session, if one is open). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Ends ipmi_sim and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Cleanup when a test fails midway. Module state, on purpose: whatever started a BMC, a dying
// test process must take it along. The 'exit' hook covers a normal end (a failed assertion
// included); setpriv's parent-death signal covers the runner being killed outright.

const live = new Map<ChildProcess, string>();
let hooked = false;
/** Temporary directories carry their owner's pid, so a later run can remove a killed run's. */
const DIR_PREFIX = 'ironbay-ipmisim-';

function track(child: ChildProcess, dir: string): void {
  live.set(child, dir);
  if (hooked) return;
  hooked = true;
  sweepOrphanDirs(DIR_PREFIX);
  process.once('exit', () => {
    for (const [c, d] of live) {
      try {
        if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      rmSync(d, { recursive: true, force: true });
    }
  });
}

// ---------------------------------------------------------------------------------------
// Configuration

const PRIV_WORD: Record<SimPrivilege, string> = { user: 'user', operator: 'operator', admin: 'admin' };

/** lan.conf's tokenizer splits on blanks and knows no escapes: keep names and passwords plain. */
function checkToken(what: string, v: string, max: number): void {
  if (!v.length || v.length > max || !/^[\x21-\x7e]+$/.test(v) || v.includes('"')) {
    throw new Error(`ipmi_sim ${what} must be 1–${max} printable ASCII characters without blanks or quotes: ${JSON.stringify(v)}`);
  }
}

function lanConf(o: { name: string; host: string; port: number; guid: string; dir: string; users: SimUser[]; maxSessions: number }): string {
  // ipmi_lan(5). The IPMI v1.5 auth types only matter to `ipmitool -I lan`; listed as many BMCs do.
  const auths = 'none md2 md5 straight';
  return [
    `name "${o.name}"`,
    `set_working_mc ${BMC_ADDR}`,
    '  startlan 1',
    `    addr ${o.host} ${o.port}`,
    '    priv_limit admin',
    `    allowed_auths_callback ${auths}`,
    `    allowed_auths_user ${auths}`,
    `    allowed_auths_operator ${auths}`,
    `    allowed_auths_admin ${auths}`,
    `    guid ${o.guid}`,
    '  endlan',
    // ipmi_sim appends " get power" / " set boot \"pxe\"" and runs it with popen().
    `  chassis_control "${CHASSIS_CONTROL} ${o.dir}"`,
    ...o.users.map((u) => `  user ${u.id} true "${u.name}" "${u.password}" ${PRIV_WORD[u.priv]} ${o.maxSessions} none md2 md5 straight`),
    '',
  ].join('\n');
}

// ipmi_sim_cmd(5): one BMC at 20h. Device ID 0, revision 3, firmware 9.08, IPMI 2.0 (0x9f:
// sensor, SDR, SEL, FRU, event receiver, chassis), manufacturer 4753 (MontaVista), product F02h.
const EMU = ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02', 'sel_enable 0x20 1000 0x0a', 'mc_enable 0x20', ''].join('\n');

// ---------------------------------------------------------------------------------------
// Ports

function bindUdp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, host, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

/** n distinct ports free on `host` right now (held together while choosing, so distinct). */
async function freePorts(host: string, n: number): Promise<number[]> {
  const held: Socket[] = [];
  try {
    for (let i = 0; i < n; i++) held.push(await bindUdp(host, 0));
    return held.map((s) => s.address().port);
  } finally {
    for (const s of held) s.close();
  }
}

/** Process ids bound to host:port (or to the wildcard on that port), from `ss`. */
async function owners(): Promise<Map<string, Set<number>>> {
  const r = await run('ss', ['-Hulnp']);
  const out = new Map<string, Set<number>>();
  for (const line of r.stdout.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    if (!local) continue;
    const pids = new Set([...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
    const set = out.get(local) ?? new Set<number>();
    for (const p of pids) set.add(p);
    out.set(local, set);
  }
  return out;
}

function othersOn(table: Map<string, Set<number>>, host: string, port: number, pid: number): number[] {
  const found: number[] = [];
  for (const addr of [`${host}:${port}`, `0.0.0.0:${port}`, `*:${port}`]) for (const p of table.get(addr) ?? []) if (p !== pid) found.push(p);
  return found;
}

// ---------------------------------------------------------------------------------------
// RMCP presence ping (ASF 2.0 §3.2.4.3, DSP0136): the readiness probe.
//   RMCP: version 06h, reserved, sequence FFh (no ACK), class 06h (ASF)
//   ASF:  IANA 4542 (000011BEh), type 80h (Presence Ping), tag, reserved, data length 0
// The answer is a Presence Pong: ASF message type 40h at offset 8.

function rmcpPing(host: string, port: number, ms: number, alive: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    let tag = 0;
    const ping = (): void => {
      if (!alive()) return done(new Error('exited before answering'));
      tag = (tag + 1) % 255; // 255 is reserved
      s.send(Buffer.from([0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, tag, 0x00, 0x00]), port, host);
    };
    const timer = setInterval(ping, 50);
    const limit = setTimeout(() => done(new Error(`no RMCP pong from ${host}:${port} in ${ms} ms`)), ms);
    const done = (e?: Error): void => {
      clearInterval(timer);
      clearTimeout(limit);
      s.close();
      if (e) reject(e);
      else resolve();
    };
    s.on('message', (m) => {
      if (m.length >= 9 && m[3] === 0x06 && m[8] === 0x40) done();
    });
    s.on('error', (e) => done(e));
    s.bind(0, host, ping);
  });
}

// ---------------------------------------------------------------------------------------
// Starting

interface Plan {
  host: string;
  port: number;
  fixedPort: boolean;
  username: string;
  password: string;
  users: SimUser[];
  maxSessions: number;
  powerOn: boolean;
  guid: string;
}

function plan(opts: SimOptions): Plan {
  const username = opts.username ?? 'admin';
  const password = opts.password ?? randomBytes(8).toString('hex');
  const host = opts.host ?? '127.0.0.1';
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) throw new Error(`ipmi_sim host must be a loopback address (127.0.0.0/8): ${host}`);
  checkToken('user name', username, 16);
  checkToken('password', password, 20);
  const users: SimUser[] = [{ id: 2, name: username, password, priv: 'admin' }];
  for (const u of opts.extraUsers ?? []) {
    checkToken('user name', u.name, 16);
    checkToken('password', u.password, 20);
    if (!Number.isInteger(u.id) || u.id < 3 || u.id > 63) throw new Error(`extra user ${u.name}: id must be 3–63 (1 is anonymous, 2 the administrator)`);
    if (users.some((x) => x.id === u.id || x.name === u.name)) throw new Error(`extra user ${u.name}: id ${u.id} or name already used`);
    users.push(u);
  }
  const guid = (opts.guid ?? randomBytes(16).toString('hex')).toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(guid)) throw new Error(`guid must be 32 hex digits: ${guid}`);
  const maxSessions = opts.maxSessions ?? 10;
  if (!Number.isInteger(maxSessions) || maxSessions < 1 || maxSessions > 63) throw new Error(`maxSessions must be 1–63: ${maxSessions}`);
  return { host, port: opts.port ?? 0, fixedPort: opts.port !== undefined, username, password, users, maxSessions, powerOn: opts.powerOn ?? false, guid };
}

interface Started {
  bmc: SimBmc;
  child: ChildProcess;
  output: () => string;
}

function launch(p: Plan, port: number): Started {
  if (/[\s"]/.test(tmpdir() + CHASSIS_CONTROL)) throw new Error(`paths in lan.conf may hold no blanks or quotes: ${tmpdir()}, ${CHASSIS_CONTROL}`);
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  mkdirSync(join(dir, 'state'));
  writeFileSync(join(dir, 'lan.conf'), lanConf({ name: `ironbay-${port}`, host: p.host, port, guid: p.guid, dir, users: p.users, maxSessions: p.maxSessions }));
  writeFileSync(join(dir, 'sim.emu'), EMU);
  writeFileSync(join(dir, 'power'), p.powerOn ? '1\n' : '0\n');
  writeFileSync(join(dir, 'boot'), 'none\n');
  writeFileSync(join(dir, 'events'), '');
  // -n: no console on stdin/stdout; -p: persist nothing (users, SEL, LAN parameters) — every
  // start is the configuration above. `sh` only ignores SIGPIPE and execs, so the pid is
  // ipmi_sim's own (pause() stops the BMC, not a wrapper).
  const child = spawn(
    'setpriv',
    ['--pdeathsig', 'KILL', '--', 'sh', '-c', 'trap "" PIPE; exec "$0" "$@"', 'ipmi_sim', '-n', '-p', '-c', join(dir, 'lan.conf'), '-f', join(dir, 'sim.emu'), '-s', join(dir, 'state')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  track(child, dir);
  let output = '';
  const keep = (d: Buffer): void => {
    if (output.length < 8192) output += d.toString();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const pid = child.pid;
  if (pid === undefined) throw new Error('ipmi_sim did not start (setpriv missing?)');

  const file = (name: string): string => join(dir, name);
  const signal = (sig: NodeJS.Signals): void => {
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, sig);
  };
  let stopped: Promise<void> | undefined;
  const bmc: SimBmc = {
    host: p.host,
    port,
    username: p.username,
    password: p.password,
    dir,
    pid,
    guid: p.guid,
    power: async () => (await readFile(file('power'), 'utf8')).trim() === '1',
    bootDevice: async () => (await readFile(file('boot'), 'utf8')).trim(),
    setPower: async (on) => {
      writeFileSync(file('power.tmp'), on ? '1\n' : '0\n');
      renameSync(file('power.tmp'), file('power'));
    },
    events: async () => (await readFile(file('events'), 'utf8')).split('\n').filter(Boolean),
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        const finish = (): void => {
          live.delete(child);
          rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return finish();
        const t = setTimeout(() => signal('SIGKILL'), STOP_MS);
        child.once('exit', () => {
          clearTimeout(t);
          finish();
        });
        // A paused BMC would hold SIGTERM until continued.
        signal('SIGCONT');
        signal('SIGTERM');
      })),
  };
  return { bmc, child, output: () => output };
}

async function startMany(p: Plan, n: number): Promise<SimBmc[]> {
  const ready: SimBmc[] = [];
  let pending = n;
  let lastError = '';
  try {
    for (let attempt = 1; pending > 0; attempt++) {
      if (attempt > START_ATTEMPTS) throw new Error(`ipmi_sim: ${pending} of ${n} did not start after ${START_ATTEMPTS} attempts: ${lastError}`);
      const ports = p.fixedPort ? [p.port] : await freePorts(p.host, pending);
      const started = ports.map((port) => launch(p, port));
      const results = await Promise.allSettled(started.map((s) => rmcpPing(p.host, s.bmc.port, READY_MS, () => s.child.exitCode === null && s.child.signalCode === null)));
      const table = await owners();
      for (const [i, s] of started.entries()) {
        const r = results[i]!;
        const others = othersOn(table, p.host, s.bmc.port, s.bmc.pid);
        if (r.status === 'fulfilled' && !others.length) {
          ready.push(s.bmc);
          pending--;
          continue;
        }
        lastError = r.status === 'rejected' ? `${(r.reason as Error).message}: ${s.output().trim()}` : `port ${s.bmc.port} also held by pid ${others.join(', ')}`;
        await s.bmc.stop();
        if (p.fixedPort) throw new Error(`ipmi_sim on ${p.host}:${p.port}: ${lastError}`);
      }
    }
    return ready;
  } catch (e) {
    await Promise.all(ready.map((b) => b.stop()));
    throw e;
  }
}

/** One BMC, answering RMCP pings, its port its own. */
export async function startIpmiSim(opts: SimOptions = {}): Promise<SimBmc> {
  return (await startMany(plan(opts), 1))[0]!;
}

/** n BMCs at once (same users and password), on distinct ports of the same address. */
export async function startIpmiSims(n: number, opts: SimOptions = {}): Promise<SimBmc[]> {
  if (opts.port !== undefined && n !== 1) throw new Error('startIpmiSims: a fixed port fits one BMC only');
  return startMany(plan(opts), n);
}

// ---------------------------------------------------------------------------------------
// ipmitool

export interface IpmitoolOptions {
  /** Default 3 (ipmitool's own default, 17, is one ipmi_sim does not speak). */
  cipherSuite?: number;
  user?: string;
  password?: string;
  /** -L: the session privilege asked for; ipmitool's default is ADMINISTRATOR. */
  privilege?: 'USER' | 'OPERATOR' | 'ADMINISTRATOR';
  /** -N: seconds between retransmissions (ipmitool's default for lanplus: 1). */
  timeoutSec?: number;
  /** -R: retransmissions (ipmitool's default: 4). */
  retries?: number;
}

export interface IpmitoolResult {
  /** Exit status; 137 when the run was killed after a minute. */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `ipmitool -I lanplus` against a BMC. The password goes through the environment (-E), not the
 * command line. Mind that ipmitool exits 0 even when some commands fail (Set Boot Options among
 * them): read stdout and stderr.
 */
export async function ipmitool(bmc: SimBmc, args: string[], opts: IpmitoolOptions = {}): Promise<IpmitoolResult> {
  const a = ['-I', 'lanplus', '-H', bmc.host, '-p', String(bmc.port), '-U', opts.user ?? bmc.username, '-E', '-C', String(opts.cipherSuite ?? 3)];
  if (opts.privilege) a.push('-L', opts.privilege);
  if (opts.timeoutSec !== undefined) a.push('-N', String(opts.timeoutSec));
  if (opts.retries !== undefined) a.push('-R', String(opts.retries));
  const r = await run('timeout', ['-s', 'KILL', '60', 'ipmitool', ...a, ...args], { env: { IPMI_PASSWORD: opts.password ?? bmc.password, IPMITOOL_PASSWORD: undefined } });
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** ipmi_sim's resident memory, KiB (VmRSS), or undefined once it has exited. */
export function simRssKiB(bmc: SimBmc): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${bmc.pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
