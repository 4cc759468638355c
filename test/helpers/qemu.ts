// A PXE-booting qemu machine for the end-to-end tests and benchmarks: its NIC is a tap device
// in a test's network namespace (on a bridge there), qemu itself runs in that namespace, and its
// serial console is read through a pipe so every line carries the time it arrived.
//   firmware 'bios': SeaBIOS + qemu's NIC option ROM, which is iPXE (package ipxe-qemu): such a
//                    machine never TFTPs; iPXE asks DHCP for its script directly.
//   firmware 'uefi': OVMF with the NIC ROM removed (romfile=), so EDK2's own PXE client (its
//                    built-in virtio-net driver) does DHCP + TFTP of the boot file.
// The accelerator is TCG unless IRONBAY_QEMU_ACCEL says otherwise (e.g. "kvm,tcg"): the /dev/kvm
// on these machines is a nested-virtualisation module under which a Debian kernel hangs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Netns } from './netns.ts';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export interface VmOptions {
  /** The lab that owns the namespace; the tap is created through it (and goes with it). */
  netns: Netns;
  /** Namespace (full name) the tap and qemu live in. */
  ns: string;
  /** Bridge in `ns` the tap joins. */
  bridge?: string;
  /** Tap suffix after the lab prefix (≤ 5 chars); default derived from `name`. */
  tap?: string;
  firmware: 'bios' | 'uefi';
  /** e.g. 52:54:00:12:34:56 */
  mac: string;
  name: string;
  /** The raw serial output is written here as it arrives. */
  serialLog: string;
  /** Default 512 (OVMF needs at least 256). */
  memoryMiB?: number;
  /** Default virtio (OVMF has no e1000 driver: 'e1000' with 'uefi' needs nicRom). */
  nic?: 'virtio' | 'e1000';
  /**
   * Keep qemu's iPXE option ROM on the NIC. Default: true for 'bios' (SeaBIOS has no PXE of its
   * own), false for 'uefi' (so OVMF's PXE client is what boots).
   */
  nicRom?: boolean;
  /** qemu -accel values, in order of preference; default from IRONBAY_QEMU_ACCEL or ['tcg']. */
  accel?: string[];
  /** qemu -smp; default 1. */
  cpus?: number;
  extraArgs?: string[];
}

export interface SerialLine {
  /** ms since qemu was spawned, when the line's first character arrived. */
  t0: number;
  /** ms since qemu was spawned, when the line's end arrived (iPXE prints "Configuring … ok" in pieces). */
  t: number;
  text: string;
}

export interface Vm {
  readonly name: string;
  readonly tap: string;
  /** performance.now() when qemu was spawned: the machine's power-on. */
  readonly startedAt: number;
  /** Resolves the first time the serial output (everything so far) matches; ms since power-on. */
  waitForSerial(re: RegExp, timeoutMs: number): Promise<{ match: RegExpMatchArray; ms: number }>;
  /** Everything printed on the serial console so far (with the firmware's escape sequences). */
  serial(): string;
  /** Complete lines so far, each with its arrival time (escape sequences removed). */
  lines(): SerialLine[];
  /** The lines as "[  12.345] text", for logs. */
  timeline(): string;
  /** qemu's exit (code or signal) and its stderr. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }>;
  /** Kills qemu (SIGKILL) and removes its temporary files; resolves when it has exited. */
  kill(): Promise<void>;
}

// CSI/OSC escape sequences and SeaBIOS's "c" resets, so lines read as text.
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;?=]*[A-Za-z]|\x1bc|\x1b[()][A-Z0-9]|\x1b[=>]/g;

function accelFromEnv(): string[] {
  const v = process.env.IRONBAY_QEMU_ACCEL;
  return v ? v.split(/[,:\s]+/).filter(Boolean) : ['tcg'];
}

