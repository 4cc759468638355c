// Discovery mode: an unknown MAC that takes a lease becomes a `discovered` machine, so an
// operator sees what is on the boot network and can adopt it by adding it to the inventory
// (inventory/apply.ts turns the row into the named machine, keeping its history).
import type { Statement } from 'better-sqlite3';
import type { Store } from '../store/db.ts';
import type { KnownMachine } from './view.ts';

/** The name a discovered machine gets until the inventory names it: a DNS label from its MAC. */
export function discoveredName(mac: string): string {
  return `discovered-${mac.replaceAll(':', '')}`;
}

export class DiscoveredMachines {
  private readonly store: Store;
  private readonly byName: Statement;
  private readonly insert: Statement;
  private readonly addMac: Statement;

  constructor(store: Store) {
    this.store = store;
    this.byName = store.db.prepare('SELECT id, name, state FROM machines WHERE name = ?');
    this.insert = store.db.prepare(
      "INSERT INTO machines (spec, role, zone, profile, name, state, state_reason, state_since, created_at, updated_at) VALUES (?, 'unassigned', NULL, NULL, ?, 'discovered', ?, ?, ?, ?)",
    );
    this.addMac = store.db.prepare('INSERT OR IGNORE INTO machine_macs (mac, machine_id) VALUES (?, ?)');
  }

  /** The discovered machine for `mac`, created (with its event) on first sight. Call inside a transaction. */
  register(mac: string): KnownMachine {
    const name = discoveredName(mac);
    const row = this.byName.get(name) as { id: number; name: string; state: string } | undefined;
    if (row) return { id: row.id, name: row.name, state: row.state };
    const now = this.store.timestamp();
    const spec = JSON.stringify({ name, macs: [mac] });
    const id = Number(this.insert.run(spec, name, 'leased an address on the boot network in discovery mode', now, now, now).lastInsertRowid);
    this.addMac.run(mac, id);
    this.store.appendEvent({ actor: 'dhcp', kind: 'machine.discovered', machineId: id, details: { mac } });
    return { id, name, state: 'discovered' };
  }
}
