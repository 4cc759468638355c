// The lab's machines: for each, a qemu virtual machine that only its BMC powers on, and that
// BMC — OpenIPMI's ipmi_sim on the BMC network, whose chassis is test/lab/vm-chassis.sh.
//
// Machine i (1-based) is lab-i:
//   firmware     odd i: SeaBIOS + qemu's iPXE NIC ROM; even i: OVMF (UEFI) with the NIC ROM off,
//                so EDK2's own PXE fetches snponly.efi over TFTP
//   nic0         52:54:00:18:00:ii on the boot VLAN (PXE), boot address 198.18.0.(10+i)
//   nic1         52:54:00:18:01:ii on the production network, 198.18.2.(10+i)/24 once installed
//   BMC          198.18.1.(10+i):623, user admin, the lab's password
//   disk         a blank sparse 64 MiB raw disk (the installer writes the OS image onto it)
//   console      console.log in the machine's folder (every power-on appended)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../helpers/run.ts';
import { OVMF_CODE, OVMF_VARS } from '../helpers/qemu.ts';
import { hostOctet, NET } from './network.ts';

export const CHASSIS = fileURLToPath(new URL('vm-chassis.sh', import.meta.url));
export const BMC_USER = 'admin';
export const DISK_BYTES = 64 * 1024 * 1024;
/** The most machines a lab makes: one octet per machine on each /24, and 2 cores. */
export const MAX_MACHINES = 32;
/** QMP of machine i listens on the lab namespace's loopback at this port + i. */
const QMP_BASE = 4400;

export type Firmware = 'bios' | 'uefi';

export interface MachinePlan {
  index: number;
  name: string;
  firmware: Firmware;
  /** [boot NIC, production NIC] */
  macs: [string, string];
  bootAddress: string;
  bmcAddress: string;
  /** Without the prefix length. */
  prodAddress: string;
  /** The machine's folder: chassis state, disk, console, BMC configuration. */
  dir: string;
}

const hex = (n: number): string => n.toString(16).padStart(2, '0');

/** `firmware[i]`, when given, overrides the odd/even rule for machine i+1 (benchmarks of one kind). */
export function planMachines(count: number, labDir: string, firmware: readonly Firmware[] = []): MachinePlan[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_MACHINES) throw new Error(`machines: 1–${MAX_MACHINES}, got ${count}`);
  return Array.from({ length: count }, (_, k) => {
    const index = k + 1;
    const name = `lab-${index}`;
    return {
      index,
      name,
      firmware: firmware[k] ?? (index % 2 === 1 ? 'bios' : 'uefi'),
      macs: [`52:54:00:18:00:${hex(index)}`, `52:54:00:18:01:${hex(index)}`],
      bootAddress: `${NET.boot.prefix}.${hostOctet(index)}`,
      bmcAddress: `${NET.bmc.prefix}.${hostOctet(index)}`,
      prodAddress: `${NET.prod.prefix}.${hostOctet(index)}`,
      dir: join(labDir, 'machines', name),
    };
  });
}

export interface VmSettings {
  memoryMiB: number;
  /** qemu -accel values in order of preference, e.g. ['tcg'] or ['kvm', 'tcg']. */
  accel: string[];
}

