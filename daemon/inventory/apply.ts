// Applying a validated inventory: one transaction, one event per change. A machine that
// leaves the file is retired, never deleted: its history stays queryable.
//
// Machines are diffed against their rows: spec holds the entry as JSON.stringify wrote it,
// so for an unchanged machine one native stringify and one string comparison decide. Only
// when the strings differ is the entry compared key-order-blind (canonicalJson), so that
// reordering keys in the file is not a change. The small sections are diffed against the
// copy kept in inventory_state. Nothing re-reads or re-writes the whole inventory per edit.
import { canonicalJson } from '../lib/canonical-json.ts';
import { diffNamed, emptyInventory, fieldChanges, isEmptyDiff, type InventoryDiff, type Section, type SectionDiff } from '../../inventory/diff.ts';
import type { Machine, NormalizedInventory } from '../../inventory/schema.ts';
import type { SourceError } from '../lib/yaml-source.ts';
import type { Store } from '../store/db.ts';

export interface ApplyMeta {
  file: string;
  hash: string;
  actor: string;
}

export interface ApplySummary {
  changed: boolean;
  diff: InventoryDiff;
}

type Sections = Omit<NormalizedInventory, 'machines'>;

export interface InventoryStatus {
  file: string | null;
  hash: string | null;
  appliedAt: string | null;
  lastError: SourceError[] | null;
  lastErrorAt: string | null;
}

export function inventoryStatus(store: Store): InventoryStatus {
  const r = store.db.prepare('SELECT file, hash, applied_at, last_error, last_error_at FROM inventory_state WHERE id = 1').get() as {
    file: string | null;
    hash: string | null;
    applied_at: string | null;
    last_error: string | null;
    last_error_at: string | null;
  };
  return {
    file: r.file,
    hash: r.hash,
    appliedAt: r.applied_at,
    lastError: r.last_error ? (JSON.parse(r.last_error) as SourceError[]) : null,
    lastErrorAt: r.last_error_at,
  };
}

function appliedSections(store: Store): Sections {
  const r = store.db.prepare('SELECT sections FROM inventory_state WHERE id = 1').get() as { sections: string | null };
  if (!r.sections) {
    const { machines: _, ...empty } = emptyInventory();
    return empty;
  }
  return JSON.parse(r.sections) as Sections;
}

/** The running inventory, rebuilt from the store (machines in name order). */
export function appliedInventory(store: Store): NormalizedInventory {
  const specs = store.db.prepare("SELECT spec FROM machines WHERE state <> 'retired' ORDER BY name").pluck().all() as string[];
  return { ...appliedSections(store), machines: specs.map((s) => JSON.parse(s) as Machine) };
}

const SECTION_EVENT: Record<Exclude<Section, 'machines'>, string> = {
  profiles: 'profile',
  bootNetworks: 'network.boot',
  productionNetworks: 'network.production',
  clusters: 'cluster',
};

interface Row {
  id: number;
  name: string;
  spec: string;
  state: string;
}

