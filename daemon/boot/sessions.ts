// Boot sessions and phone-home tokens. Each rendered iPXE script of a known machine starts a
// session (its id is the boot id); a script that boots a kernel carries a fresh token on the
// kernel command line, and the installer presents it with each report. Only the token's
// SHA-256 is stored. A token is good until a final report (installed/failed) uses it or a
// newer boot of the same machine supersedes it; anything else is refused and recorded.
//
// Tokens are 256 random bits, so a fast hash suffices (as for API tokens, store/tokens.ts).
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../store/db.ts';
import { pruneStages, recordMachineStage } from './timeline.ts';

export const BOOT_ACTIONS = ['install', 'live', 'discovery', 'local-disk', 'hold'] as const;
export type BootAction = (typeof BOOT_ACTIONS)[number];

/** Sessions kept per machine; older ones are pruned when a new one starts. */
export const SESSIONS_KEPT = 50;

const PREFIX = 'ibb_';
const hash = (token: string): string => createHash('sha256').update(token).digest('hex');
/** The stored form of a phone-home token. */
export const tokenHash = hash;

export interface StartedBoot {
  bootId: number;
  /** Present when the script boots a kernel that will report. */
  token?: string;
  /** Open sessions of the machine this one ended. */
  superseded: number;
}

export function startBoot(
  store: Store,
  input: { machineId: number; action: BootAction; profile: string | null; withToken: boolean; detail: string; from?: string },
): StartedBoot {
  const token = input.withToken ? PREFIX + randomBytes(32).toString('base64url') : undefined;
  const now = store.now().getTime();
  return store.tx(() => {
    const superseded = store.db
      .prepare("UPDATE boot_sessions SET ended_at = ?, end_reason = 'superseded' WHERE machine_id = ? AND ended_at IS NULL")
      .run(now, input.machineId).changes;
    const bootId = Number(
      store.db
        .prepare('INSERT INTO boot_sessions (machine_id, action, profile, token_hash, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(input.machineId, input.action, input.profile, token ? hash(token) : null, now).lastInsertRowid,
    );
    store.db
      .prepare(`DELETE FROM boot_sessions WHERE machine_id = ? AND id <= (SELECT id FROM boot_sessions WHERE machine_id = ? ORDER BY id DESC LIMIT 1 OFFSET ${SESSIONS_KEPT})`)
      .run(input.machineId, input.machineId);
    pruneStages(store, input.machineId);
    store.appendEvent({
      actor: 'boot',
      kind: 'boot.script',
      machineId: input.machineId,
      details: { bootId, action: input.action, profile: input.profile, ...(superseded && { superseded }), ...(input.from && { from: input.from }) },
    });
    recordMachineStage(store, { machineId: input.machineId, bootId, stage: 'script', detail: input.detail, at: now });
    return { bootId, ...(token && { token }), superseded };
  });
}

export const REPORT_STATUSES = ['progress', 'installed', 'failed'] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];

export const REJECT_REASONS = {
  'unknown-token': 'the token belongs to no boot',
  'machine-mismatch': 'the token belongs to another machine',
  superseded: 'a newer boot of the machine replaced this token',
  replayed: 'the token was already used for a final report',
} as const;
export type RejectReason = keyof typeof REJECT_REASONS;

export type ReportOutcome =
  | { ok: true; machineId: number; machine: string; bootId: number }
  | { ok: false; reason: RejectReason; machineId: number | null; machine: string | null; bootId: number | null };

interface SessionRow {
  id: number;
  machine_id: number;
  name: string;
  ended_at: number | null;
  end_reason: string | null;
}

/**
 * Checks a report's token and, when good, records it: a stage always, and for a final status
 * the session's end and an event in the same transaction. A refusal is returned, not thrown;
 * the caller records it (it knows the client's address and rate-limits the event).
 */
export function acceptReport(store: Store, input: { token: string; machine?: string; status: ReportStatus; message?: string }): ReportOutcome {
  const now = store.now().getTime();
  return store.tx((): ReportOutcome => {
    const row = store.db
      .prepare('SELECT s.id, s.machine_id, m.name, s.ended_at, s.end_reason FROM boot_sessions s JOIN machines m ON m.id = s.machine_id WHERE s.token_hash = ?')
      .get(hash(input.token)) as SessionRow | undefined;
    if (!row) return { ok: false, reason: 'unknown-token', machineId: null, machine: null, bootId: null };
    const who = { machineId: row.machine_id, machine: row.name, bootId: row.id };
    if (input.machine !== undefined && input.machine !== row.name) return { ok: false, reason: 'machine-mismatch', ...who };
    if (row.end_reason === 'superseded') return { ok: false, reason: 'superseded', ...who };
    if (row.ended_at !== null) return { ok: false, reason: 'replayed', ...who };
    if (input.status !== 'progress') {
      store.db.prepare('UPDATE boot_sessions SET ended_at = ?, end_reason = ? WHERE id = ?').run(now, input.status, row.id);
      store.appendEvent({
        actor: `installer:${row.name}`,
        kind: input.status === 'installed' ? 'boot.installed' : 'boot.install-failed',
        machineId: row.machine_id,
        details: { bootId: row.id, ...(input.message && { message: input.message }) },
      });
    }
    recordMachineStage(store, { machineId: row.machine_id, bootId: row.id, stage: 'report', detail: input.message ? `${input.status}: ${input.message}` : input.status, at: now });
    return { ok: true, ...who };
  });
}

/** The machine a boot id belongs to, for asset fetches that carry `?boot=`. */
export function bootOwner(store: Store, bootId: number): number | undefined {
  return store.db.prepare('SELECT machine_id FROM boot_sessions WHERE id = ?').pluck().get(bootId) as number | undefined;
}

export interface BootSessionInfo {
  id: number;
  action: string;
  profile: string | null;
  createdAt: string;
  endedAt: string | null;
  endReason: string | null;
}

export function bootSession(store: Store, bootId: number): BootSessionInfo | undefined {
  const r = store.db.prepare('SELECT id, action, profile, created_at, ended_at, end_reason FROM boot_sessions WHERE id = ?').get(bootId) as
    | { id: number; action: string; profile: string | null; created_at: number; ended_at: number | null; end_reason: string | null }
    | undefined;
  return (
    r && {
      id: r.id,
      action: r.action,
      profile: r.profile,
      createdAt: new Date(r.created_at).toISOString(),
      endedAt: r.ended_at === null ? null : new Date(r.ended_at).toISOString(),
      endReason: r.end_reason,
    }
  );
}
