// The virtual datacenter: startLab() builds it, Lab drives and watches it, stopLab() removes it.
// `npm run lab` (main.ts) and test/e2e/lab.test.ts are its two users.
//
//   startLab   boot assets → namespaces and bridges (network.ts) → per machine: taps, folder,
//              BMC (machines.ts) → config + inventory, validated (inventory.ts) → ironbay in the
//              appliance namespace and its API on the host (appliance.ts). Everything made is
//              recorded in LAB_DIR/state.json at once (state.ts); a failure tears it down.
//   provision  `ironbay provision --all` (the CLI, through the API on the host).
//   watch      polls the machines once a second until all are ready or one failed.
//   stopLab    tears down what the state file names (also from another process: `--down`).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { EventRow } from '../../daemon/store/db.ts';
import { CLI, REPO } from '../helpers/daemon.ts';
import { Netns } from '../helpers/netns.ts';
import { run, type RunResult } from '../helpers/run.ts';
import { api, startDaemon, startForwarder } from './appliance.ts';
import { labConfig, labFiles, labInventory, PROFILE_ASSETS, validateInventory, type LabFiles } from './inventory.ts';
import { chassisEvents, planMachines, type Firmware, prepareMachine, startBmc, storedBootDevice, vmPid, waitForBmc, type MachinePlan } from './machines.ts';
import { createNetwork, createTaps, type LabNetwork } from './network.ts';
import type { MachineRow } from './progress.ts';
import { labExists, readState, teardown, writeState, type LabState } from './state.ts';

export const DEFAULT_DIR = join(REPO, 'build/lab/run');
/** Where test/lab/assets.sh leaves vmlinuz, installer.img and disk.img. */
export const ASSETS_BUILD_DIR = join(REPO, 'build/lab');
const ASSETS_SCRIPT = join(REPO, 'test/lab/assets.sh');

export interface LabOptions {
  /** Default 3. Odd machines boot SeaBIOS, even ones UEFI. */
  machines?: number;
  /** Firmware per machine, overriding the odd/even rule. */
  firmware?: Firmware[];
  /** The lab's folder (state, config, logs, machines); default build/lab/run. Wiped at start. */
  dir?: string;
  /** The API on the host's loopback; default 8470, 0 for any free port. */
  hostPort?: number;
  /** Per VM; default 512. */
  memoryMiB?: number;
  /** qemu accelerators; default IRONBAY_QEMU_ACCEL or tcg (PEERS.md: the kvm here hangs). */
  accel?: string[];
  /** Where the assets are built; default build/lab. */
  assetsBuildDir?: string;
  /** The daemon's log level; default info. */
  logLevel?: string;
  /** Leave what was made in place when startLab fails (to look at it); default false. */
  keepOnError?: boolean;
  /** Progress messages; default none. */
  log?: (line: string) => void;
  /** Aborts the start between steps (and the asset build); what was made is torn down. */
  signal?: AbortSignal;
}

export interface MachineResult {
  name: string;
  firmware: string;
  /** ready, failed, or unfinished (the wait timed out). */
  outcome: string;
  reason: string | null;
  /** epoch ms of the first power-on after provisioning started (the chassis log). */
  poweredOnAt?: number;
  /** epoch ms of the outcome (its stateSince). */
  doneAt?: number;
}

export interface WatchResult {
  ok: boolean;
  timedOut: boolean;
  machines: MachineResult[];
}

export interface ApiMachine {
  name: string;
  state: string;
  stateReason: string | null;
  stateSince: string;
  observed: Record<string, unknown>;
}

/** The API's event view is the store's event row. */
export type ApiEvent = EventRow;

function accelDefault(): string[] {
  const v = process.env.IRONBAY_QEMU_ACCEL;
  return v ? v.split(/[,:\s]+/).filter(Boolean) : ['tcg'];
}

/** Runs a program with its output passed line by line to `log`. */
function runLogged(cmd: string, args: string[], log: (l: string) => void, signal?: AbortSignal): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal && { signal }) });
    for (const s of [p.stdout, p.stderr]) createInterface({ input: s }).on('line', (l) => log(`  ${l}`));
    p.on('error', reject);
    p.on('close', resolve);
  });
}

/** A copy (a reflink where the filesystem can): the boot server refuses links that leave its root. */
function copyAsset(from: string, to: string): void {
  copyFileSync(from, to, constants.COPYFILE_FICLONE);
}

