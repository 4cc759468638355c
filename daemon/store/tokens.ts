// API tokens. The token is shown once at creation; only its SHA-256 is stored. Tokens are
// 256 random bits, so a fast hash is enough (no password-style stretching needed).
import { createHash, randomBytes } from 'node:crypto';
import { IronbayError } from '../errors.ts';
import type { Store } from './db.ts';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenInfo {
  name: string;
  role: Role;
  createdAt: string;
  createdBy: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const PREFIX = 'ibt_';
const hash = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Roles are ordered: an admin may do what an operator may, and so on. */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export function createToken(store: Store, name: string, role: Role, actor: string): string {
  const token = PREFIX + randomBytes(32).toString('base64url');
  store.tx(() => {
    const exists = store.db.prepare('SELECT 1 FROM api_tokens WHERE name = ?').get(name);
    if (exists) throw new IronbayError('IB_ERR_CONFLICT', `a token named "${name}" already exists; revoke it first or choose another name`);
    store.db
      .prepare('INSERT INTO api_tokens (name, role, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?)')
      .run(name, role, hash(token), store.timestamp(), actor);
    store.appendEvent({ actor, kind: 'token.created', details: { name, role } });
  });
  return token;
}

export function revokeToken(store: Store, name: string, actor: string): void {
  store.tx(() => {
    const info = store.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(store.timestamp(), name);
    if (info.changes === 0) throw new IronbayError('IB_ERR_NOT_FOUND', `no active token named "${name}"`);
    store.appendEvent({ actor, kind: 'token.revoked', details: { name } });
  });
}

export function listTokens(store: Store): TokenInfo[] {
  return store.db
    .prepare(
      'SELECT name, role, created_at AS createdAt, created_by AS createdBy, last_used_at AS lastUsedAt, revoked_at AS revokedAt FROM api_tokens ORDER BY name',
    )
    .all() as TokenInfo[];
}

export function countActiveTokens(store: Store): number {
  return (store.db.prepare('SELECT count(*) AS n FROM api_tokens WHERE revoked_at IS NULL').get() as { n: number }).n;
}

// last_used_at is advisory; writing it on every request would turn reads into writes.
const TOUCH_INTERVAL_MS = 60_000;

export function authenticate(store: Store, token: string): { name: string; role: Role } | undefined {
  if (!token.startsWith(PREFIX)) return undefined;
  const row = store.db.prepare('SELECT id, name, role, last_used_at FROM api_tokens WHERE hash = ? AND revoked_at IS NULL').get(hash(token)) as
    | { id: number; name: string; role: Role; last_used_at: string | null }
    | undefined;
  if (!row) return undefined;
  const now = store.now();
  if (!row.last_used_at || now.getTime() - Date.parse(row.last_used_at) > TOUCH_INTERVAL_MS) {
    store.db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(now.toISOString(), row.id);
  }
  return { name: row.name, role: row.role };
}
