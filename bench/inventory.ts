// Inventory scale benchmark: a generated 10,000-machine inventory through `inventory
// validate`, a full apply into an empty database, a one-machine edit on top (in process and
// end to end in the real daemon), the daemon's memory, and `GET /api/v1/machines`.
//
//   node_modules/.bin/node bench/inventory.ts        (or: npm run bench)
//
// Prints a table and writes bench/out/inventory.json. Exits 0 even when a target is missed:
// this is a measurement, not a test. Addresses are from 198.18.0.0/15 (RFC 2544, benchmark
// networks), 100.64.0.0/10 (RFC 6598) and 2001:db8::/32 (RFC 3849) only.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyInventory } from '../daemon/inventory/apply.ts';
import { Store } from '../daemon/store/db.ts';
import { loadInventory } from '../inventory/validate.ts';
import { TestDaemon, type LogLine } from '../test/helpers/daemon.ts';
import { run } from '../test/helpers/run.ts';
import { DEFAULT_MACHINES, editedMachineIndex, generateInventory, PRIVATE_RANGE } from './generate-inventory.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(REPO, 'node_modules/.bin/node');
const CLI = join(REPO, 'daemon/cli/ironbay.ts');
const OUT_DIR = join(REPO, 'bench/out');

const MACHINES = DEFAULT_MACHINES;
const REPS = { cli: 5, load: 7, fullApply: 5, edit: 9, daemonEdit: 7, get: 25, getWarmup: 2 };
/** A small inventory for the daemon's baseline memory: what 10,000 machines add is the rest. */
const BASELINE_MACHINES = 200;
const DEBOUNCE_MS = 100; // what TestDaemon writes into the daemon's config

// ---------------------------------------------------------------------------------------
// Measurement helpers

interface Stats {
  n: number;
  median: number;
  min: number;
  max: number;
  p95: number;
  samples: number[];
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { n: s.length, median, min: s[0]!, max: s[s.length - 1]!, p95: at(0.95), samples: samples.map(round) };
}

const round = (x: number): number => Math.round(x * 10) / 10;

type Unit = 'ms' | 'MB' | 'KB' | 'count';

interface Result {
  key: string;
  measure: string;
  unit: Unit;
  stats: Stats;
  /** Which statistic the target is compared with. */
  on: 'median' | 'p95';
  target?: number;
  pass?: boolean;
  note?: string;
}

const results: Result[] = [];

function record(key: string, measure: string, unit: Unit, samples: number[], target?: number, on: 'median' | 'p95' = 'median', note?: string): Result {
  const st = stats(samples);
  const r: Result = { key, measure, unit, stats: st, on };
  if (target !== undefined) {
    r.target = target;
    r.pass = st[on] < target;
  }
  if (note) r.note = note;
  results.push(r);
  return r;
}

function progress(msg: string): void {
  process.stderr.write(`  · ${msg}\n`);
}

function runCliTimed(args: string[]): Promise<{ ms: number; code: number | null; stdout: string; stderr: string }> {
  return run(NODE, [CLI, ...args]);
}

function load(file: string, text: string): { ms: number; inventory: ReturnType<typeof loadOk> } {
  const t0 = performance.now();
  const inventory = loadOk(file, text);
  return { ms: performance.now() - t0, inventory };
}

function loadOk(file: string, text: string) {
  const r = loadInventory(file, text);
  if (!r.ok) throw new Error(`generated inventory is invalid (${r.errors.length} errors), first: ${JSON.stringify(r.errors.slice(0, 5))}`);
  return r.inventory;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function procStatus(pid: number): { rssMB: number; hwmMB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s);
    if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rssMB: kb('VmRSS') / 1024, hwmMB: kb('VmHWM') / 1024 };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// The benchmark

