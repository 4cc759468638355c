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
//
// The table is the truth; the book also keeps it in memory (the daemon is its only writer),
// so that choosing a free address during a 10,000-client storm is a map lookup and a cursor
// rather than a scan. Every write goes to both inside the caller's transaction; when a
// transaction fails the caller calls reload() and memory is rebuilt from the table.
//
// Offers live in memory only: an offer promises nothing (RFC 2131 §4.3.1 — the address is
// the client's only after the ACK), so a restart that forgets one costs the client a NAK
// and a new DISCOVER, never an address with two holders; bound leases and declines are
// written before the reply. That halves the writes of a boot storm.
import type { Statement } from 'better-sqlite3';
import { fromIp4, ip4 } from '../lib/net.ts';
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

export function poolContains(pool: Pool, address: string): boolean {
  const v = ip4(address);
  return v >= ip4(pool.start) && v <= ip4(pool.end);
}

export type LeaseResult = { ok: true; address: string } | { ok: false; reason: string };

const live = (r: Row, now: number): boolean => (r.state === 'offered' || r.state === 'bound' || r.state === 'declined') && r.expires_at > now;

export class LeaseBook {
  private readonly store: Store;
  // Prepared once: every DHCP request goes through these.
  private readonly upsert: Statement;
  private readonly all: Statement;
  private rows = new Map<string, Row>();
  /** Addresses each MAC holds or held, in no order. */
  private byMac = new Map<string, string[]>();
  /**
   * Per pool, the next address never handed out: rows are never deleted, so every address
   * below the cursor has a row and the cursor only moves up.
   */
  private cursors = new Map<string, number>();

  constructor(store: Store) {
    this.store = store;
    const db = store.db;
    this.all = db.prepare('SELECT address, mac, state, expires_at FROM leases');
    this.upsert = db.prepare(
      'INSERT INTO leases (address, mac, client_id, state, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (address) DO UPDATE SET mac = excluded.mac, client_id = coalesce(excluded.client_id, client_id), state = excluded.state, ' +
        'expires_at = excluded.expires_at, updated_at = excluded.updated_at',
    );
    this.reload();
  }

  /** Rebuilds memory from the table: at start, and after a transaction that rolled back. */
  reload(): void {
    this.rows = new Map();
    this.byMac = new Map();
    this.cursors = new Map();
    for (const r of this.all.all() as Row[]) this.remember(r);
  }

  /**
   * An address to offer `mac`: its static address when it has one, else the address it holds
   * or last held, else the lowest free pool address. Holds it for OFFER_HOLD_MS. `reserved`
   * are addresses the pool must not hand out (other machines' static addresses, ours).
   */
  offer(
    mac: string,
    now: number,
    opts: { staticAddress?: string; pool?: Pool; requested?: string; clientId?: string; reserved?: ReadonlySet<string> },
  ): LeaseResult {
    return this.store.tx(() => {
      const address = opts.staticAddress ?? this.pick(mac, now, opts.pool, opts.requested, opts.reserved);
      if (!address) return { ok: false, reason: `the pool ${opts.pool ? `${opts.pool.start}-${opts.pool.end} ` : ''}has no free address` };
      const held = this.rows.get(address);
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
      const held = this.rows.get(address);
      if (held && held.mac !== mac && live(held, now)) return { ok: false, reason: `${address} is held by ${held.mac}` };
      this.write(address, mac, 'bound', now + leaseMs, now, clientId);
      return { ok: true, address };
    });
  }

  /** RELEASE: only the holder can release an address (RFC 2131 §4.4.6). */
  release(mac: string, address: string, now: number): boolean {
    return this.store.tx(() => {
      const held = this.rows.get(address);
      if (held?.mac !== mac || held.state === 'declined') return false;
      this.write(address, mac, 'released', now, now);
      return true;
    });
  }

  /** The client chose another server's offer: our hold on `address` for it ends now. */
  withdraw(mac: string, address: string, now: number): boolean {
    return this.store.tx(() => {
      const held = this.rows.get(address);
      if (held?.mac !== mac || held.state !== 'offered') return false;
      this.write(address, mac, 'released', now, now);
      return true;
    });
  }