/** Single-quoted for a shell assignment. */
const shq = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** The machine's folder as vm-chassis.sh expects it: machine.env, disk, UEFI variables, boot, events. */
export function prepareMachine(m: MachinePlan, taps: { boot: string; prod: string }, vm: VmSettings): void {
  // lan.conf's tokenizer knows no quoting: the chassis command line holds no blanks or quotes.
  if (/[\s"'\\]/.test(m.dir + CHASSIS)) throw new Error(`the lab's paths may hold no blanks, quotes or backslashes: ${m.dir}, ${CHASSIS}`);
  mkdirSync(join(m.dir, 'bmc', 'state'), { recursive: true });
  const env = {
    NAME: m.name,
    FIRMWARE: m.firmware,
    MAC0: m.macs[0],
    MAC1: m.macs[1],
    TAP0: taps.boot,
    TAP1: taps.prod,
    MEM: String(vm.memoryMiB),
    ACCEL: vm.accel.join(' '),
    QMP_PORT: String(QMP_BASE + m.index),
    OVMF_CODE,
  };
  writeFileSync(join(m.dir, 'machine.env'), Object.entries(env).map(([k, v]) => `${k}=${shq(v)}\n`).join(''));
  // Sparse: a blank disk costs nothing until the installer writes it.
  const disk = join(m.dir, 'disk.raw');
  closeSync(openSync(disk, 'w'));
  truncateSync(disk, DISK_BYTES);
  if (m.firmware === 'uefi') copyFileSync(OVMF_VARS, join(m.dir, 'OVMF_VARS.fd'));
  writeFileSync(join(m.dir, 'boot'), 'none\n');
  writeFileSync(join(m.dir, 'events'), '');
  writeFileSync(join(m.dir, 'console.log'), '');
}

// ---------------------------------------------------------------------------------------
// The BMC

/** The BMC's IPMB address (IPMI v2.0 §5.1: 20h is the BMC). */
const BMC_ADDR = '0x20';
// ipmi_sim_cmd(5), as test/helpers/ipmi-sim.ts: one BMC at 20h, IPMI 2.0, chassis device.
const EMU = ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02', 'sel_enable 0x20 1000 0x0a', 'mc_enable 0x20', ''].join('\n');

function lanConf(m: MachinePlan, password: string): string {
  // ipmi_lan(5). ipmi_sim appends " get power" / " set boot pxe" to chassis_control and runs it.
  const auths = 'none md2 md5 straight';
  return [
    `name "${m.name}-bmc"`,
    `set_working_mc ${BMC_ADDR}`,
    '  startlan 1',
    `    addr ${m.bmcAddress} 623`,
    '    priv_limit admin',
    `    allowed_auths_callback ${auths}`,
    `    allowed_auths_user ${auths}`,
    `    allowed_auths_operator ${auths}`,
    `    allowed_auths_admin ${auths}`,
    // Without a system GUID, ipmi_sim answers that it has no IPMI v2.0 / RMCP+ at all.
    `    guid ${randomBytes(16).toString('hex')}`,
    '  endlan',
    `  chassis_control "${CHASSIS} ${m.dir}"`,
    `  user 2 true "${BMC_USER}" "${password}" admin 10 none md2 md5 straight`,
    '',
  ].join('\n');
}

/**
 * Starts the machine's ipmi_sim in the lab namespace, detached (it outlives this process; the
 * state file has its pid). SIGPIPE is ignored: ipmi_sim dies of it silently (PEERS.md).
 */
export function startBmc(m: MachinePlan, labNs: string, password: string): number {
  if (!/^[\x21-\x7e]{1,20}$/.test(password) || password.includes('"')) throw new Error('BMC password: 1–20 printable characters, no quotes');
  const dir = join(m.dir, 'bmc');
  writeFileSync(join(dir, 'lan.conf'), lanConf(m, password), { mode: 0o600 });
  writeFileSync(join(dir, 'sim.emu'), EMU);
  const out = openSync(join(dir, 'ipmi_sim.log'), 'a');
  // `ip netns exec` and sh both exec: the pid is ipmi_sim's.
  const child = spawn(
    'ip',
    ['netns', 'exec', labNs, 'sh', '-c', 'trap "" PIPE; exec "$0" "$@"', 'ipmi_sim', '-n', '-p', '-c', join(dir, 'lan.conf'), '-f', join(dir, 'sim.emu'), '-s', join(dir, 'state')],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new Error(`${m.name}: ipmi_sim did not start`);
  return child.pid;
}

/** `ipmitool -I lanplus` against a lab BMC, from the appliance namespace (as ironbay reaches it). */
export async function labIpmitool(appNs: string, m: MachinePlan, passwordFile: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await run('ip', ['netns', 'exec', appNs, 'timeout', '-s', 'KILL', '30', 'ipmitool', '-I', 'lanplus', '-H', m.bmcAddress, '-U', BMC_USER, '-f', passwordFile, '-C', '3', '-N', '1', '-R', '2', ...args]);
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Waits until the BMC answers a chassis status over the BMC network. */
export async function waitForBmc(appNs: string, m: MachinePlan, passwordFile: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = await labIpmitool(appNs, m, passwordFile, ['chassis', 'power', 'status']);
    if (r.code === 0 && /Chassis Power is (on|off)/.test(r.stdout)) return;
    last = (r.stderr || r.stdout).trim();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const log = existsSync(join(m.dir, 'bmc', 'ipmi_sim.log')) ? readFileSync(join(m.dir, 'bmc', 'ipmi_sim.log'), 'utf8').slice(-2000) : '';
  throw new Error(`${m.name}: BMC ${m.bmcAddress} did not answer within ${timeoutMs} ms: ${last}\n${log}`);
}

// ---------------------------------------------------------------------------------------
// Reading a chassis (what vm-chassis.sh keeps in the machine's folder)

export interface ChassisEvent {
  /** epoch ms */
  t: number;
  /** "set power 1", "vm start boot=pxe firmware=bios pid=123", "boot pxe consumed: default" … */
  text: string;
}

export function chassisEvents(m: MachinePlan): ChassisEvent[] {
  let text: string;
  try {
    text = readFileSync(join(m.dir, 'events'), 'utf8');
  } catch {
    return [];
  }
  const out: ChassisEvent[] = [];
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    out.push({ t: Date.parse(line.slice(0, sp)), text: line.slice(sp + 1) });
  }
  return out;
}

/** The qemu pid when the machine is on (as vm-chassis.sh's `get power` decides), else undefined. */
export function vmPid(m: MachinePlan): number | undefined {
  try {
    const pid = Number(readFileSync(join(m.dir, 'qemu.pid'), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    if (state === 'Z' || state === 'X' || state === 'x') return undefined;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes(join(m.dir, 'qemu.pid')) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function storedBootDevice(m: MachinePlan): string {
  try {
    return readFileSync(join(m.dir, 'boot'), 'utf8').trim() || 'none';
  } catch {
    return 'none';
  }
}

export function consoleLog(m: MachinePlan): string {
  try {
    return readFileSync(join(m.dir, 'console.log'), 'latin1');
  } catch {
    return '';
  }
}
