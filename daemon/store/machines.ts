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

/** A machines row as SQLite returns it (the other tables join it: lifecycle/rows.ts). */
export interface MachineRow {
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

export const MACHINE_COLUMNS = 'id, name, role, zone, profile, spec, state, state_reason, state_since, observed, created_at, updated_at, retired_at';
const COLUMNS = MACHINE_COLUMNS;

export function fromRow(r: MachineRow): MachineRecord {
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

function where(f: MachineFilter): { sql: string; args: string[] } {
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
  return { sql: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}

const q = (s: string | null): string => (s === null ? 'null' : JSON.stringify(s));

/** Changes whenever any machine row is written (maintained by triggers, see migrations). */
export function machinesVersion(store: Store): number {
  return store.db.prepare("SELECT version FROM data_versions WHERE name = 'machines'").pluck().get() as number;
}

/**
 * The machine list as the API's JSON body (`{"machines":[…]}`, the MachineView shape),
 * built from the stored JSON columns without parsing and re-serialising them, row by row
 * into buffers: with 10,000 machines, parse-and-serialise was most of the cost of
 * GET /api/v1/machines, and holding all rows and one big string doubled its memory.
 */
export function listMachinesJson(store: Store, f: MachineFilter = {}): Buffer {
  const w = where(f);
  const rows = store.db
    .prepare(
      "SELECT name, role, zone, profile, json_extract(spec, '$.macs'), state, state_reason, state_since, spec, observed, created_at, updated_at, retired_at " +
        `FROM machines ${w.sql} ORDER BY name`,
    )
    .raw() // array rows are about twice as fast to fetch as objects
    .iterate(...w.args) as IterableIterator<[string, string, string | null, string | null, string, string, string | null, string, string, string, string, string, string | null]>;
  const chunks: Buffer[] = [];
  let size = 0;
  let batch = '{"machines":[';
  let first = true;
  for (const [name, role, zone, profile, macs, state, reason, since, spec, observed, created, updated, retired] of rows) {
    batch +=
      (first ? '' : ',') +
      `{"name":${q(name)},"role":${q(role)},"zone":${q(zone)},"profile":${q(profile)},"macs":${macs},"state":${q(state)},` +
      `"stateReason":${q(reason)},"stateSince":${q(since)},"spec":${spec},"observed":${observed},` +
      `"createdAt":${q(created)},"updatedAt":${q(updated)},"retiredAt":${q(retired)}}`;
    first = false;
    if (batch.length > 65536) {
      const b = Buffer.from(batch);
      chunks.push(b);
      size += b.length;
      batch = '';
    }
  }
  const last = Buffer.from(batch + ']}');
  chunks.push(last);
  return Buffer.concat(chunks, size + last.length);
}

export function getMachine(store: Store, name: string): MachineRecord | undefined {
  const row = store.db.prepare(`SELECT ${COLUMNS} FROM machines WHERE name = ?`).get(name) as MachineRow | undefined;
  return row && fromRow(row);
}

export function countByState(store: Store): Record<string, number> {
  const rows = store.db.prepare('SELECT state, count(*) AS n FROM machines GROUP BY state').all() as { state: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

/** Sets one key of a machine's observed state (what ironbay learned: BMC probe, last power state). */
export function setObserved(store: Store, machineId: number, key: string, value: unknown): void {
  store.db
    .prepare("UPDATE machines SET observed = json_set(observed, '$.' || ?, json(?)), updated_at = ? WHERE id = ?")
    .run(key, JSON.stringify(value), store.timestamp(), machineId);
}

/** Names of live machines that have a BMC, optionally of one role; in name order. */
export function machinesWithBmc(store: Store, role?: string): string[] {
  const sql = `SELECT name FROM machines WHERE retired_at IS NULL AND json_extract(spec, '$.bmc') IS NOT NULL${role ? ' AND role = ?' : ''} ORDER BY name`;
  return store.db.prepare(sql).pluck().all(...(role ? [role] : [])) as string[];
}
