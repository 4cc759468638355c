// End-to-end boot benchmark: power-on → phone-home of real firmware (SeaBIOS + qemu's iPXE
// ROM, and OVMF's own PXE client), 1 and 8 machines at once, booted by ironbay and by dnsmasq
// + a static HTTP server given the same boot chain (iPXE over TFTP for UEFI, the iPXE script,
// kernel and initrd over HTTP, phone-home). dnsmasq runs twice: stock, and tuned with the two
// settings that remove iPXE's waits (175.176 no-pxedhcp and a router advertisement) — the
// fair comparison, since ironbay does both by itself.
//
//   node_modules/.bin/node bench/e2e.ts [--quick] [--only=uefi:8] [--repeat=3]   (--quick: 1 machine per firmware only)
//
// Traffic stays in the namespaces the run creates (198.51.100.0/24, 2001:db8:b007::/64).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestDaemon } from '../test/helpers/daemon.ts';
import { buildInitrd, E2E_ASSETS, ensureBootAssets } from '../test/helpers/initrd.ts';
import { bootVm, bootWithDnsmasq, createBootNetwork, testMac, type BootResult } from '../test/helpers/pxe-lab.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = join(REPO, 'bench/out');
const LOG_DIR = join(REPO, 'build/e2e/logs/bench');
const QUICK = process.argv.includes('--quick');
/** Rounds of the interleaved servers per case; the table shows each server's median round. */
const REPEAT = Number(process.argv.find((a) => a.startsWith('--repeat='))?.slice('--repeat='.length) ?? 1);
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length); // e.g. --only=uefi:8
const ALL_FIRMWARES = ['bios', 'uefi'] as const;
type Firmware = (typeof ALL_FIRMWARES)[number];
const COUNTS = ONLY ? [Number(ONLY.split(':')[1])] : QUICK ? [1] : [1, 8];
const FIRMWARES: readonly Firmware[] = ONLY ? [ONLY.split(':')[0] as Firmware] : ALL_FIRMWARES;

interface Run {
  server: string;
  firmware: Firmware;
  count: number;
  /** Power-on → phone-home per machine, seconds. */
  each: number[];
  /** First power-on to last phone-home, seconds. */
  wall: number;
  /** Median seconds from power-on to each console milestone (where the time goes). */
  milestones: Record<string, number>;
}

function medianMilestones(results: BootResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(results[0]?.milestones ?? {})) {
    const xs = results.map((r) => r.milestones[key]).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    if (xs.length) out[key] = secs(xs[Math.floor(xs.length / 2)]!);
  }
  return out;
}

const secs = (ms: number): number => Math.round(ms / 100) / 10;

async function ironbay(firmware: Firmware, count: number, work: string): Promise<Run> {
  const macs = Array.from({ length: count }, (_, i) => testMac(i, firmware === 'bios' ? 0xb1 : 0xb2));
  const inventory = `networks:
  boot:
    - { name: boot, subnet: 198.51.100.0/24, pool: { start: 198.51.100.100, end: 198.51.100.199 } }
profiles:
  - { name: e2e, kernel: e2e/vmlinuz, initrd: [e2e/initrd.gz], cmdline: console=ttyS0 quiet, install: { method: live } }
machines:
${macs.map((m, i) => `  - { name: vm-${String(i)}, macs: ["${m}"], role: worker, profile: e2e }`).join('\n')}
`;
  const net = await createBootNetwork({ tag: 'bee', ipv6: true });
  let daemon: TestDaemon | undefined;
  try {
    daemon = await TestDaemon.start({
      inventory,
      netns: net.ns,
      logLevel: 'info',
      configExtra: `boot: { interfaces: [${net.bridge}], mode: reservation, assets: ${join(work, 'assets')} }\n`,
    });
    const t0 = Date.now();
    const results = await Promise.all(
      macs.map((mac, i) => bootVm({ net, name: `ironbay-${firmware}-${String(count)}-${String(i)}`, firmware, mac, logDir: LOG_DIR, timeoutMs: 600_000 })),
    );
    return { server: 'ironbay', firmware, count, each: results.map((r) => secs(r.phoneHomeMs)), wall: secs(Date.now() - t0), milestones: medianMilestones(results) };
  } finally {
    daemon?.cleanup();
    await net.dispose();
  }
}