/** vmlinuz, installer.img and disk.img, built by test/lab/assets.sh, into the lab's boot assets. */
async function prepareAssets(f: LabFiles, buildDir: string, log: (l: string) => void, signal?: AbortSignal): Promise<void> {
  mkdirSync(join(f.assetsDir, 'lab'), { recursive: true });
  if (!existsSync(join(REPO, 'pxe-assets/ipxe/snponly.efi'))) {
    log('iPXE binaries: pxe-assets/install.sh');
    const code = await runLogged('bash', [join(REPO, 'pxe-assets/install.sh')], log, signal);
    if (code !== 0) throw new Error(`pxe-assets/install.sh failed (exit ${String(code)})`);
  }
  log(`boot assets: bash test/lab/assets.sh ${buildDir}`);
  const code = await runLogged('bash', [ASSETS_SCRIPT, buildDir], log, signal);
  if (code !== 0) throw new Error(`test/lab/assets.sh failed (exit ${String(code)})`);
  for (const [name, rel] of [
    ['vmlinuz', PROFILE_ASSETS.kernel],
    ['installer.img', PROFILE_ASSETS.initrd],
    ['disk.img', PROFILE_ASSETS.image],
  ] as const) {
    const src = join(buildDir, name);
    if (!existsSync(src)) throw new Error(`test/lab/assets.sh left no ${src}`);
    copyAsset(src, join(f.assetsDir, rel));
  }
}

export class Lab {
  readonly dir: string;
  readonly prefix: string;
  readonly files: LabFiles;
  readonly machines: MachinePlan[];
  readonly net: LabNetwork;
  /** The API (and web page) on the host's loopback. */
  readonly url: string;
  readonly token: string;
  readonly tokenFile: string;
  /** Set by provision() (epoch ms). */
  provisionedAt = 0;

  constructor(o: { dir: string; prefix: string; machines: MachinePlan[]; net: LabNetwork; url: string; token: string; tokenFile: string }) {
    this.dir = o.dir;
    this.prefix = o.prefix;
    this.files = labFiles(o.dir);
    this.machines = o.machines;
    this.net = o.net;
    this.url = o.url;
    this.token = o.token;
    this.tokenFile = o.tokenFile;
  }

