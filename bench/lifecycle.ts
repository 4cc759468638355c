// The lifecycle at scale: 10,000 machines provisioned through the whole state machine —
// registered → power-cycling → pxe-booting → installing → installed → rebooting → ready — by
// the real reconciler on the real store, with an in-process fake BMC and fake boot events in
// place of hardware. The fake BMC writes what a real boot would leave in the store (DHCP and
// kernel stages in the boot timeline, an "installed" boot session), so the reconciler reads
// the boot plane's records exactly as in production.
//
//   node_modules/.bin/node bench/lifecycle.ts [--machines 10000] [--poll-ms 100]
//
// It runs itself twice: a first process generates, validates and applies the inventory (as the
// daemon's validating child and apply would), then the measured one — started with the
// daemon's V8 flags and environment (daemon/runtime.ts) — opens that store and provisions.
// Each fake stage is written when the machine has reached the state before it, so every
// machine passes through every state.
//
// Prints transitions/s, reconcile latency (due → outcome written) p50/p99, the database size
// and this process's RSS (it is the daemon's lifecycle, store and all) against the targets:
// ≥ 2,000 transitions/s, RSS < 300 MB. A measurement, not a test: exits 0 either way.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadInventory } from '../inventory/validate.ts';
import { recordMachineStage } from '../daemon/boot/timeline.ts';
import { applyInventory } from '../daemon/inventory/apply.ts';
import { LifecycleActions } from '../daemon/lifecycle/actions.ts';
import type { Power } from '../daemon/lifecycle/ports.ts';
import { Reconciler } from '../daemon/lifecycle/reconciler.ts';
import { storeSignals } from '../daemon/lifecycle/signals.ts';
import { Store } from '../daemon/store/db.ts';
import { generateInventory } from './generate-inventory.ts';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../daemon/runtime.ts';

const ARGS = parseArgs({ options: { machines: { type: 'string', default: '10000' }, 'poll-ms': { type: 'string', default: '100' }, prepare: { type: 'string' }, measure: { type: 'string' } } }).values;
const N = Number(ARGS.machines);
const POLL = Number(ARGS['poll-ms']);

