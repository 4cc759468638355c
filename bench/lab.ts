// The lab, timed: power-on → ready for each machine and for the whole fleet, through the real
// daemon, BMCs (ipmi_sim powering qemu) and firmware, with where the time goes — each lifecycle
// state's share from the machine's events. Scenarios: 1 BIOS, 1 UEFI, 6 mixed (3 + 3).
//
//   node_modules/.bin/node bench/lab.ts [--only 1-bios,1-uefi,6-mixed] [--timeout-min 30]
//
// qemu runs under TCG here (no usable /dev/kvm): absolute times are the emulator's; the
// breakdown says which steps are ironbay's (power cycles, waits between states) and which are
// the firmware's and the installer's. Writes bench/out/lab.json. A measurement, not a test.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO } from '../test/helpers/daemon.ts';
import { startLab, type ApiEvent } from '../test/lab/lab.ts';
import type { Firmware } from '../test/lab/machines.ts';

const ARGS = parseArgs({ options: { only: { type: 'string' }, 'timeout-min': { type: 'string', default: '30' } } }).values;
const ALL: { key: string; firmware: Firmware[] }[] = [
  { key: '1-bios', firmware: ['bios'] },
  { key: '1-uefi', firmware: ['uefi'] },
  { key: '6-mixed', firmware: ['bios', 'uefi', 'bios', 'uefi', 'bios', 'uefi'] },
];
const SCENARIOS = ALL.filter((s) => !ARGS.only || ARGS.only.split(',').includes(s.key));
const STATES = ['power-cycling', 'pxe-booting', 'installing', 'installed', 'rebooting'] as const;
const LABEL: Record<(typeof STATES)[number], string> = {
  'power-cycling': 'PXE set + power cycle → DHCP',
  'pxe-booting': 'DHCP → installer running',
  installing: 'installer: image + seed → installed',
  installed: 'disk set + power cycle',
  rebooting: 'disk boot → SSH banner',
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : NaN;
};
const sec = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : 'n/a');

interface MachineTiming {
  name: string;
  firmware: string;
  outcome: string;
  totalMs: number;
  states: Partial<Record<(typeof STATES)[number], number>>;
}

const results: { scenario: string; fleetMs: number; machines: MachineTiming[] }[] = [];
for (const sc of SCENARIOS) {
  console.log(`\n# ${sc.key}: ${sc.firmware.length} machine(s) …`);
  const lab = await startLab({ machines: sc.firmware.length, firmware: sc.firmware, dir: join(REPO, 'build/lab/bench-run'), hostPort: 0, log: (l) => console.log(`  ${l}`) });
  try {
    const t0 = Date.now();
    await lab.provision();
    const w = await lab.watch({ timeoutMs: Number(ARGS['timeout-min']) * 60_000 });
    const fleetMs = Math.max(...w.machines.map((m) => m.doneAt ?? NaN)) - t0;
    const events = await lab.events('?kind=machine.state&limit=1000');
    const machines = w.machines.map((m): MachineTiming => {
      const moves = events.filter((e: ApiEvent) => e.machine === m.name);
      const at = (to: string): number | undefined => {
        const e = moves.find((x) => x.details.to === to);
        return e && Date.parse(e.time);
      };
      // A state lasts until the next move, whatever it is: a quick firmware skips pxe-booting
      // (the installer already runs when the reconciler looks), and its time shows under
      // power-cycling.
      const states: MachineTiming['states'] = {};
      moves.forEach((e, i) => {
        const next = moves[i + 1];
        const s = e.details.to as (typeof STATES)[number];
        if (next && STATES.includes(s)) states[s] = Date.parse(next.time) - Date.parse(e.time);
      });
      return { name: m.name, firmware: m.firmware, outcome: m.outcome, totalMs: (m.doneAt ?? NaN) - (at('power-cycling') ?? NaN), states };
    });
    results.push({ scenario: sc.key, fleetMs, machines });
  } finally {
    await lab.stop();
  }
}

console.log('\n## Lab: provision → ready through ironbay (qemu TCG; seconds, median over the machines of a run)\n');
const head = ['', ...results.map((r) => r.scenario)];
const rows: string[][] = [
  ['machines ready', ...results.map((r) => `${r.machines.filter((m) => m.outcome === 'ready').length}/${r.machines.length}`)],
  ['power-on → ready, per machine', ...results.map((r) => sec(median(r.machines.map((m) => m.totalMs))))],
  ['whole fleet (provision → last ready)', ...results.map((r) => sec(r.fleetMs))],
  ...STATES.map((s) => [`  ${s}: ${LABEL[s]}`, ...results.map((r) => sec(median(r.machines.map((m) => m.states[s] ?? NaN))))]),
];
console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
for (const r of results) for (const m of r.machines) console.log(`  ${r.scenario} ${m.name} (${m.firmware}): ${m.outcome}, ${sec(m.totalMs)} s`);
mkdirSync(join(REPO, 'bench/out'), { recursive: true });
writeFileSync(join(REPO, 'bench/out/lab.json'), JSON.stringify(results, null, 2) + '\n');
