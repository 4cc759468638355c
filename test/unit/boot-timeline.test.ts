import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { bootTimeline, FLUSH_ROWS, flushBootStages, recordBootStage, recordMachineStage, segmentTimeline, STAGES_KEPT } from '../../daemon/boot/timeline.ts';
import { startBoot } from '../../daemon/boot/sessions.ts';
import { inventoryService } from '../../daemon/inventory/service.ts';
import { Store } from '../../daemon/store/db.ts';
import { smallInventory } from '../helpers/app.ts';

describe('boot timeline', () => {
  let dir: string;
  let store: Store;
  const clock = Date.parse('2026-01-01T00:00:00Z');
  const id = (name: string): number => store.db.prepare('SELECT id FROM machines WHERE name = ?').pluck().get(name) as number;
  const count = (): number => store.db.prepare('SELECT count(*) FROM boot_stages').pluck().get() as number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ironbay-timeline-'));
    store = Store.open(join(dir, 'ironbay.db'), { now: () => new Date(clock) });
    writeFileSync(join(dir, 'inventory.yaml'), smallInventory(3));
    await inventoryService(store, join(dir, 'inventory.yaml'), pino({ level: 'silent' })).reload('test');
  });
  after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('stages are queued and written in one batch; any MAC spelling finds the machine; unknown and malformed MACs record nothing and never throw', () => {
    recordBootStage(store, { mac: '52:54:00:00:10:00', stage: 'dhcp-discover', at: clock });
    recordBootStage(store, { mac: '52-54-00-00-10-00', stage: 'dhcp-offer', detail: '198.51.100.10', at: clock + 1 });
    recordBootStage(store, { mac: '52:54:00:99:99:99', stage: 'dhcp-discover' });
    recordBootStage(store, { mac: 'not a mac', stage: 'dhcp-discover' });
    assert.equal(count(), 0, 'nothing written before the flush');
    flushBootStages(store);
    assert.equal(count(), 2);
    const t = bootTimeline(store, id('w-000'));
    assert.deepEqual(
      t.entries.map((e) => [e.stage, e.detail, e.offsetMs]),
      [
        ['dhcp-discover', null, 0],
        ['dhcp-offer', '198.51.100.10', 1],
      ],
    );
  });

  test('a boot storm: 10,000 clients × 3 packets (a third of them unknown) are written in batches of FLUSH_ROWS', () => {
    const before = count();
    for (let i = 0; i < 10_000; i++) {
      const hex = (i % 3).toString(16).padStart(2, '0');
      const mac = i % 3 === 2 ? `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` : `52:54:00:00:10:${hex}`;
      for (const stage of ['dhcp-discover', 'dhcp-offer', 'dhcp-ack'] as const) recordBootStage(store, { mac, stage });
    }
    const known = 6_667 * 3; // i % 3 is 0 or 1 for 6,667 of the 10,000 clients
    // Batches were written as the queue filled; at most one batch waits for the flush.
    assert.ok(count() - before >= known - FLUSH_ROWS);
    flushBootStages(store);
    assert.equal(count() - before, known);
  });

  test('a timeline is the newest boot: back to the previous boot, forward to now (installer DHCP, a reboot without a script yet)', () => {
    const rows = [
      // newest first, as the query returns them
      { stage: 'dhcp-discover', detail: null, boot_id: null, at: 900 }, // rebooted, no script yet
      { stage: 'report', detail: 'installed', boot_id: 8, at: 800 },
      { stage: 'dhcp-discover', detail: 'installer', boot_id: null, at: 700 },
      { stage: 'initrd', detail: null, boot_id: 8, at: 600 },
      { stage: 'kernel', detail: null, boot_id: 8, at: 500 },
      { stage: 'script', detail: null, boot_id: 8, at: 400 },
      { stage: 'dhcp-ack', detail: null, boot_id: null, at: 300 },
      { stage: 'tftp', detail: 'undionly.kpxe', boot_id: null, at: 200 },
      { stage: 'report', detail: 'failed', boot_id: 7, at: 100 },
      { stage: 'script', detail: null, boot_id: 7, at: 50 },
    ];
    const t = segmentTimeline(rows, false);
    assert.equal(t.bootId, 8);
    assert.deepEqual(
      t.entries.map((e) => `${e.offsetMs} ${e.stage}`),
      ['0 tftp', '100 dhcp-ack', '200 script', '300 kernel', '400 initrd', '500 dhcp-discover', '600 report', '700 dhcp-discover'],
    );
    assert.equal(t.truncated, false);
    assert.equal(segmentTimeline(rows.slice(0, 1), true).truncated, true, 'a full window without a boundary is truncated');
    assert.deepEqual(segmentTimeline([], false), { bootId: null, startedAt: null, entries: [], truncated: false });
  });

  test('a new boot prunes a machine to its newest STAGES_KEPT stages', () => {
    const m = id('w-002');
    for (let i = 0; i < STAGES_KEPT + 50; i++) recordMachineStage(store, { machineId: m, stage: 'dhcp-discover', at: clock + i });
    flushBootStages(store);
    const { bootId } = startBoot(store, { machineId: m, action: 'hold', profile: null, withToken: false, detail: 'hold: test' });
    flushBootStages(store);
    const n = store.db.prepare('SELECT count(*) FROM boot_stages WHERE machine_id = ?').pluck().get(m) as number;
    assert.ok(n <= STAGES_KEPT + 1, `${n} stages kept`);
    assert.equal(bootTimeline(store, m).entries.at(-1)?.bootId, bootId);
  });

  test('a closed store drops queued stages quietly', () => {
    const s = Store.open(':memory:');
    recordMachineStage(s, { machineId: 1, stage: 'script' });
    s.close();
    assert.doesNotThrow(() => flushBootStages(s));
  });
});