async function dnsmasq(firmware: Firmware, count: number, tuned: boolean): Promise<Run> {
  const r = await bootWithDnsmasq({
    vms: Array.from({ length: count }, (_, i) => ({ name: `dnsmasq${tuned ? '-tuned' : ''}-${firmware}-${String(count)}-${String(i)}`, firmware, mac: testMac(i, 0xc0) })),
    logDir: LOG_DIR,
    timeoutMs: 600_000,
    tag: 'bed',
    ...(tuned ? { noPxedhcp: true, ra: true } : {}),
  });
  return {
    server: tuned ? 'dnsmasq (tuned)' : 'dnsmasq',
    firmware,
    count,
    each: r.results.map((x: BootResult) => secs(x.phoneHomeMs)),
    wall: secs(r.wallMs),
    milestones: medianMilestones(r.results),
  };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'ironbay-bench-e2e-'));
  mkdirSync(LOG_DIR, { recursive: true });
  try {
    const { vmlinuz } = await ensureBootAssets();
    const initrd = join(E2E_ASSETS, 'initrd.gz');
    await buildInitrd(initrd);
    mkdirSync(join(work, 'assets/e2e'), { recursive: true });
    copyFileSync(vmlinuz, join(work, 'assets/e2e/vmlinuz'));
    copyFileSync(initrd, join(work, 'assets/e2e/initrd.gz'));
    console.log(`End-to-end boot benchmark: ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}, qemu TCG\n`);
    const runs: Run[] = [];
    for (const count of COUNTS) {
      for (const firmware of FIRMWARES) {
        // Interleaved, so the machine's load at a moment (this is a VM with neighbours) does
        // not favour one server; --repeat rounds give medians.
        const round = [() => ironbay(firmware, count, work), () => dnsmasq(firmware, count, false), () => dnsmasq(firmware, count, true)];
        for (const go of Array.from({ length: REPEAT }, () => round).flat()) {
          const r = await go();
          runs.push(r);
          console.log(`  ${r.server.padEnd(16)} ${firmware} ×${String(count)}: wall ${r.wall.toFixed(1)} s, each ${r.each.map((x) => x.toFixed(1)).join(' ')} s`);
          console.log(`  ${''.padEnd(16)} median milestones (s): ${Object.entries(r.milestones).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
        }
      }
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log('\n| firmware × machines | ironbay | dnsmasq stock | dnsmasq tuned | ironbay / tuned (target ≤ 1) |');
    console.log('|---|---|---|---|---|');
    for (const count of COUNTS) {
      for (const firmware of FIRMWARES) {
        // The median round by wall time.
        const get = (server: string): Run => {
          const mine = runs.filter((r) => r.server === server && r.firmware === firmware && r.count === count).sort((a, b) => a.wall - b.wall);
          return mine[Math.floor((mine.length - 1) / 2)]!;
        };
        const [o, s, t] = [get('ironbay'), get('dnsmasq'), get('dnsmasq (tuned)')];
        const cell = (r: Run): string => (count === 1 ? `${r.wall.toFixed(1)} s` : `${r.wall.toFixed(1)} s wall, median ${median(r.each).toFixed(1)} s`);
        console.log(`| ${firmware} × ${String(count)} | ${cell(o)} | ${cell(s)} | ${cell(t)} | ${(o.wall / t.wall).toFixed(2)} |`);
      }
    }
    mkdirSync(OUT_DIR, { recursive: true });
    writeFileSync(join(OUT_DIR, 'e2e.json'), JSON.stringify({ when: new Date().toISOString(), runs }, null, 2));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