async function main(): Promise<void> {
  const started = performance.now();
  const tmp = mkdtempSync(join(tmpdir(), 'ironbay-bench-'));
  const daemons: TestDaemon[] = [];
  const onSignal = (): void => {
    for (const d of daemons) d.cleanup();
    rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const loadBefore = loadavg();
  try {
    // -- generate --------------------------------------------------------------------
    const text = generateInventory({ machines: MACHINES });
    const edited = generateInventory({ machines: MACHINES, flipEdit: true });
    for (const t of [text, edited]) {
      const m = PRIVATE_RANGE.exec(t);
      if (m) throw new Error(`generator wrote a private-range address: ${m[0]}`);
    }
    const file = join(tmp, 'inventory.yaml');
    writeFileSync(file, text);
    const first = loadInventory(file, text);
    if (!first.ok) throw new Error(`generated inventory has ${first.errors.length} errors; first: ${JSON.stringify(first.errors.slice(0, 5), null, 2)}`);
    if (first.inventory.machines.length !== MACHINES) throw new Error(`expected ${MACHINES} machines, got ${first.inventory.machines.length}`);
    const editedCheck = loadInventory(file, edited);
    if (!editedCheck.ok) throw new Error(`edited inventory has ${editedCheck.errors.length} errors`);
    const editedName = first.inventory.machines[editedMachineIndex(MACHINES)]!.name;
    const macCount = first.inventory.machines.reduce((n, m) => n + m.macs.length, 0);
    progress(`generated ${MACHINES} machines, ${macCount} MACs, ${(text.length / 1024 / 1024).toFixed(2)} MB of YAML; validates with 0 errors`);

    // -- (1) inventory validate ------------------------------------------------------
    const cliSmall: number[] = [];
    const exampleFile = join(REPO, 'inventory/example.yaml');
    for (let i = 0; i < 3; i++) {
      const r = await runCliTimed(['inventory', 'validate', exampleFile]);
      if (r.code !== 0) throw new Error(`ironbay inventory validate example.yaml failed: ${r.stderr}`);
      cliSmall.push(r.ms);
    }
    const cli: number[] = [];
    for (let i = 0; i < REPS.cli; i++) {
      const r = await runCliTimed(['inventory', 'validate', file]);
      if (r.code !== 0 || !r.stdout.includes(`valid (${MACHINES} machines`)) throw new Error(`ironbay inventory validate failed (exit ${r.code}): ${r.stdout}${r.stderr}`);
      cli.push(r.ms);
    }
    record('validate.cli', '`ironbay inventory validate` 10k, CLI wall time', 'ms', cli, 1000);
    record('validate.cliExample', '  same CLI on example.yaml (4 machines): fixed cost', 'ms', cliSmall, undefined, 'median', 'process start + imports');
    progress('CLI validate done');

    // In process: the first call in a process compiles the schema checker (as the CLI does).
    const cold = load(file, text).ms;
    const warm: number[] = [];
    for (let i = 0; i < REPS.load; i++) warm.push(load(file, text).ms);
    record('validate.loadCold', '  loadInventory 10k, first call in process (as the CLI)', 'ms', [cold]);
    record('validate.load', 'loadInventory 10k in process, warm (parse+validate)', 'ms', warm, 1000);
    progress('in-process validate done');

    // -- (2) full apply into an empty database ---------------------------------------
    const hash = sha256(text);
    const open: number[] = [];
    const parse: number[] = [];
    const apply: number[] = [];
    const total: number[] = [];
    let kept: { store: Store; dir: string } | undefined;
    for (let i = 0; i < REPS.fullApply; i++) {
      const dir = mkdtempSync(join(tmp, 'db-'));
      const t0 = performance.now();
      const store = Store.open(join(dir, 'ironbay.db'));
      const t1 = performance.now();
      const l = load(file, text);
      const t2 = performance.now();
      const summary = applyInventory(store, l.inventory, { file, hash, actor: 'bench' });
      const t3 = performance.now();
      if (summary.diff.machines.added.length !== MACHINES) throw new Error(`full apply added ${summary.diff.machines.added.length} machines`);
      open.push(t1 - t0);
      parse.push(l.ms);
      apply.push(t3 - t2);
      total.push(t3 - t1);
      if (i === REPS.fullApply - 1) kept = { store, dir };
      else {
        store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    record('fullApply.apply', 'full apply 10k into empty db: applyInventory', 'ms', apply, 3000);
    record('fullApply.parse', '  parse+validate part (loadInventory)', 'ms', parse);
    record('fullApply.total', '  parse+validate+apply', 'ms', total, 3000);
    record('fullApply.open', '  Store.open (create db, migrations)', 'ms', open);
    progress('full apply done');

    // -- (3a) one-machine edit, in process -------------------------------------------
    const store = kept!.store;
    const editParse: number[] = [];
    const editApply: number[] = [];
    const editTotal: number[] = [];
    for (let i = 0; i < REPS.edit; i++) {
      // Alternate, so that every rep is one changed field relative to what is applied.
      const t = i % 2 === 0 ? edited : text;
      const t0 = performance.now();
      const l = load(file, t);
      const t1 = performance.now();
      const summary = applyInventory(store, l.inventory, { file, hash: sha256(t), actor: 'bench' });
      const t2 = performance.now();
      const d = summary.diff.machines;
      if (d.changed.length !== 1 || d.added.length || d.removed.length || d.changed[0]!.fields.length !== 1 || d.changed[0]!.name !== editedName || d.changed[0]!.fields[0]!.path !== 'profile') {
        throw new Error(`edit was not a one-field change: ${JSON.stringify(d).slice(0, 500)}`);
      }
      editParse.push(l.ms);
      editApply.push(t2 - t1);
      editTotal.push(t2 - t0);
    }
    store.close();
    rmSync(kept!.dir, { recursive: true, force: true });
    record('edit.apply', 'one-machine edit on 10k db: applyInventory', 'ms', editApply, 200);
    record('edit.total', '  parse+validate+apply (what a reload does)', 'ms', editTotal);
    record('edit.parse', '  parse+validate part', 'ms', editParse);
    progress('in-process edit done');

    // -- daemon: start with 10k, GET /machines, RSS, edit end to end -----------------
    const startT0 = performance.now();
    const d = await TestDaemon.start({ inventory: text, logLevel: 'info' });
    daemons.push(d);
    const startMs = performance.now() - startT0;
    const startApply = await d.waitForLog((l) => l.msg === 'inventory applied');
    if (startApply.machines !== `+${MACHINES} ~0 -0`) throw new Error(`daemon start apply: ${JSON.stringify(startApply)}`);
    record('daemon.start', 'daemon start with 10k (spawn → "ironbay started")', 'ms', [startMs]);
    record('daemon.startApply', '  daemon\'s own "inventory applied" ms at start (full)', 'ms', [Number(startApply.ms)]);
    progress(`daemon up (pid ${d.proc.pid ?? '?'}) at ${d.url}`);

    const get = async (): Promise<{ ms: number; status: number; bytes: Uint8Array }> => {
      const t0 = performance.now();
      const res = await fetch(`${d.url}/api/v1/machines`, { headers: { authorization: `Bearer ${d.token}` } });
      const bytes = new Uint8Array(await res.arrayBuffer());
      return { ms: performance.now() - t0, status: res.status, bytes };
    };
    const firstGet = await get();
    if (firstGet.status !== 200) throw new Error(`GET /api/v1/machines: ${firstGet.status} ${new TextDecoder().decode(firstGet.bytes.slice(0, 500))}`);
    const body = JSON.parse(new TextDecoder().decode(firstGet.bytes)) as { machines: { name: string }[] };
    if (body.machines.length !== MACHINES) throw new Error(`GET /api/v1/machines returned ${body.machines.length} machines, expected ${MACHINES}`);
    for (let i = 1; i < REPS.getWarmup; i++) await get();
    // The client is curl, a separate process, as an operator's script would be: this
    // process holds several 10,000-machine inventories and its GC pauses would be counted.
    const curlGet = async (): Promise<number> => {
      const r = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', '-H', `authorization: Bearer ${d.token}`, `${d.url}/api/v1/machines`]);
      const [code, secs] = r.stdout.trim().split(' ');
      if (code !== '200') throw new Error(`GET /api/v1/machines (curl): ${r.stdout} ${r.stderr}`);
      return Number(secs) * 1000;
    };
    const getMs: number[] = [];
    for (let i = 0; i < REPS.get; i++) getMs.push(await curlGet());
    record('get.latency', 'GET /api/v1/machines (10k), curl, sequential, median', 'ms', getMs, 100, 'median');
    record('get.latencyP95', 'GET /api/v1/machines (10k), curl, p95', 'ms', getMs, 100, 'p95');
    const fetchMs: number[] = [];
    for (let i = 0; i < REPS.get; i++) fetchMs.push((await get()).ms);
    record('get.fetch', '  same from this process with fetch, median', 'ms', fetchMs);
    record('get.first', '  first request after start', 'ms', [firstGet.ms]);
    record('get.size', '  response size (10,000 machines checked)', 'MB', [firstGet.bytes.length / 1024 / 1024]);
    progress('GET /machines done');

    const mem = procStatus(d.proc.pid!);
    record('daemon.rss', 'daemon VmRSS, 10k applied, after GETs', 'MB', [mem.rssMB], 150);
    record('daemon.hwm', '  daemon VmHWM (peak RSS so far)', 'MB', [mem.hwmMB], undefined, 'median', 'peak includes the start apply and GET bursts');

    // Edit end to end: write the file as an editor does (temp file + rename), time until
    // the daemon logs the apply. Includes the watcher's debounce.
    const e2e: number[] = [];
    const daemonMs: number[] = [];
    for (let i = 0; i < REPS.daemonEdit; i++) {
      const t = i % 2 === 0 ? edited : text;
      const from = d.logs.length;
      const tmpFile = `${d.inventoryFile}.tmp`;
      writeFileSync(tmpFile, t);
      const t0 = performance.now();
      renameSync(tmpFile, d.inventoryFile);
      const line: LogLine = await d.waitForLog((l) => l.msg === 'inventory applied' || l.msg.startsWith('inventory rejected'), 30_000, from);
      const ms = performance.now() - t0;
      if (line.msg !== 'inventory applied' || line.machines !== '+0 ~1 -0') throw new Error(`daemon edit: ${JSON.stringify(line)}`);
      e2e.push(ms);
      daemonMs.push(Number(line.ms));
      await sleep(250); // let the watcher settle; no overlap between reps
    }
    record('edit.daemonMs', 'one-machine edit in daemon: its "inventory applied" ms', 'ms', daemonMs, 200);
    record('edit.e2e', '  write → "inventory applied" log line (end to end)', 'ms', e2e, undefined, 'median', `includes the ${DEBOUNCE_MS} ms watch debounce`);
    record('edit.e2eNoDebounce', `  end to end minus the ${DEBOUNCE_MS} ms debounce`, 'ms', e2e.map((x) => x - DEBOUNCE_MS));
    const memAfter = procStatus(d.proc.pid!);
    record('daemon.rssAfterEdits', '  daemon VmRSS after the edits', 'MB', [memAfter.rssMB], 150);
    record('daemon.hwmAfterEdits', '  daemon VmHWM after the edits', 'MB', [memAfter.hwmMB]);
    progress('daemon edit done');

    const code = await d.stop();
    if (code !== 0) progress(`daemon exited with ${code}`);

    // Baseline: the same daemon with a small inventory, after a GET, for scale.
    const small = await TestDaemon.start({ inventory: generateInventory({ machines: BASELINE_MACHINES }), logLevel: 'info' });
    daemons.push(small);
    await small.waitForLog((l) => l.msg === 'inventory applied');
    const smallGet = await fetch(`${small.url}/api/v1/machines`, { headers: { authorization: `Bearer ${small.token}` } });
    await smallGet.arrayBuffer();
    const smallMem = procStatus(small.proc.pid!);
    record('daemon.rssBaseline', `  baseline: daemon VmRSS with ${BASELINE_MACHINES} machines, after a GET`, 'MB', [smallMem.rssMB], undefined, 'median', 'code and runtime, no large inventory');
    await small.stop();
    progress('baseline daemon done');

    // -- report ----------------------------------------------------------------------
    const runtimeS = (performance.now() - started) / 1000;
    const loadAvg = { before: loadBefore[0]!, after: loadavg()[0]! };
    printTable(runtimeS, loadAvg);
    mkdirSync(OUT_DIR, { recursive: true });
    const json = {
      bench: 'inventory',
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cpus: cpus().length,
      machines: MACHINES,
      macs: macCount,
      yamlBytes: Buffer.byteLength(text),
      runtimeSeconds: round(runtimeS),
      loadAverage1m: { before: round(loadAvg.before), after: round(loadAvg.after) },
      results: results.map((r) => ({
        key: r.key,
        measure: r.measure.trim(),
        unit: r.unit,
        median: round(r.stats.median),
        min: round(r.stats.min),
        max: round(r.stats.max),
        p95: round(r.stats.p95),
        n: r.stats.n,
        samples: r.stats.samples,
        ...(r.target !== undefined && { target: r.target, comparedOn: r.on, pass: r.pass }),
        ...(r.note && { note: r.note }),
      })),
      missed: results.filter((r) => r.pass === false).map((r) => r.key),
    };
    writeFileSync(join(OUT_DIR, 'inventory.json'), JSON.stringify(json, null, 2) + '\n');
    console.log(`\nwrote ${join('bench/out', 'inventory.json')}`);
  } finally {
    for (const d of daemons) {
      await Promise.race([d.stop(), sleep(6_000)]).catch(() => undefined);
      d.cleanup();
    }
    rmSync(tmp, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function fmt(x: number, unit: Unit): string {
  if (unit === 'count') return String(Math.round(x));
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function printTable(runtimeS: number, loadAvg: { before: number; after: number }): void {
  const rows = results.map((r) => {
    const single = r.stats.n === 1;
    const value = r.on === 'p95' ? r.stats.p95 : r.stats.median;
    return [
      r.measure,
      `${fmt(value, r.unit)} ${r.unit}`,
      single ? '' : `${fmt(r.stats.min, r.unit)}–${fmt(r.stats.max, r.unit)}`,
      single ? '1' : String(r.stats.n),
      r.target === undefined ? '' : `< ${r.target} ${r.unit}${r.on === 'p95' ? ' (p95)' : ''}`,
      r.pass === undefined ? '' : r.pass ? 'pass' : '*** MISSED ***',
    ];
  });
  const head = ['measure', 'value', 'min–max', 'n', 'target', 'result'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 1 || i === 2 || i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  console.log(`\ninventory benchmark: ${MACHINES} machines, node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}`);
  console.log(`values are medians unless marked (p95); 1-min load average ${loadAvg.before.toFixed(1)} before, ${loadAvg.after.toFixed(1)} after (other work on the host inflates times)\n`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  const missed = results.filter((r) => r.pass === false);
  console.log(`\nbench runtime ${runtimeS.toFixed(1)} s`);
  if (missed.length) console.log(`\n*** MISSED ${missed.length} target${missed.length === 1 ? '' : 's'}: ${missed.map((r) => r.key).join(', ')} ***`);
  else console.log('\nall targets met');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