  /** DECLINE: the client found the address in use on the wire; keep it out of the pool for a while. */
  decline(mac: string, address: string, now: number): boolean {
    return this.store.tx(() => {
      const held = this.rows.get(address);
      if (held && held.mac !== mac) return false;
      this.write(address, mac, 'declined', now + DECLINE_QUARANTINE_MS, now);
      return true;
    });
  }

  /** The live lease of `mac`, if any (the longest-lasting when it somehow has two). */
  current(mac: string, now: number): { address: string; state: Row['state']; expiresAt: number } | undefined {
    let best: Row | undefined;
    for (const a of this.byMac.get(mac) ?? []) {
      const r = this.rows.get(a)!;
      if (r.mac === mac && r.state !== 'declined' && live(r, now) && (!best || r.expires_at > best.expires_at)) best = r;
    }
    return best && { address: best.address, state: best.state, expiresAt: best.expires_at };
  }

  /** Who holds `address` now, if anyone. */
  holder(address: string, now: number): { mac: string; state: Row['state'] } | undefined {
    const r = this.rows.get(address);
    return r && live(r, now) ? { mac: r.mac, state: r.state } : undefined;
  }

  /** Which client the address is bound to (TFTP and HTTP know a client only by its address). */
  macOf(address: string, now: number): string | undefined {
    const r = this.rows.get(address);
    return r && r.state !== 'declined' && live(r, now) ? r.mac : undefined;
  }

  private write(address: string, mac: string, state: Row['state'], expiresAt: number, now: number, clientId?: string): void {
    if (state !== 'offered') this.upsert.run(address, mac, clientId ?? null, state, expiresAt, new Date(now).toISOString());
    this.remember({ address, mac, state, expires_at: expiresAt });
  }

  private remember(r: Row): void {
    const before = this.rows.get(r.address);
    this.rows.set(r.address, r);
    if (before?.mac === r.mac) return;
    if (before) {
      const list = this.byMac.get(before.mac);
      const i = list?.indexOf(r.address) ?? -1;
      if (list && i >= 0) list.splice(i, 1);
    }
    const list = this.byMac.get(r.mac);
    if (list) list.push(r.address);
    else this.byMac.set(r.mac, [r.address]);
  }

  private pick(mac: string, now: number, pool: Pool | undefined, requested: string | undefined, reserved?: ReadonlySet<string>): string | undefined {
    if (!pool) return undefined;
    const inPool = (a: string): boolean => poolContains(pool, a) && !reserved?.has(a);
    const lo = ip4(pool.start);
    const hi = ip4(pool.end);
    const free = (a: string): boolean => {
      const r = this.rows.get(a);
      return !r || !live(r, now) || (r.mac === mac && r.state !== 'declined');
    };
    // 1. What this client holds or held last (its previous address), if still in the pool.
    let own: Row | undefined;
    for (const a of this.byMac.get(mac) ?? []) {
      const r = this.rows.get(a)!;
      if (r.state !== 'declined' && inPool(a) && (!own || r.expires_at > own.expires_at)) own = r;
    }
    if (own && free(own.address)) return own.address;
    // 2. The address it asks for (option 50), when free and in the pool.
    if (requested && inPool(requested) && free(requested)) return requested;
    // 3. The lowest never-used address, then the least recently used ended one — so an
    //    address someone else held last is handed out as late as possible.
    const key = `${pool.start}-${pool.end}`;
    let v = Math.max(this.cursors.get(key) ?? lo, lo);
    while (v <= hi && this.rows.has(fromIp4(v))) v++;
    // The cursor stops at the first address without a row; reserved ones are stepped over
    // without moving it, since a reservation can be lifted by an inventory edit.
    this.cursors.set(key, v);
    while (v <= hi && (this.rows.has(fromIp4(v)) || reserved?.has(fromIp4(v)))) v++;
    if (v <= hi) return fromIp4(v);
    let ended: Row | undefined;
    for (const r of this.rows.values()) {
      if (!live(r, now) && inPool(r.address) && (!ended || r.expires_at < ended.expires_at)) ended = r;
    }
    return ended?.address;
  }
}

