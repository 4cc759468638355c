// Applying a validated inventory: one transaction, one event per change. A machine that
// leaves the file is retired, never deleted: its history stays queryable.
//
// Machines are diffed against their rows (spec holds the entry as JSON.stringify wrote it,
// so for an unchanged machine one string comparison decides); the small sections against
// the copy kept in inventory_state. Nothing re-reads or re-writes the whole inventory per edit.
import { canonicalJson } from '../lib/canonical-json.ts';
import { diffNamed, emptyInventory, fieldChanges, isEmptyDiff, type FieldChange, type InventoryDiff, type Section, type SectionDiff } from '../../inventory/diff.ts';
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

/** The applied networks, profiles and clusters (the small sections, kept as one JSON document). */
export function appliedSections(store: Store): Sections {
  const r = store.db.prepare('SELECT sections FROM inventory_state WHERE id = 1').get() as { sections: string | null };
  if (!r.sections) {
    const { machines: _, ...empty } = emptyInventory();
    return empty;
  }
  return JSON.parse(r.sections) as Sections;
}

/** How many entries each section of the running inventory has, without parsing machine specs. */
export function inventoryCounts(store: Store): Record<Section, number> {
  const s = appliedSections(store);
  const machines = store.db.prepare("SELECT count(*) FROM machines WHERE state <> 'retired'").pluck().get() as number;
  return { machines, profiles: s.profiles.length, bootNetworks: s.networks.boot.length, productionNetworks: s.networks.production.length, clusters: s.clusters.length };
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

/** A machine as apply needs it: its entry already serialised (what the machines row stores). */
export interface PreparedMachine {
  name: string;
  role: string;
  zone: string | null;
  profile: string | null;
  macs: string[];
  spec: string;
}

/**
 * A validated inventory in the form that crosses from the validating process to the daemon:
 * one string per machine instead of an object graph, which is several times cheaper to
 * transfer and leaves little behind in the daemon's heap.
 */
export interface PreparedInventory {
  sections: Sections;
  machines: PreparedMachine[];
}

export function prepareInventory(inv: NormalizedInventory): PreparedInventory {
  const { machines, ...sections } = inv;
  return {
    sections,
    machines: machines.map((m) => ({ name: m.name, role: m.role, zone: m.zone ?? null, profile: m.profile ?? null, macs: m.macs, spec: JSON.stringify(m) })),
  };
}

interface Row {
  id: number;
  name: string;
  spec: string;
  state: string;
}

type Op =
  | { op: 'add'; m: PreparedMachine }
  | { op: 'restore'; m: PreparedMachine; row: Row }
  | { op: 'change'; m: PreparedMachine; row: Row; fields: FieldChange[]; macsChanged: boolean }
  | { op: 'respell'; m: PreparedMachine; row: Row }
  | { op: 'retire'; row: Row }
  /** A machine the DHCP server discovered by its MAC, now named in the file: the row becomes it. */
  | { op: 'adopt'; m: PreparedMachine; row: Row };

interface Plan {
  diff: InventoryDiff;
  ops: Op[];
}

/**
 * What applying `inv` would change, and the row operations that do it. Machines are compared
 * with their rows by the stored spec string; only when the strings differ is the entry
 * compared key-order-blind, so that reordering keys in the file is not a change.
 */
export function planInventory(store: Store, inv: PreparedInventory): Plan {
  const rows = new Map((store.db.prepare('SELECT id, name, spec, state FROM machines').all() as Row[]).map((r) => [r.name, r]));
  const discovered = new Map(
    (
      store.db
        .prepare("SELECT mm.mac, m.id, m.name, m.spec, m.state FROM machine_macs mm JOIN machines m ON m.id = mm.machine_id WHERE m.state = 'discovered'")
        .all() as (Row & { mac: string })[]
    ).map((r) => [r.mac, r]),
  );
  const machines: SectionDiff = { added: [], removed: [], changed: [] };
  const ops: Op[] = [];
  const seen = new Set<string>();
  for (const m of inv.machines) {
    seen.add(m.name);
    const row = rows.get(m.name);
    const found = row ? undefined : m.macs.map((mac) => discovered.get(mac)).find((r) => r !== undefined);
    if (found) {
      discovered.delete(m.macs.find((mac) => discovered.get(mac) === found)!);
      machines.added.push(m.name);
      ops.push({ op: 'adopt', m, row: found });
    } else if (!row) {
      machines.added.push(m.name);
      ops.push({ op: 'add', m });
    } else if (row.state === 'retired') {
      machines.added.push(m.name);
      ops.push({ op: 'restore', m, row });
    } else if (row.spec !== m.spec) {
      const before = JSON.parse(row.spec) as Machine;
      const after = JSON.parse(m.spec) as Machine;
      if (canonicalJson(before) === canonicalJson(after)) {
        ops.push({ op: 'respell', m, row });
        continue;
      }
      const fields = fieldChanges(before, after);
      machines.changed.push({ name: m.name, fields });
      ops.push({ op: 'change', m, row, fields, macsChanged: canonicalJson(before.macs) !== canonicalJson(after.macs) });
    }
  }
  const adopted = new Set(ops.flatMap((o) => (o.op === 'adopt' ? [o.row.id] : [])));
  for (const row of rows.values()) {
    // Discovered machines were never in the file: an edit does not retire them.
    if (row.state === 'retired' || row.state === 'discovered' || seen.has(row.name) || adopted.has(row.id)) continue;
    machines.removed.push(row.name);
    ops.push({ op: 'retire', row });
  }
  const before = appliedSections(store);
  const after = inv.sections;
  return {
    ops,
    diff: {
      machines,
      profiles: diffNamed(before.profiles, after.profiles),
      bootNetworks: diffNamed(before.networks.boot, after.networks.boot),
      productionNetworks: diffNamed(before.networks.production, after.networks.production),
      clusters: diffNamed(before.clusters, after.clusters),
    },
  };
}

/** Applies a normalised inventory (tests, benchmarks); the daemon applies prepared ones. */
export function applyInventory(store: Store, inv: NormalizedInventory, meta: ApplyMeta): ApplySummary {
  return applyPrepared(store, prepareInventory(inv), meta);
}

export function applyPrepared(store: Store, inv: PreparedInventory, meta: ApplyMeta): ApplySummary {
  return store.tx(() => {
    const db = store.db;
    const now = store.timestamp();
    const actor = meta.actor;
    const { diff, ops } = planInventory(store, inv);

    const delMacs = db.prepare('DELETE FROM machine_macs WHERE machine_id = ?');
    const addMac = db.prepare('INSERT INTO machine_macs (mac, machine_id) VALUES (?, ?)');
    const retire = db.prepare("UPDATE machines SET state = 'retired', state_reason = ?, state_since = ?, retired_at = ?, updated_at = ? WHERE id = ?");
    const update = db.prepare('UPDATE machines SET spec = ?, role = ?, zone = ?, profile = ?, updated_at = ? WHERE id = ?');
    const respell = db.prepare('UPDATE machines SET spec = ? WHERE id = ?');
    const restore = db.prepare(
      "UPDATE machines SET spec = ?, role = ?, zone = ?, profile = ?, state = 'registered', state_reason = NULL, state_since = ?, retired_at = NULL, updated_at = ? WHERE id = ?",
    );
    const adopt = db.prepare(
      "UPDATE machines SET name = ?, spec = ?, role = ?, zone = ?, profile = ?, state = 'registered', state_reason = NULL, state_since = ?, updated_at = ? WHERE id = ?",
    );
    const insert = db.prepare(
      "INSERT INTO machines (spec, role, zone, profile, name, state, state_since, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'registered', ?, ?, ?)",
    );
    const cols = (m: PreparedMachine) => [m.spec, m.role, m.zone, m.profile] as const;

    // MACs are released before any are claimed, so a MAC may move between machines in one edit.
    const claims: [number, PreparedMachine][] = [];
    for (const o of ops) {
      switch (o.op) {
        case 'retire':
          delMacs.run(o.row.id);
          retire.run('removed from the inventory', now, now, now, o.row.id);
          store.appendEvent({ actor, kind: 'machine.retired', machineId: o.row.id, details: { reason: 'removed from the inventory file', file: meta.file } });
          break;
        case 'change':
          update.run(...cols(o.m), now, o.row.id);
          if (o.macsChanged) {
            delMacs.run(o.row.id);
            claims.push([o.row.id, o.m]);
          }
          store.appendEvent({ actor, kind: 'machine.changed', machineId: o.row.id, details: { fields: o.fields } });
          break;
        case 'respell':
          // Same entry, keys written in another order: keep the new spelling for the fast path.
          respell.run(o.m.spec, o.row.id);
          break;
        case 'restore':
          // Back in the file after being retired: the same machine, its history continues.
          restore.run(...cols(o.m), now, now, o.row.id);
          store.appendEvent({ actor, kind: 'machine.restored', machineId: o.row.id, details: { fields: fieldChanges(JSON.parse(o.row.spec), JSON.parse(o.m.spec)) } });
          claims.push([o.row.id, o.m]);
          break;
        case 'adopt':
          // Same row, so the discovered machine's history (its DHCP sightings) stays with it.
          delMacs.run(o.row.id);
          adopt.run(o.m.name, ...cols(o.m), now, now, o.row.id);
          store.appendEvent({ actor, kind: 'machine.registered', machineId: o.row.id, details: { from: o.row.name, macs: o.m.macs } });
          claims.push([o.row.id, o.m]);
          break;
        case 'add':
          break;
      }
    }
    for (const o of ops) {
      if (o.op !== 'add') continue;
      const id = Number(insert.run(...cols(o.m), o.m.name, now, now, now).lastInsertRowid);
      store.appendEvent({ actor, kind: 'machine.added', machineId: id, details: { role: o.m.role, zone: o.m.zone, macs: o.m.macs } });
      claims.push([id, o.m]);
    }
    for (const [id, m] of claims) for (const mac of m.macs) addMac.run(mac, id);

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
      JSON.stringify(inv.sections),
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
