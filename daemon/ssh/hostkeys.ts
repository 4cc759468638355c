// Host key pinning (trust on first use, recorded). The first key a host presents is pinned;
// afterwards only that key is accepted. A different key is refused and remembered as pending,
// so `ironbay hosts accept` pins exactly the key the operator was told about — never a third
// key an attacker presents after the acceptance.
import type { Store } from '../store/db.ts';
import { fingerprint, keyType } from './keys.ts';

export type HostKind = 'machine' | 'jump';

export interface HostKeyRecord {
  kind: HostKind;
  name: string;
  keyType: string;
  fingerprint: string;
  address: string;
  pinnedAt: number;
  pinnedBy: string;
  lastSeenAt: number;
  pending: { keyType: string; fingerprint: string; seenAt: number } | null;
}

export type HostKeyVerdict =
  | { ok: true; pinnedNow: boolean; fingerprint: string }
  | { ok: false; pinned: { fingerprint: string; keyType: string; pinnedAt: number }; offered: { fingerprint: string; keyType: string } };

interface Row {
  kind: HostKind;
  name: string;
  key_type: string;
  key: string;
  fingerprint: string;
  address: string;
  pinned_at: number;
  pinned_by: string;
  last_seen_at: number;
  pending_key_type: string | null;
  pending_key: string | null;
  pending_fingerprint: string | null;
  pending_seen_at: number | null;
}

function machineId(store: Store, kind: HostKind, name: string): number | undefined {
  if (kind !== 'machine') return undefined;
  return (store.db.prepare('SELECT id FROM machines WHERE name = ?').get(name) as { id: number } | undefined)?.id;
}

function fromRow(r: Row): HostKeyRecord {
  return {
    kind: r.kind,
    name: r.name,
    keyType: r.key_type,
    fingerprint: r.fingerprint,
    address: r.address,
    pinnedAt: r.pinned_at,
    pinnedBy: r.pinned_by,
    lastSeenAt: r.last_seen_at,
    pending: r.pending_fingerprint ? { keyType: r.pending_key_type ?? 'unknown', fingerprint: r.pending_fingerprint, seenAt: r.pending_seen_at ?? 0 } : null,
  };
}

/** Decides on a presented key, pinning it on first contact. One transaction. */
export function checkHostKey(store: Store, kind: HostKind, name: string, address: string, blob: Buffer, actor: string): HostKeyVerdict {
  const fp = fingerprint(blob);
  const type = keyType(blob);
  const now = store.now().getTime();
  return store.tx((): HostKeyVerdict => {
    const row = store.db.prepare('SELECT * FROM ssh_host_keys WHERE kind = ? AND name = ?').get(kind, name) as Row | undefined;
    if (!row) {
      store.db
        .prepare('INSERT INTO ssh_host_keys (kind, name, key_type, key, fingerprint, address, pinned_at, pinned_by, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(kind, name, type, blob.toString('base64'), fp, address, now, actor, now);
      store.appendEvent({ actor, machineId: machineId(store, kind, name), kind: 'ssh.hostkey.pinned', details: { host: name, hostKind: kind, address, keyType: type, fingerprint: fp } });
      return { ok: true, pinnedNow: true, fingerprint: fp };
    }
    if (row.key === blob.toString('base64')) {
      store.db.prepare('UPDATE ssh_host_keys SET last_seen_at = ?, address = ? WHERE kind = ? AND name = ?').run(now, address, kind, name);
      return { ok: true, pinnedNow: false, fingerprint: fp };
    }
    // One event per distinct offending key: a host retried every few seconds must not flood the log.
    if (row.pending_fingerprint !== fp) {
      store.appendEvent({
        actor,
        machineId: machineId(store, kind, name),
        kind: 'ssh.hostkey.mismatch',
        details: { host: name, hostKind: kind, address, pinned: row.fingerprint, offered: fp, offeredType: type },
      });
    }
    store.db
      .prepare('UPDATE ssh_host_keys SET pending_key_type = ?, pending_key = ?, pending_fingerprint = ?, pending_seen_at = ? WHERE kind = ? AND name = ?')
      .run(type, blob.toString('base64'), fp, now, kind, name);
    return { ok: false, pinned: { fingerprint: row.fingerprint, keyType: row.key_type, pinnedAt: row.pinned_at }, offered: { fingerprint: fp, keyType: type } };
  });
}

export function listHostKeys(store: Store, kind?: HostKind): HostKeyRecord[] {
  const rows = (kind ? store.db.prepare('SELECT * FROM ssh_host_keys WHERE kind = ? ORDER BY name').all(kind) : store.db.prepare('SELECT * FROM ssh_host_keys ORDER BY kind DESC, name').all()) as Row[];
  return rows.map(fromRow);
}

export function getHostKey(store: Store, kind: HostKind, name: string): HostKeyRecord | undefined {
  const r = store.db.prepare('SELECT * FROM ssh_host_keys WHERE kind = ? AND name = ?').get(kind, name) as Row | undefined;
  return r && fromRow(r);
}

export type AcceptResult =
  | { outcome: 'accepted'; previous: string; fingerprint: string }
  | { outcome: 'unchanged'; fingerprint: string }
  | { outcome: 'not-pinned' };

/**
 * Pins the pending (refused) key in place of the old one. `expect`, when given, must be the
 * pending key's fingerprint: the operator confirms the key they compared out of band.
 */
export function acceptHostKey(store: Store, kind: HostKind, name: string, actor: string, expect?: string): AcceptResult | { outcome: 'mismatch'; pending: string } {
  return store.tx(() => {
    const row = store.db.prepare('SELECT * FROM ssh_host_keys WHERE kind = ? AND name = ?').get(kind, name) as Row | undefined;
    if (!row) return { outcome: 'not-pinned' as const };
    if (!row.pending_key || !row.pending_fingerprint) return { outcome: 'unchanged' as const, fingerprint: row.fingerprint };
    if (expect !== undefined && expect !== row.pending_fingerprint) return { outcome: 'mismatch' as const, pending: row.pending_fingerprint };
    const now = store.now().getTime();
    store.db
      .prepare(
        `UPDATE ssh_host_keys SET key_type = pending_key_type, key = pending_key, fingerprint = pending_fingerprint, pinned_at = ?, pinned_by = ?,
         pending_key_type = NULL, pending_key = NULL, pending_fingerprint = NULL, pending_seen_at = NULL WHERE kind = ? AND name = ?`,
      )
      .run(now, actor, kind, name);
    store.appendEvent({ actor, machineId: machineId(store, kind, name), kind: 'ssh.hostkey.accepted', details: { host: name, hostKind: kind, previous: row.fingerprint, fingerprint: row.pending_fingerprint } });
    return { outcome: 'accepted' as const, previous: row.fingerprint, fingerprint: row.pending_fingerprint };
  });
}

/** Drops a pin, so the next contact pins again: ironbay itself reinstalled the host, say. */
export function forgetHostKey(store: Store, kind: HostKind, name: string, actor: string, reason: string): boolean {
  return store.tx(() => {
    const row = store.db.prepare('SELECT fingerprint FROM ssh_host_keys WHERE kind = ? AND name = ?').get(kind, name) as { fingerprint: string } | undefined;
    if (!row) return false;
    store.db.prepare('DELETE FROM ssh_host_keys WHERE kind = ? AND name = ?').run(kind, name);
    store.appendEvent({ actor, machineId: machineId(store, kind, name), kind: 'ssh.hostkey.forgotten', details: { host: name, hostKind: kind, fingerprint: row.fingerprint, reason } });
    return true;
  });
}
