// The lab's state file (LAB_DIR/state.json): everything a lab made that outlives the process
// that made it — namespaces, detached processes, the host port — so that `npm run lab -- --down`
// (another process, maybe after a crash) removes exactly that. It is written as soon as each
// thing exists, and replaced by rename, never half-written.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../helpers/run.ts';
import type { MachinePlan } from './machines.ts';

export interface LabState {
  version: 1;
  prefix: string;
  dir: string;
  createdAt: string;
  /** 'starting' until startLab returned; 'up' after. */
  phase: 'starting' | 'up';
  namespaces: string[];
  /** Detached processes this lab started (qemu is started by the BMCs: found in the namespaces). */
  pids: { role: string; pid: number }[];
  machines: MachinePlan[];
  /** The API on the host, through the forwarder. */
  url?: string;
  tokenFile?: string;
  /** Names of the appliance's interfaces and the namespaces' roles, for people reading the file. */
  appNs?: string;
  labNs?: string;
}

export const stateFile = (dir: string): string => join(dir, 'state.json');

export function readState(dir: string): LabState | undefined {
  const file = stateFile(dir);
  if (!existsSync(file)) return undefined;
  const s = JSON.parse(readFileSync(file, 'utf8')) as LabState;
  if (s.version !== 1) throw new Error(`${file}: state version ${String(s.version)} is not one this lab knows`);
  return s;
}

export function writeState(s: LabState): void {
  const file = stateFile(s.dir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

async function namespaceExists(ns: string): Promise<boolean> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout.split('\n').some((l) => l.split(' ')[0] === ns);
}

/** Whether any of the lab's namespaces still exists (the lab is up, or half torn down). */
export async function labExists(s: LabState): Promise<boolean> {
  for (const ns of s.namespaces) if (await namespaceExists(ns)) return true;
  return false;
}

function isOurs(pid: number, dir: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return argv.includes(dir);
  } catch {
    return false;
  }
}

function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^[ZXx]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when all are gone. */
async function killAll(pids: number[], graceMs = 3_000): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // Already gone.
    }
  };
  for (const p of pids) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some((p) => !gone(p)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const left = pids.filter((p) => !gone(p));
  for (const p of left) signal(p, 'SIGKILL');
  while (left.some((p) => !gone(p)) && Date.now() < deadline + 3_000) await new Promise((resolve) => setTimeout(resolve, 50));
}

/**
 * Tears down the lab recorded in `dir`: every process inside its namespaces (they are the
 * lab's own: daemon, forwarder, BMCs, VMs) and the recorded ones still running with the lab's
 * folder on their command line, then the namespaces (their bridges, veths and taps go with
 * them). Disks and copies of assets are removed; logs and consoles stay for reading.
 * Returns what it did, for the caller to print; a missing state file is not an error.
 */
export async function teardown(dir: string): Promise<string[]> {
  const s = readState(dir);
  if (!s) return [`no lab state in ${dir}: nothing to tear down`];
  const done: string[] = [];
  const pids = new Set<number>();
  for (const ns of s.namespaces) {
    if (!(await namespaceExists(ns))) continue;
    const r = await run('ip', ['netns', 'pids', ns]);
    for (const p of r.stdout.split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0)) pids.add(p);
  }
  for (const { pid } of s.pids) if (!gone(pid) && isOurs(pid, s.dir)) pids.add(pid);
  for (const m of s.machines) {
    try {
      const pid = Number(readFileSync(join(m.dir, 'qemu.pid'), 'utf8').trim());
      if (pid > 0 && !gone(pid) && isOurs(pid, m.dir)) pids.add(pid);
    } catch {
      // No VM running.
    }
  }
  if (pids.size) {
    await killAll([...pids]);
    done.push(`stopped ${pids.size} processes (daemon, forwarder, BMCs, VMs)`);
  }
  for (const ns of s.namespaces) {
    if (!(await namespaceExists(ns))) continue;
    const r = await run('ip', ['netns', 'del', ns]);
    if (r.code !== 0) throw new Error(`ip netns del ${ns}: ${r.stderr.trim()}`);
    done.push(`removed namespace ${ns}`);
  }
  for (const m of s.machines) for (const f of ['disk.raw', 'OVMF_VARS.fd', 'qemu.pid']) rmSync(join(m.dir, f), { force: true });
  rmSync(join(s.dir, 'assets'), { recursive: true, force: true });
  rmSync(stateFile(s.dir), { force: true });
  done.push(`removed disks and assets; logs and consoles stay in ${s.dir}`);
  return done;
}
