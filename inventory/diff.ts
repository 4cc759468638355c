// What changes between two normalised inventories, section by section, keyed by name.
// Used both to apply an edit (one event per change) and by `ironbay inventory diff`.
import { canonicalJson } from '../daemon/lib/canonical-json.ts';
import type { NormalizedInventory } from './schema.ts';

export interface FieldChange {
  path: string;
  from?: unknown;
  to?: unknown;
}

export interface EntryChange {
  name: string;
  fields: FieldChange[];
}

export interface SectionDiff {
  added: string[];
  removed: string[];
  changed: EntryChange[];
}

export type Section = 'machines' | 'profiles' | 'bootNetworks' | 'productionNetworks' | 'clusters';
export type InventoryDiff = Record<Section, SectionDiff>;

type Named = { name: string };

export function sectionsOf(inv: NormalizedInventory): Record<Section, Named[]> {
  return {
    machines: inv.machines,
    profiles: inv.profiles,
    bootNetworks: inv.networks.boot,
    productionNetworks: inv.networks.production,
    clusters: inv.clusters,
  };
}

export const emptyInventory = (): NormalizedInventory => ({
  networks: { boot: [], production: [] },
  profiles: [],
  machines: [],
  clusters: [],
});

export function diffInventories(before: NormalizedInventory, after: NormalizedInventory): InventoryDiff {
  const a = sectionsOf(before);
  const b = sectionsOf(after);
  const out = {} as InventoryDiff;
  for (const s of Object.keys(a) as Section[]) out[s] = diffNamed(a[s], b[s]);
  return out;
}

export function isEmptyDiff(d: InventoryDiff): boolean {
  return Object.values(d).every((s) => !s.added.length && !s.removed.length && !s.changed.length);
}

export function diffNamed(before: readonly Named[], after: readonly Named[]): SectionDiff {
  const old = new Map(before.map((e) => [e.name, e]));
  const seen = new Set<string>();
  const out: SectionDiff = { added: [], removed: [], changed: [] };
  for (const e of after) {
    seen.add(e.name);
    const prev = old.get(e.name);
    if (!prev) out.added.push(e.name);
    else if (canonicalJson(prev) !== canonicalJson(e)) out.changed.push({ name: e.name, fields: fieldChanges(prev, e) });
  }
  for (const e of before) if (!seen.has(e.name)) out.removed.push(e.name);
  return out;
}

/** Leaf-level differences, as dotted paths (`bmc.address`, `macs`). Lists compare whole. */
export function fieldChanges(a: unknown, b: unknown, prefix = ''): FieldChange[] {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isMap(a) && isMap(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => fieldChanges(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  if (canonicalJson(a) === canonicalJson(b)) return [];
  const change: FieldChange = { path: prefix };
  if (a !== undefined) change.from = a;
  if (b !== undefined) change.to = b;
  return [change];
}
