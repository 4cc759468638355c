// kill -9 at any moment leaves a consistent database: the daemon is killed again and again
// while it applies large inventory edits, then the database is reopened and checked.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { canonicalJson } from '../../daemon/lib/canonical-json.ts';
import { loadInventory } from '../../inventory/validate.ts';
import { TestDaemon } from '../helpers/daemon.ts';

const ROUNDS = 12;

/** A large inventory whose variants differ in size, zones and MAC ownership. */
function variant(seed: number): string {
  const n = 1200 + (seed % 4) * 200;
  const lines = [
    'networks:',
    '  boot: [{ name: boot, subnet: 198.18.0.0/16 }]',
    '  production: [{ name: prod, subnet: 100.64.0.0/16, gateway: 100.64.0.1 }]',
    'profiles: [{ name: p, kernel: k, initrd: [i] }]',
    'machines:',
  ];
  for (let i = 0; i < n; i++) {
    const hi = (i + 1) >> 8;
    const lo = (i + 1) & 255;
    // Odd seeds swap the MACs of machines 0 and 1: a MAC moving between machines in one edit.
    const macOf = (k: number) => `02:00:00:00:${((k >> 8) & 255).toString(16).padStart(2, '0')}:${(k & 255).toString(16).padStart(2, '0')}`;
    const mac = seed % 2 && i < 2 ? macOf(1 - i) : macOf(i);
    lines.push(
      `  - { name: m-${i}, macs: ["${mac}"], role: worker, zone: z-${(i + seed) % 3}, profile: p, bootAddress: 198.18.${hi}.${lo},` +
        ` bmc: { driver: ipmi, address: 198.19.${hi}.${lo}, username: u, passwordEnv: P }, production: { address: 100.64.${hi}.${lo}/16 } }`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Every file the test wrote, by sha256, so the applied one can be loaded again. */
const written = new Map<string, string>();
function write(file: string, text: string): void {
  written.set(createHash('sha256').update(text).digest('hex'), text);
  writeFileSync(file, text);
}

function checkInvariants(dbFile: string): { machines: number } {
  const db = new Database(dbFile, { readonly: false });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.deepEqual(db.pragma('foreign_key_check'), []);
    const state = db.prepare('SELECT hash, sections FROM inventory_state WHERE id = 1').get() as { hash: string; sections: string };
    // The store holds exactly the file it says it applied: same machines, same entries.
    const text = written.get(state.hash);
    assert.ok(text, 'the applied hash is one of the files written');
    const loaded = loadInventory('inventory.yaml', text);
    assert.ok(loaded.ok);
    const { machines: wantMachines, ...wantSections } = loaded.inventory;
    assert.equal(canonicalJson(JSON.parse(state.sections)), canonicalJson(wantSections));
    const rows = db.prepare("SELECT name, spec FROM machines WHERE state <> 'retired' ORDER BY name").all() as { name: string; spec: string }[];
    const want = new Map(wantMachines.map((m) => [m.name, canonicalJson(m)]));
    assert.equal(rows.length, want.size);
    for (const r of rows) assert.equal(canonicalJson(JSON.parse(r.spec)), want.get(r.name), `spec of ${r.name}`);
    // MAC ownership matches the file.
    const macs = db.prepare('SELECT mac, m.name FROM machine_macs JOIN machines m ON m.id = machine_id').all() as { mac: string; name: string }[];
    const wantMacs = new Map(wantMachines.flatMap((m) => m.macs.map((mac) => [mac, m.name] as const)));
    assert.equal(macs.length, wantMacs.size);
    for (const { mac, name } of macs) assert.equal(wantMacs.get(mac), name, `owner of ${mac}`);
    // The audit trail agrees with the state: the newest apply event is for the applied file …
    const lastApply = db.prepare("SELECT details FROM events WHERE kind = 'inventory.applied' ORDER BY id DESC LIMIT 1").get() as { details: string };
    const details = JSON.parse(lastApply.details) as { hash: string; machineCount: number };
    assert.equal(details.hash, state.hash);
    assert.equal(details.machineCount, rows.length);
    // … and every machine's last lifecycle event matches whether it is retired.
    const last = db
      .prepare(
        "SELECT m.name, m.state, (SELECT kind FROM events e WHERE e.machine_id = m.id AND kind IN ('machine.added', 'machine.retired', 'machine.restored') ORDER BY e.id DESC LIMIT 1) AS kind FROM machines m",
      )
      .all() as { name: string; state: string; kind: string }[];
    for (const l of last) assert.equal(l.state === 'retired', l.kind === 'machine.retired', `${l.name}: state ${l.state}, last event ${l.kind}`);
    return { machines: rows.length };
  } finally {
    db.close();
  }
}

test(`kill -9 during inventory applies, ${ROUNDS} times: the database stays consistent`, async () => {
  written.set(createHash('sha256').update(variant(0)).digest('hex'), variant(0));
  let d = await TestDaemon.start({ inventory: variant(0), logLevel: 'info' });
  const dbFile = join(d.dir, 'data', 'ironbay.db');
  let killedMidApply = 0;
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // Keep edits coming so the kill lands at an arbitrary point of some apply.
      let seed = round * 10;
      const writer = setInterval(() => write(d.inventoryFile, variant(++seed)), 40);
      await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 700)));
      const appliesBefore = d.logs.filter((l) => l.msg === 'inventory applied').length;
      d.proc.kill('SIGKILL');
      clearInterval(writer);
      await d.exited();
      if (d.logs.filter((l) => l.msg === 'inventory applied').length === appliesBefore) killedMidApply++;
      const { machines } = checkInvariants(dbFile);
      assert.ok(machines > 0);
      written.set(createHash('sha256').update(variant(round)).digest('hex'), variant(round));
      d = new TestDaemon({ inventory: variant(round), dir: d.dir, logLevel: 'info' });
      await d.start(30_000);
    }
    // After all that, the daemon converges on the file on disk.
    await d.waitForLog((l) => l.msg === 'inventory applied', 20_000);
    const r = await d.api<{ machines: unknown[] }>('GET', '/api/v1/machines');
    assert.equal(r.body.machines.length, 1200 + (ROUNDS % 4) * 200);
    assert.equal(await d.stop(), 0);
    checkInvariants(dbFile);
    console.log(`# ${ROUNDS} kills, ${killedMidApply} of them before the pending edit was applied`);
  } finally {
    d.cleanup();
  }
});
