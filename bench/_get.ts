import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateInventory } from './generate-inventory.ts';
import { loadInventory } from '../inventory/validate.ts';
import { applyInventory } from '../daemon/inventory/apply.ts';
import { Store } from '../daemon/store/db.ts';
import { listMachinesJson } from '../daemon/store/machines.ts';
const A = loadInventory('a', generateInventory());
if (!A.ok) throw new Error('x');
const s = Store.open(join(mkdtempSync(join(tmpdir(), 'g-')), 'x.db'));
applyInventory(s, A.inventory, { file: 'a', hash: 'a', actor: 't' });
for (let i = 0; i < 6; i++) {
  let t = performance.now();
  const rows = s.db.prepare("SELECT id, name, role, zone, profile, spec, state, state_reason, state_since, observed, created_at, updated_at, retired_at, json_extract(spec, '$.macs') AS macs FROM machines WHERE state <> 'retired' ORDER BY name").all();
  const q1 = performance.now() - t; t = performance.now();
  const rows2 = s.db.prepare("SELECT id, name, role, zone, profile, spec, state, state_reason, state_since, observed, created_at, updated_at, retired_at FROM machines WHERE state <> 'retired' ORDER BY name").raw().all();
  const q2 = performance.now() - t; t = performance.now();
  const body = listMachinesJson(s);
  const q3 = performance.now() - t; t = performance.now();
  const b = Buffer.from(body);
  console.log('sql+extract', q1.toFixed(0), 'sql raw', q2.toFixed(0), 'json', q3.toFixed(0), 'buf', (performance.now() - t).toFixed(0), rows.length, rows2.length, b.length);
}
