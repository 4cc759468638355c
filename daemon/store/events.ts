// Reading the append-only event log (writing is Store.appendEvent, inside transactions).
import type { EventRow, Store } from './db.ts';

export interface EventFilter {
  machine?: string;
  kind?: string;
  actor?: string;
  /** Only events with id greater than this. */
  after?: number;
  limit?: number;
}

interface Row {
  id: number;
  time: string;
  actor: string;
  machine: string | null;
  kind: string;
  details: string;
}

export const MAX_EVENT_PAGE = 1000;

/** Newest last. Without `after`, the newest `limit` events. */
export function listEvents(store: Store, f: EventFilter = {}): EventRow[] {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (f.machine) {
    where.push('m.name = ?');
    args.push(f.machine);
  }
  if (f.kind) {
    // `machine.` matches every machine.* kind; an exact kind matches itself.
    if (f.kind.endsWith('.')) {
      where.push('e.kind >= ? AND e.kind < ?');
      args.push(f.kind, f.kind.slice(0, -1) + '/');
    } else {
      where.push('e.kind = ?');
      args.push(f.kind);
    }
  }
  if (f.actor) {
    where.push('e.actor = ?');
    args.push(f.actor);
  }
  if (f.after !== undefined) {
    where.push('e.id > ?');
    args.push(f.after);
  }
  const limit = Math.min(Math.max(f.limit ?? 100, 1), MAX_EVENT_PAGE);
  const order = f.after !== undefined ? 'ASC' : 'DESC';
  const sql =
    'SELECT e.id, e.time, e.actor, m.name AS machine, e.kind, e.details FROM events e LEFT JOIN machines m ON m.id = e.machine_id ' +
    `${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY e.id ${order} LIMIT ${limit}`;
  const rows = (store.db.prepare(sql).all(...args) as Row[]).map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
  return order === 'DESC' ? rows.reverse() : rows;
}
