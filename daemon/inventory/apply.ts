// Applying a validated inventory: one transaction, one event per change. A machine that
// leaves the file is retired, never deleted: its history stays queryable.
import { canonicalJson } from '../lib/canonical-json.ts';
import { diffInventories, emptyInventory, fieldChanges, isEmptyDiff, type InventoryDiff, type Section } from '../../inventory/diff.ts';
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

export interface InventoryStatus {
  file: string | null;
  hash: string | null;
  appliedAt: string | null;
  document: NormalizedInventory | null;
  lastError: SourceError[] | null;
  lastErrorAt: string | null;
}

export function inventoryStatus(store: Store): InventoryStatus {
  const r = store.db.prepare('SELECT file, hash, applied_at, document, last_error, last_error_at FROM inventory_state WHERE id = 1').get() as {
    file: string | null;
    hash: string | null;
    applied_at: string | null;
    document: string | null;
    last_error: string | null;
    last_error_at: string | null;
  };
  return {
    file: r.file,
    hash: r.hash,
    appliedAt: r.applied_at,
    document: r.document ? (JSON.parse(r.document) as NormalizedInventory) : null,
    lastError: r.last_error ? (JSON.parse(r.last_error) as SourceError[]) : null,
    lastErrorAt: r.last_error_at,
  };
}

export function appliedInventory(store: Store): NormalizedInventory {
  const r = store.db.prepare('SELECT document FROM inventory_state WHERE id = 1').get() as { document: string | null };
  return r.document ? (JSON.parse(r.document) as NormalizedInventory) : emptyInventory();
}

const SECTION_EVENT: Record<Exclude<Section, 'machines'>, string> = {
  profiles: 'profile',
  bootNetworks: 'network.boot',
  productionNetworks: 'network.production',
  clusters: 'cluster',
};

export function applyInventory(store: Store, inv: NormalizedInventory, meta: ApplyMeta): ApplySummary {
  return store.tx(() => {
    const diff = diffInventories(appliedInventory(store), inv);
    const now = store.timestamp();
    const actor = meta.actor;
    const byName = new Map(inv.machines.map((m) => [m.name, m]));
    const db = store.db;
    const idOf = db.prepare('SELECT id, state FROM machines WHERE name = ?');
    const delMacs = db.prepare('DELETE FROM machine_macs WHERE machine_id = ?');
    const addMac = db.prepare('INSERT INTO machine_macs (mac, machine_id) VALUES (?, ?)');
    const retire = db.prepare("UPDATE machines SET state = 'retired', state_reason = ?, state_since = ?, retired_at = ?, updated_at = ? WHERE id = ?");
    const update = db.prepare('UPDATE machines SET spec = ?, role = ?, zone = ?, profile = ?, updated_at = ? WHERE id = ?');
    const restore = db.prepare(
      "UPDATE machines SET spec = ?, role = ?, zone = ?, profile = ?, state = 'registered', state_reason = NULL, state_since = ?, retired_at = NULL, updated_at = ? WHERE id = ?",
    );
    const insert = db.prepare(
      "INSERT INTO machines (spec, role, zone, profile, name, state, state_since, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'registered', ?, ?, ?)",
    );
    const cols = (m: Machine) => [canonicalJson(m), m.role, m.zone ?? null, m.profile ?? null] as const;

    // MACs are released first, so that a MAC moving between machines in one edit is legal.
    const macOwners: [number, Machine][] = [];
    for (const name of diff.machines.removed) {
      const row = idOf.get(name) as { id: number } | undefined;
      if (!row) continue;
      delMacs.run(row.id);
      retire.run('removed from the inventory', now, now, now, row.id);
      store.appendEvent({ actor, kind: 'machine.retired', machineId: row.id, details: { reason: 'removed from the inventory file', file: meta.file } });
    }
    for (const { name, fields } of diff.machines.changed) {
      const m = byName.get(name)!;
      const row = idOf.get(name) as { id: number };
      update.run(...cols(m), now, row.id);
      if (fields.some((f) => f.path === 'macs')) {
        delMacs.run(row.id);
        macOwners.push([row.id, m]);
      }
      store.appendEvent({ actor, kind: 'machine.changed', machineId: row.id, details: { fields } });
    }
    for (const name of diff.machines.added) {
      const m = byName.get(name)!;
      const row = idOf.get(name) as { id: number; state: string } | undefined;
      let id: number;
      if (row) {
        // Back in the file after being retired: same machine, history continues.
        id = row.id;
        const before = JSON.parse((db.prepare('SELECT spec FROM machines WHERE id = ?').get(id) as { spec: string }).spec) as unknown;
        restore.run(...cols(m), now, now, id);
        store.appendEvent({ actor, kind: 'machine.restored', machineId: id, details: { fields: fieldChanges(before, m) } });
      } else {
        id = Number(insert.run(...cols(m), m.name, now, now, now).lastInsertRowid);
        store.appendEvent({ actor, kind: 'machine.added', machineId: id, details: { role: m.role, zone: m.zone ?? null, macs: m.macs } });
      }
      macOwners.push([id, m]);
    }
    for (const [id, m] of macOwners) for (const mac of m.macs) addMac.run(mac, id);

    for (const [section, prefix] of Object.entries(SECTION_EVENT) as [Exclude<Section, 'machines'>, string][]) {
      const d = diff[section];
      for (const name of d.added) store.appendEvent({ actor, kind: `${prefix}.added`, details: { name } });
      for (const c of d.changed) store.appendEvent({ actor, kind: `${prefix}.changed`, details: { name: c.name, fields: c.fields } });
      for (const name of d.removed) store.appendEvent({ actor, kind: `${prefix}.removed`, details: { name } });
    }

    const changed = !isEmptyDiff(diff);
    db.prepare('UPDATE inventory_state SET file = ?, hash = ?, applied_at = ?, document = ?, last_error = NULL, last_error_at = NULL WHERE id = 1').run(
      meta.file,
      meta.hash,
      now,
      JSON.stringify(inv),
      );
    store.appendEvent({
      actor,
      kind: 'inventory.applied',
      details: {
        file: meta.file,
        hash: meta.hash,
        ...Object.fromEntries(Object.entries(diff).map(([s, d]) => [s, { added: d.added.length, changed: d.changed.length, removed: d.removed.length }])),
      },
    });
    return { changed, diff };
  });
}

/** A rejected edit: the last good inventory keeps running; the errors are kept for the API. */
export function recordInventoryError(store: Store, file: string, errors: SourceError[], actor: string): void {
  store.tx(() => {
    store.db.prepare('UPDATE inventory_state SET last_error = ?, last_error_at = ? WHERE id = 1').run(JSON.stringify(errors), store.timestamp());
    store.appendEvent({ actor, kind: 'inventory.rejected', details: { file, errors: errors.slice(0, 50), errorCount: errors.length } });
  });
}
