// Who is asking for a script, and what their profile says. Statements are prepared once;
// the profiles are parsed again only when the applied inventory changes (its hash), not on
// every script of a 10,000-machine boot storm.
//
// A machine is found by MAC (machine_macs), else by SMBIOS UUID or serial number. Neither of
// those is an inventory field: they are matched against what ironbay has observed of the
// machine (`observed.uuid`, `observed.serial`, set by discovery) and against the labels
// `uuid` / `serial` an operator may set in the inventory.
import type { Statement } from 'better-sqlite3';
import type { Profile } from '../../inventory/schema.ts';
import type { Store } from '../store/db.ts';
import type { MachineState } from '../store/machines.ts';
import type { BootMachineView } from './decide.ts';

export interface BootMachine extends BootMachineView {
  id: number;
}

export interface BootLookup {
  byMac(mac: string): BootMachine | undefined;
  byHardwareId(kind: 'uuid' | 'serial', value: string): BootMachine | undefined;
  profile(name: string): Profile | undefined;
  /** The machine owning a lease on this boot-network address, for fetches outside a boot session. */
  macOfAddress(address: string): string | undefined;
}

interface Row {
  id: number;
  name: string;
  state: MachineState;
  state_reason: string | null;
  profile: string | null;
}

const view = (r: Row | undefined): BootMachine | undefined => r && { id: r.id, name: r.name, state: r.state, stateReason: r.state_reason, profile: r.profile };

export function bootLookup(store: Store): BootLookup {
  const byMac = store.db.prepare(
    'SELECT m.id, m.name, m.state, m.state_reason, m.profile FROM machine_macs x JOIN machines m ON m.id = x.machine_id WHERE x.mac = ?',
  );
  // A scan with json_extract: UUID/serial lookups are the fallback for firmware that cannot
  // say its MAC, rare enough that an index (and a migration for it) is not worth it.
  const byHw = (path: string): Statement =>
    store.db.prepare(
      `SELECT id, name, state, state_reason, profile FROM machines WHERE state <> 'retired' AND (lower(json_extract(observed, '$.${path}')) = ? OR lower(json_extract(spec, '$.labels.${path}')) = ?) ORDER BY id LIMIT 1`,
    );
  const byUuid = byHw('uuid');
  const bySerial = byHw('serial');
  const inventoryHash = store.db.prepare('SELECT hash FROM inventory_state WHERE id = 1').pluck();
  const profilesJson = store.db.prepare("SELECT json_extract(sections, '$.profiles') FROM inventory_state WHERE id = 1").pluck();
  const leaseMac = store.db.prepare("SELECT mac FROM leases WHERE address = ? AND state IN ('offered', 'bound')").pluck();
  let cached: { hash: string | null; profiles: Map<string, Profile> } | undefined;

  return {
    byMac: (mac) => view(byMac.get(mac) as Row | undefined),
    byHardwareId: (kind, value) => {
      const v = value.trim().toLowerCase();
      if (!v) return undefined;
      return view((kind === 'uuid' ? byUuid : bySerial).get(v, v) as Row | undefined);
    },
    profile(name) {
      const hash = inventoryHash.get() as string | null;
      if (cached?.hash !== hash) {
        const json = profilesJson.get() as string | null;
        const list = json ? (JSON.parse(json) as Profile[]) : [];
        cached = { hash, profiles: new Map(list.map((p) => [p.name, p])) };
      }
      return cached.profiles.get(name);
    },
    macOfAddress: (address) => leaseMac.get(address) as string | undefined,
  };
}
