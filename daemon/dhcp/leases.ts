// The lease book: which address each client holds, in SQLite, decided inside one
// transaction per request so that a crash (kill -9) between two steps can never leave an
// address with two holders — the table's primary key is the address.
//
// Lifecycle of an address (RFC 2131 §3.1, §4.3):
//   free ─DISCOVER→ offered (held OFFER_HOLD_MS for that client) ─REQUEST→ bound (lease time)
//   bound ─RELEASE→ released (free again)      bound/offered ─expiry→ free again
//   any ─DECLINE→ declined (someone else answers ARP for it: quarantined DECLINE_QUARANTINE_MS)
// A released or expired address goes back to its last client first (RFC 2131 §4.3.1: "the
// client's previous address"), and to others only when the pool has nothing else.
import { formatIp, parseIp } from '../lib/net.ts';
import type { Statement } from 'better-sqlite3';
import type { Store } from '../store/db.ts';

/** An offer is kept for the client this long; clients REQUEST within a few seconds. */
export const OFFER_HOLD_MS = 60_000;
/** RFC 2131 §4.4.3 leaves it to the server; an hour is long enough for an operator to notice. */
export const DECLINE_QUARANTINE_MS = 3_600_000;

export interface Pool {
  start: string;
  end: string;
}

interface Row {
  address: string;
  mac: string;
  state: 'offered' | 'bound' | 'released' | 'declined';
  expires_at: number;
}

export type LeaseResult = { ok: true; address: string } | { ok: false; reason: string };

const live = (r: Row, now: number): boolean => (r.state === 'offered' || r.state === 'bound' || r.state === 'declined') && r.expires_at > now;

export class LeaseBook {
  private readonly store: Store;
  // Prepared once: every DHCP request goes through these.
  private readonly byAddress: Statement;
  private readonly byMac: Statement;
  private readonly all: Statement;
  private readonly upsert: Statement;

  constructor(store: Store) {
    this.store = store;
    const db = store.db;
    this.byAddress = db.prepare('SELECT address, mac, state, expires_at FROM leases WHERE address = ?');
    this.byMac = db.prepare('SELECT address, mac, state, expires_at FROM leases WHERE mac = ? ORDER BY expires_at DESC');
    this.all = db.prepare('SELECT address, mac, state, expires_at FROM leases');
    this.upsert = db.prepare(
      'INSERT INTO leases (address, mac, client_id, state, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (address) DO UPDATE SET mac = excluded.mac, client_id = coalesce(excluded.client_id, client_id), state = excluded.state, ' +
        'expires_at = excluded.expires_at, updated_at = excluded.updated_at',
    );
  }

  /**
   * An address to offer `mac`: its static address when it has one, else the address it holds
   * or last held, else the lowest free pool address. Holds it for OFFER_HOLD_MS.
   */
  offer(mac: string, now: number, opts: { staticAddress?: string; pool?: Pool; requested?: string; clientId?: string }): LeaseResult {
    return this.store.tx(() => {
      const address = opts.staticAddress ?? this.pick(mac, now, opts.pool, opts.requested);
      if (!address) return { ok: false, reason: `the pool ${opts.pool ? `${opts.pool.start}-${opts.pool.end} ` : ''}has no free address` };
      const held = this.row(address);
      if (held && held.mac !== mac && live(held, now)) {
        return { ok: false, reason: `${address} is held by ${held.mac} until ${new Date(held.expires_at).toISOString()}` };
      }
      // An offer never shortens a bound lease the client already has on this address.
      const keep = held && held.mac === mac && held.state === 'bound' && held.expires_at > now + OFFER_HOLD_MS;
      if (!keep) this.write(address, mac, 'offered', now + OFFER_HOLD_MS, now, opts.clientId);
      return { ok: true, address };
    });
  }

  /** REQUEST: bind `address` to `mac` for `leaseMs`, or say why not (the server then NAKs). */
  commit(mac: string, address: string, leaseMs: number, now: number, clientId?: string): LeaseResult {
    return this.store.tx(() => {
      const held = this.row(address);
      if (held && held.mac !== mac && live(held, now)) return { ok: false, reason: `${address} is held by ${held.mac}` };
      this.write(address, mac, 'bound', now + leaseMs, now, clientId);
      return { ok: true, address };
    });
  }

  /** RELEASE: only the holder can release an address (RFC 2131 §4.4.6). */
  release(mac: string, address: string, now: number): boolean {
    return this.store.tx(() => {
      const held = this.row(address);
      if (held?.mac !== mac || held.state === 'declined') return false;
      this.write(address, mac, 'released', now, now);
      return true;
    });
  }

  /** DECLINE: the client found the address in use on the wire; keep it out of the pool for a while. */
  decline(mac: string, address: string, now: number): boolean {
    return this.store.tx(() => {
      const held = this.row(address);
      if (held && held.mac !== mac) return false;
      this.write(address, mac, 'declined', now + DECLINE_QUARANTINE_MS, now);
      return true;
    });
  }

  /** The live lease of `mac`, if any. */
  current(mac: string, now: number): { address: string; state: Row['state']; expiresAt: number } | undefined {
    const rows = this.byMac.all(mac) as Row[];
    const r = rows.find((x) => x.state !== 'declined' && live(x, now));
    return r && { address: r.address, state: r.state, expiresAt: r.expires_at };
  }

  private row(address: string): Row | undefined {
    return this.byAddress.get(address) as Row | undefined;
  }

  private write(address: string, mac: string, state: Row['state'], expiresAt: number, now: number, clientId?: string): void {
    this.upsert.run(address, mac, clientId ?? null, state, expiresAt, new Date(now).toISOString());
  }

  private pick(mac: string, now: number, pool: Pool | undefined, requested: string | undefined): string | undefined {
    if (!pool) return undefined;
    const lo = parseIp(pool.start)!.value;
    const hi = parseIp(pool.end)!.value;
    const inPool = (a: string): boolean => {
      const v = parseIp(a)?.value;
      return v !== undefined && v >= lo && v <= hi;
    };
    const rows = this.all.all() as Row[];
    const taken = new Set(rows.filter((r) => live(r, now) && r.mac !== mac).map((r) => r.address));
    // 1. What this client holds or held last (its previous address), if still in the pool.
    const own = rows.filter((r) => r.mac === mac && r.state !== 'declined' && inPool(r.address)).sort((a, b) => b.expires_at - a.expires_at)[0];
    if (own && !taken.has(own.address)) return own.address;
    // 2. The address it asks for (option 50), when free and in the pool.
    if (requested && inPool(requested) && !taken.has(requested) && !rows.some((r) => r.address === requested && r.state === 'declined' && live(r, now))) {
      return requested;
    }
    // 3. The lowest never-used address, then the least recently used ended one — so an
    //    address someone else held last is handed out as late as possible.
    const used = new Map(rows.map((r) => [r.address, r]));
    for (let v = lo; v <= hi; v++) {
      const a = formatIp({ family: 4, value: v });
      if (!used.has(a)) return a;
    }
    const ended = rows.filter((r) => inPool(r.address) && !live(r, now)).sort((a, b) => a.expires_at - b.expires_at)[0];
    return ended?.address;
  }
}