export function applyInventory(store: Store, inv: NormalizedInventory, meta: ApplyMeta): ApplySummary {
  return store.tx(() => {
    const db = store.db;
    const now = store.timestamp();
    const actor = meta.actor;
    const rows = new Map((db.prepare('SELECT id, name, spec, state FROM machines').all() as Row[]).map((r) => [r.name, r]));

    const delMacs = db.prepare('DELETE FROM machine_macs WHERE machine_id = ?');
    const addMac = db.prepare('INSERT INTO machine_macs (mac, machine_id) VALUES (?, ?)');
    const retire = db.prepare("UPDATE machines SET state = 'retired', state_reason = ?, state_since = ?, retired_at = ?, updated_at = ? WHERE id = ?");
    const update = db.prepare('UPDATE machines SET spec = ?, role = ?, zone = ?, profile = ?, updated_at = ? WHERE id = ?');
    const respell = db.prepare('UPDATE machines SET spec = ? WHERE id = ?');
    const restore = db.prepare(
      "UPDATE machines SET spec = ?, role = ?, zone = ?, profile = ?, state = 'registered', state_reason = NULL, state_since = ?, retired_at = NULL, updated_at = ? WHERE id = ?",
    );
    const insert = db.prepare(
      "INSERT INTO machines (spec, role, zone, profile, name, state, state_since, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'registered', ?, ?, ?)",
    );
    const cols = (spec: string, m: Machine) => [spec, m.role, m.zone ?? null, m.profile ?? null] as const;

    const machines: SectionDiff = { added: [], removed: [], changed: [] };
    const seen = new Set<string>();
    // MACs are released before any are claimed, so a MAC may move between machines in one edit.
    const claims: [number, Machine][] = [];
    const later: (() => void)[] = [];
    for (const m of inv.machines) {
      seen.add(m.name);
      const spec = JSON.stringify(m);
      const row = rows.get(m.name);
      if (!row) {
        machines.added.push(m.name);
        later.push(() => {
          const id = Number(insert.run(...cols(spec, m), m.name, now, now, now).lastInsertRowid);
          store.appendEvent({ actor, kind: 'machine.added', machineId: id, details: { role: m.role, zone: m.zone ?? null, macs: m.macs } });
          claims.push([id, m]);
        });
      } else if (row.state === 'retired') {
        // Back in the file after being retired: the same machine, its history continues.
        machines.added.push(m.name);
        restore.run(...cols(spec, m), now, now, row.id);
        store.appendEvent({ actor, kind: 'machine.restored', machineId: row.id, details: { fields: fieldChanges(JSON.parse(row.spec), m) } });
        claims.push([row.id, m]);
      } else if (row.spec !== spec) {
        const before = JSON.parse(row.spec) as Machine;
        if (canonicalJson(before) === canonicalJson(m)) {
          // Same entry, keys written in another order: keep the new spelling for the fast path.
          respell.run(spec, row.id);
          continue;
        }
        const fields = fieldChanges(before, m);
        machines.changed.push({ name: m.name, fields });
        update.run(...cols(spec, m), now, row.id);
        if (canonicalJson(before.macs) !== canonicalJson(m.macs)) {
          delMacs.run(row.id);
          claims.push([row.id, m]);
        }
        store.appendEvent({ actor, kind: 'machine.changed', machineId: row.id, details: { fields } });
      }
    }
    for (const row of rows.values()) {
      if (row.state === 'retired' || seen.has(row.name)) continue;
      machines.removed.push(row.name);
      delMacs.run(row.id);
      retire.run('removed from the inventory', now, now, now, row.id);
      store.appendEvent({ actor, kind: 'machine.retired', machineId: row.id, details: { reason: 'removed from the inventory file', file: meta.file } });
    }
    for (const f of later) f();
    for (const [id, m] of claims) for (const mac of m.macs) addMac.run(mac, id);

    const { machines: _, ...sections } = inv;
    const before = appliedSections(store);
    const diff: InventoryDiff = {
      machines,
      profiles: diffNamed(before.profiles, sections.profiles),
      bootNetworks: diffNamed(before.networks.boot, sections.networks.boot),
      productionNetworks: diffNamed(before.networks.production, sections.networks.production),
      clusters: diffNamed(before.clusters, sections.clusters),
    };
    for (const [section, prefix] of Object.entries(SECTION_EVENT) as [Exclude<Section, 'machines'>, string][]) {
      const d = diff[section];
      for (const name of d.added) store.appendEvent({ actor, kind: `${prefix}.added`, details: { name } });
      for (const c of d.changed) store.appendEvent({ actor, kind: `${prefix}.changed`, details: { name: c.name, fields: c.fields } });
      for (const name of d.removed) store.appendEvent({ actor, kind: `${prefix}.removed`, details: { name } });
    }

    db.prepare('UPDATE inventory_state SET file = ?, hash = ?, applied_at = ?, sections = ?, last_error = NULL, last_error_at = NULL WHERE id = 1').run(
      meta.file,
      meta.hash,
      now,
      JSON.stringify(sections),
    );
    store.appendEvent({
      actor,
      kind: 'inventory.applied',
      details: {
        file: meta.file,
        hash: meta.hash,
        machineCount: inv.machines.length,
        ...Object.fromEntries(Object.entries(diff).map(([s, d]) => [s, { added: d.added.length, changed: d.changed.length, removed: d.removed.length }])),
      },
    });
    return { changed: !isEmptyDiff(diff), diff };
  });
}

/** A rejected edit: the last good inventory keeps running; the errors are kept for the API. */
export function recordInventoryError(store: Store, file: string, errors: SourceError[], actor: string): void {
  store.tx(() => {
    store.db.prepare('UPDATE inventory_state SET last_error = ?, last_error_at = ? WHERE id = 1').run(JSON.stringify(errors), store.timestamp());
    store.appendEvent({ actor, kind: 'inventory.rejected', details: { file, errors: errors.slice(0, 50), errorCount: errors.length } });
  });
}