  api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    return api<T>(this.url, this.token, method, path, body);
  }

  /** The `ironbay` CLI on the host, talking to the lab's API. */
  cli(args: string[]): Promise<RunResult> {
    return run(process.execPath, [CLI, ...args], { env: { IRONBAY_URL: this.url, IRONBAY_TOKEN: this.token, IRONBAY_CONFIG: undefined } });
  }

  /** Runs a command inside the appliance namespace (where ironbay is). */
  inAppliance(cmd: string, args: string[]): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.net.appNs, cmd, ...args]);
  }

  async apiMachines(): Promise<ApiMachine[]> {
    const r = await this.api<{ machines: ApiMachine[] }>('GET', '/api/v1/machines');
    if (r.status !== 200) throw new Error(`GET /api/v1/machines: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.machines;
  }

  /** The audit log, oldest first (`query` e.g. "?machine=lab-1&limit=1000"). */
  async events(query = ''): Promise<ApiEvent[]> {
    const r = await this.api<{ events: ApiEvent[] }>('GET', `/api/v1/events${query}`);
    if (r.status !== 200) throw new Error(`GET /api/v1/events: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.events;
  }

  /** `ironbay provision --all`; returns the CLI's output. Throws when it or a machine failed. */
  async provision(): Promise<string> {
    this.provisionedAt = Date.now();
    const r = await this.cli(['provision', '--all']);
    if (r.code !== 0) throw new Error(`ironbay provision --all (exit ${String(r.code)}):\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** The table's rows: ironbay's view (API) beside the lab's own (qemu, chassis). */
  async rows(machines?: ApiMachine[]): Promise<MachineRow[]> {
    const byName = new Map((machines ?? (await this.apiMachines())).map((m) => [m.name, m]));
    return this.machines.map((m) => {
      const a = byName.get(m.name);
      const last = chassisEvents(m).at(-1);
      return {
        name: m.name,
        firmware: m.firmware,
        state: a?.state ?? '?',
        stateSince: a?.stateSince ?? new Date().toISOString(),
        stateReason: a?.stateReason ?? null,
        power: vmPid(m) ? 'on' : 'off',
        bmc: `boot=${storedBootDevice(m)}${last ? ` · ${last.text}` : ''}`,
      };
    });
  }

  /** First VM start after provisioning began, from the chassis log (epoch ms). */
  poweredOnAt(m: MachinePlan): number | undefined {
    return chassisEvents(m).find((e) => e.t >= this.provisionedAt - 1000 && e.text.startsWith('vm start'))?.t;
  }

  /** Polls once a second until every machine is ready or one failed, or `timeoutMs` passed. */
  async watch(o: { timeoutMs: number; onUpdate?: (rows: MachineRow[]) => void; intervalMs?: number }): Promise<WatchResult> {
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
      const machines = await this.apiMachines();
      o.onUpdate?.(await this.rows(machines));
      const results = this.machines.map((m): MachineResult => {
        const a = machines.find((x) => x.name === m.name);
        const base = { name: m.name, firmware: m.firmware, poweredOnAt: this.poweredOnAt(m) };
        if (a?.state === 'ready' || a?.state === 'failed') return { ...base, outcome: a.state, reason: a.stateReason, doneAt: Date.parse(a.stateSince) };
        return { ...base, outcome: 'unfinished', reason: a ? `${a.state}${a.stateReason ? `: ${a.stateReason}` : ''}` : 'not in the API' };
      });
      const failed = results.some((x) => x.outcome === 'failed');
      if (failed || results.every((x) => x.outcome === 'ready')) return { ok: !failed, timedOut: false, machines: results };
      if (Date.now() > deadline) return { ok: false, timedOut: true, machines: results };
      await new Promise((resolve) => setTimeout(resolve, o.intervalMs ?? 1000));
    }
  }

  stop(): Promise<string[]> {
    return teardown(this.dir);
  }
}

/** Builds and starts the lab; see the top of this file. */
export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const log = opts.log ?? ((): void => undefined);
  const dir = opts.dir ?? DEFAULT_DIR;
  if (/[\s"'\\]/.test(dir)) throw new Error(`the lab's folder may hold no blanks, quotes or backslashes: ${dir}`);
  const old = readState(dir);
  if (old && (await labExists(old))) throw new Error(`a lab is up in ${dir} (prefix ${old.prefix}): tear it down first (npm run lab -- --down)`);
  if (old) await teardown(dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const f = labFiles(dir);
  const step = (): void => opts.signal?.throwIfAborted();
  await prepareAssets(f, opts.assetsBuildDir ?? ASSETS_BUILD_DIR, log, opts.signal);
  step();

  const netns = new Netns('ibl');
  const machines = planMachines(opts.machines ?? 3, dir, opts.firmware);
  const state: LabState = { version: 1, prefix: netns.prefix, dir, createdAt: new Date().toISOString(), phase: 'starting', namespaces: [], pids: [], machines };
  writeState(state);
  try {
    log(`network: namespaces ${netns.prefix}-lab (bridges, BMCs, VMs) and ${netns.prefix}-app (ironbay)`);
    const net = await createNetwork(netns, machines.map((m) => m.bmcAddress), async (ns) => {
      state.namespaces.push(ns);
      writeState(state);
    });
    Object.assign(state, { labNs: net.labNs, appNs: net.appNs });
    step();
    const password = randomBytes(8).toString('hex');
    writeFileSync(f.passwordFile, password, { mode: 0o600 });
    const vm = { memoryMiB: opts.memoryMiB ?? 512, accel: opts.accel ?? accelDefault() };
    for (const m of machines) {
      const taps = await createTaps(netns, net, m.index);
      prepareMachine(m, taps, vm);
      state.pids.push({ role: `bmc ${m.name}`, pid: startBmc(m, net.labNs, password) });
      writeState(state);
      step();
    }
    log(`BMCs: ${machines.map((m) => `${m.name} ${m.bmcAddress}`).join(', ')} (ipmi_sim, chassis test/lab/vm-chassis.sh)`);
    await Promise.all(machines.map((m) => waitForBmc(net.appNs, m, f.passwordFile)));
    step();

    writeFileSync(f.configFile, labConfig(f, net.appIfs.boot, opts.logLevel));
    writeFileSync(f.inventoryFile, labInventory(machines, f.passwordFile));
    await validateInventory(f.inventoryFile);
    log(`ironbay: daemon in ${net.appNs}, boot interface ${net.appIfs.boot}, config ${f.configFile}`);
    const daemon = await startDaemon(f, net.appNs);
    state.pids.push({ role: 'ironbay daemon', pid: daemon.pid });
    writeState(state);
    step();
    const fwd = await startForwarder(f, net.appNs, opts.hostPort ?? 8470);
    state.pids.push({ role: 'api forwarder', pid: fwd.pid });
    const url = `http://127.0.0.1:${fwd.port}`;
    Object.assign(state, { url, tokenFile: daemon.tokenFile, phase: 'up' });
    writeState(state);
    const lab = new Lab({ dir, prefix: netns.prefix, machines, net, url, token: daemon.token, tokenFile: daemon.tokenFile });
    // The inventory is applied just after the start: wait until the API lists every machine.
    const deadline = Date.now() + 20_000;
    while ((await lab.apiMachines()).length < machines.length) {
      if (Date.now() > deadline) throw new Error(`ironbay did not apply the lab inventory within 20 s (see ${join(dir, 'logs/daemon.log')})`);
      step();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return lab;
  } catch (e) {
    if (!opts.keepOnError) await teardown(dir);
    throw e;
  }
}

/** Tears down the lab in `dir` (default build/lab/run); returns what was done. */
export function stopLab(dir = DEFAULT_DIR): Promise<string[]> {
  return teardown(dir);
}
