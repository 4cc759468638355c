// Machine rows: desired state (the inventory entry) beside observed state and lifecycle.
import type { Machine } from '../../inventory/schema.ts';
import type { Store } from './db.ts';

export const MACHINE_STATES = [
  'discovered',
  'registered',
  'power-cycling',
  'pxe-booting',
  'installing',
  'installed',
  'rebooting',
  'ready',
  'wiping',
  'failed',
  'maintenance',
  'retired',
] as const;
export type MachineState = (typeof MACHINE_STATES)[number];

export interface MachineRecord {
  id: number;
  name: string;
  role: string;
  zone: string | null;
  profile: string | null;
  spec: Machine;
  state: MachineState;
  stateReason: string | null;
  stateSince: string;
  observed: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  retiredAt: string | null;
}

interface Row {
  id: number;
  name: string;
  role: string;
  zone: string | null;
  profile: string | null;
  spec: string;
  state: MachineState;
  state_reason: string | null;
  state_since: string;
  observed: string;
  created_at: string;
  updated_at: string;
  retired_at: string | null;
}

const COLUMNS = 'id, name, role, zone, profile, spec, state, state_reason, state_since, observed, created_at, updated_at, retired_at';

function fromRow(r: Row): MachineRecord {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    zone: r.zone,
    profile: r.profile,
    spec: JSON.parse(r.spec) as Machine,
    state: r.state,
    stateReason: r.state_reason,
    stateSince: r.state_since,
    observed: JSON.parse(r.observed) as Record<string, unknown>,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    retiredAt: r.retired_at,
  };
}

export interface MachineFilter {
  state?: string;
  role?: string;
  zone?: string;
  includeRetired?: boolean;
}

export function listMachines(store: Store, f: MachineFilter = {}): MachineRecord[] {
  const where: string[] = [];
  const args: string[] = [];
  if (f.state) {
    where.push('state = ?');
    args.push(f.state);
  } else if (!f.includeRetired) where.push("state <> 'retired'");
  if (f.role) {
    where.push('role = ?');
    args.push(f.role);
  }
  if (f.zone) {
    where.push('zone = ?');
    args.push(f.zone);
  }
  const sql = `SELECT ${COLUMNS} FROM machines ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY name`;
  return (store.db.prepare(sql).all(...args) as Row[]).map(fromRow);
}

export function getMachine(store: Store, name: string): MachineRecord | undefined {
  const row = store.db.prepare(`SELECT ${COLUMNS} FROM machines WHERE name = ?`).get(name) as Row | undefined;
  return row && fromRow(row);
}

export function countByState(store: Store): Record<string, number> {
  const rows = store.db.prepare('SELECT state, count(*) AS n FROM machines GROUP BY state').all() as { state: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}