export async function startVm(o: VmOptions): Promise<Vm> {
  const nic = o.nic ?? 'virtio';
  const nicRom = o.nicRom ?? o.firmware === 'bios';
  if (o.firmware === 'uefi' && nic === 'e1000' && !nicRom) throw new Error('OVMF has no e1000 driver: use virtio, or keep the NIC ROM');
  const suffix = o.tap ?? `v${createHash('sha1').update(o.name).digest('hex').slice(0, 4)}`;
  const tap = await o.netns.tap(o.ns, suffix, o.bridge);
  const tmp = await mkdtemp(join(tmpdir(), 'ironbay-vm-'));

  // graphics=off: with no display, SeaBIOS (and so the iPXE ROM) writes its console to the
  // serial port (qemu hands it etc/sercon-port); OVMF writes to the serial port anyway.
  const args = ['-name', o.name, '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none', '-machine', 'graphics=off', '-no-reboot'];
  for (const a of o.accel ?? accelFromEnv()) args.push('-accel', a);
  args.push('-m', String(o.memoryMiB ?? 512), '-smp', String(o.cpus ?? 1));
  args.push('-serial', 'stdio', '-monitor', 'none');
  if (o.firmware === 'uefi') {
    const vars = join(tmp, 'OVMF_VARS.fd');
    await copyFile(OVMF_VARS, vars);
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
  }
  args.push('-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`);
  const dev = nic === 'virtio' ? 'virtio-net-pci' : 'e1000';
  // bootindex puts the NIC first in the fw_cfg boot order, which SeaBIOS and OVMF both honour.
  args.push('-device', `${dev},netdev=n0,mac=${o.mac},bootindex=1${nicRom ? '' : ',romfile='}`);
  if (o.firmware === 'bios') args.push('-boot', 'n');
  args.push(...(o.extraArgs ?? []));

  const log: WriteStream = createWriteStream(o.serialLog);
  const startedAt = performance.now();
  // `ip netns exec` execs qemu: the child's pid is qemu's.
  const child: ChildProcess = spawn('ip', ['netns', 'exec', o.ns, 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let raw = '';
  let pending = '';
  let pendingStart = 0;
  const lines: SerialLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    const s = c.toString('latin1');
    const t = performance.now() - startedAt;
    raw += s;
    log.write(c);
    // A line starts with its first visible character (firmware sends escape sequences between lines).
    if (!pending.replace(ESCAPES, '').trim()) pendingStart = t;
    pending += s;
    // A terminal reset or clear screen (SeaBIOS's serial console on a mode switch, e.g. when the
    // kernel starts mid-line) ends a line too.
    // eslint-disable-next-line no-control-regex
    const parts = pending.split(/\r\n|\n|\r|\x1bc|\x1b\[2J/);
    pending = parts.pop() ?? '';
    for (const p of parts) {
      const text = p.replace(ESCAPES, '').trimEnd();
      if (text) lines.push({ t0: pendingStart, t, text });
      pendingStart = t;
    }
    for (const w of [...waiters]) w();
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      const text = pending.replace(ESCAPES, '').trimEnd();
      if (text) lines.push({ t0: pendingStart, t: performance.now() - startedAt, text });
      pending = '';
      log.end();
      for (const w of [...waiters]) w();
      resolve({ code, signal, stderr, ms: performance.now() - startedAt });
    };
    child.once('error', (e) => {
      stderr += String(e);
      done(null, null);
    });
    child.once('close', done);
  });
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await rm(tmp, { recursive: true, force: true });
  };
  void exited.then(cleanup);
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const vm: Vm = {
    name: o.name,
    tap,
    startedAt,
    serial: () => raw,
    lines: () => [...lines],
    timeline: () =>
      lines
        .map((l) => {
          const span = l.t - l.t0 >= 100 ? ` (${((l.t - l.t0) / 1000).toFixed(3)} s in the making)` : '';
          return `[${(l.t0 / 1000).toFixed(3).padStart(8)}] ${l.text}${span}`;
        })
        .join('\n'),
    exited,
    waitForSerial(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = raw.replace(ESCAPES, '').match(re);
          if (m) {
            finish();
            resolve({ match: m, ms: performance.now() - startedAt });
            return true;
          }
          if (hasExited) {
            finish();
            reject(new Error(`${o.name}: qemu exited before the serial console matched ${String(re)}\n${stderr.trim()}\n--- serial ---\n${vm.timeline()}`));
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${o.name}: no ${String(re)} on the serial console within ${String(timeoutMs)} ms\n--- serial ---\n${vm.timeline()}`));
        }, timeoutMs);
        const onData = (): void => void check();
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(onData);
        };
        waiters.add(onData);
        // hasExited is set asynchronously after `exited` settles: re-check then too.
        void exited.then(() => setImmediate(onData));
        check();
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await cleanup();
    },
  };
  return vm;
}