if (ARGS.prepare) {
  const store = Store.open(join(ARGS.prepare, 'ironbay.db'));
  const inv = loadInventory('bench.yaml', generateInventory({ machines: N }));
  if (!inv.ok) throw new Error(`generated inventory invalid: ${JSON.stringify(inv.errors.slice(0, 3))}`);
  applyInventory(store, inv.inventory, { file: 'bench.yaml', hash: 'bench', actor: 'bench' });
  store.close();
} else if (!ARGS.measure) {
  const dir = mkdtempSync(join(tmpdir(), 'ironbay-bench-lc-'));
  try {
    const self = new URL(import.meta.url).pathname;
    const common = ['--machines', String(N), '--poll-ms', String(POLL)];
    const prep = spawnSync(process.execPath, [self, ...common, '--prepare', dir], { stdio: 'inherit' });
    if (prep.status !== 0) throw new Error('preparing the store failed');
    spawnSync(process.execPath, [...DAEMON_NODE_FLAGS, '--expose-gc', self, ...common, '--measure', dir], { stdio: 'inherit', env: { ...process.env, ...DAEMON_ENV } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  await measure(ARGS.measure);
}

async function measure(dir: string): Promise<void> {
  const store = Store.open(join(dir, 'ironbay.db'));
  const names = store.db.prepare('SELECT name FROM machines ORDER BY id').pluck().all() as string[];

  // The fake hardware: a PXE cycle leads, a moment later, to what a network install leaves in
  // the store; a disk cycle makes the machine answer on its production address.
  const up = new Set<number>();
  const insertSession = store.db.prepare("INSERT INTO boot_sessions (machine_id, action, profile, created_at, ended_at, end_reason) VALUES (?, 'install', NULL, ?, ?, 'installed')");
  // Each stage lands a poll interval after the one before, as on real hardware (only much
  // faster), so every machine passes through every state rather than skipping ahead.
  const later = (ms: number, fn: (t: number) => void): void => void setTimeout(() => fn(store.now().getTime()), ms);
  // Installed reports are committed together every 10 ms, as the boot HTTP app's reports
  // would land under load: the benchmark measures the reconciler, not one fsync per fake report.
  let reports: [number, number][] = [];
  const reporter = setInterval(() => {
    if (!reports.length) return;
    const batch = reports;
    reports = [];
    store.db.transaction(() => {
      for (const [id, t] of batch) insertSession.run(id, t, t);
    })();
  }, 10);
  const power: Power = {
    pxeCycle: async (m) => later(1, (t) => recordMachineStage(store, { machineId: m.id, stage: 'dhcp-discover', at: t })),
    diskCycle: async (m) => {
      up.add(m.id);
    },
    off: async (m) => {
      up.delete(m.id);
    },
  };
  // The installer's next steps follow the state the reconciler has recorded: its kernel once
  // the machine is pxe-booting, its report once it is installing.
  const eventRow = store.db.prepare("SELECT machine_id, json_extract(details, '$.to') AS target FROM events WHERE id = ? AND kind = 'machine.state'");
  store.onEvent((id) => {
    const e = eventRow.get(id) as { machine_id: number; target: string } | undefined;
    if (e?.target === 'pxe-booting') later(1, (t) => recordMachineStage(store, { machineId: e.machine_id, stage: 'kernel', at: t }));
    else if (e?.target === 'installing') later(1, (t) => reports.push([e.machine_id, t]));
  });
  const rec = new Reconciler({
    // Every machine takes the image path (the generated inventory has live profiles too,
    // whose fake would need a network-booted OS to answer): the longest way through.
    installMethod: () => 'image',
    store,
    log: pino({ level: 'silent' }),
    power,
    signals: storeSignals(store),
    reach: { reachable: async (m) => ({ ok: up.has(m.id), detail: up.has(m.id) ? 'SSH-2.0-fake' : 'down' }) },
    timing: { dhcpTimeoutMs: 600_000, pxeTimeoutMs: 600_000, installTimeoutMs: 600_000, productionTimeoutMs: 600_000, attempts: 3, pollMs: POLL, bmcBackoffMs: 1000, readyCheckMs: 3_600_000 },
    maxPowerCycling: N,
    maxInstalling: N,
    tickMs: 20,
    batch: 5000,
  });

  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const rssStart = process.memoryUsage().rss;
  let rssPeak = rssStart;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
  const t0 = performance.now();
  new LifecycleActions(store).provision(names, 'bench');
  rec.start();
  const ready = store.db.prepare("SELECT count(*) FROM machines WHERE state = 'ready'").pluck();
  const failed = store.db.prepare("SELECT count(*) FROM machines WHERE state = 'failed'").pluck();
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const n = ready.get() as number;
    if (n !== last && process.stdout.isTTY) process.stdout.write(`\r  ${n} of ${N} ready, ${rec.transitions} transitions`);
    last = n;
    if (n + (failed.get() as number) >= N) break;
    if (performance.now() - t0 > 600_000) throw new Error('not all ready within 10 minutes');
  }
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  clearInterval(reporter);
  await rec.stop();
  const lat = [...rec.latencies].sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  const size = ['ironbay.db', 'ironbay.db-wal'].map((f) => join(dir, f)).filter(existsSync).reduce((a, f) => a + statSync(f).size, 0);
  const events = store.db.prepare("SELECT count(*) FROM events WHERE kind = 'machine.state'").pluck().get() as number;
  console.log(`\n\n## Lifecycle at scale: ${N} machines provisioned to ready (fake BMC and boot, real reconciler and store), poll ${POLL} ms\n`);
  console.log('| measure | value | target |');
  console.log('|---|---|---|');
  console.log(`| machines ready / failed | ${ready.get() as number} / ${failed.get() as number} | all ready |`);
  console.log(`| state transitions (each with its event) | ${rec.transitions} (${events} events) | 6 per machine |`);
  console.log(`| wall time | ${seconds.toFixed(1)} s | |`);
  console.log(`| transitions/s | ${Math.round(rec.transitions / seconds)} | ≥ 2,000 (${(rec.transitions / seconds / 2000).toFixed(2)}×) |`);
  console.log(`| reconcile latency p50 / p99 (due → written) | ${q(0.5)} / ${q(0.99)} ms | |`);
  console.log(`| database + WAL | ${(size / 1048576).toFixed(1)} MB | |`);
  console.log(`| RSS at start / peak | ${(rssStart / 1048576).toFixed(0)} / ${(rssPeak / 1048576).toFixed(0)} MB | < 300 MB |`);
  store.close();
}
