// The boot timeline: every stage of a machine's network boot (DHCP, TFTP, script, kernel,
// initrd, phone-home report) with its time, so `ironbay machines show` can tell where a boot
// stopped.
//
// Writers are the DHCP and TFTP servers and the boot HTTP app, at boot-storm rates (10,000
// clients, several packets each). A synchronous INSERT per packet would cost an fsync each
// (the store runs synchronous=FULL), so stages are queued in memory and written in one
// transaction every FLUSH_MS or FLUSH_ROWS, whichever comes first. The price: a crash loses
// up to FLUSH_MS of timeline, which is diagnostic data, never state. Readers flush first, so
// a stage recorded before a query is always in its answer.
//
// The queue belongs to the store (a WeakMap keyed by it) rather than to a module-level
// singleton: the servers are handed the store, and two stores (tests) never share a queue.
import type { Statement } from 'better-sqlite3';
import { normalizeMac } from '../lib/net.ts';
import type { Store } from '../store/db.ts';

export const BOOT_STAGES = [
  'dhcp-discover',
  'dhcp-offer',
  'dhcp-request',
  'dhcp-ack',
  'dhcp-nak',
  'dhcp-decline',
  'dhcp-release',
  'dhcp-inform',
  /** ProxyDHCP: boot information to a client whose address comes from another server. */
  'proxy-offer',
  'proxy-ack',
  'tftp',
  /** A file fetched over HTTP outside a boot session: the iPXE binary by UEFI HTTP boot. */
  'http',
  'script',
  'kernel',
  'initrd',
  /** The installer fetched the disk image of an image install. */
  'image',
  'report',
] as const;
export type BootStage = (typeof BOOT_STAGES)[number];

export interface BootStageInput {
  mac: string;
  stage: BootStage;
  /** Short and human: a file name, a message type, an address. Cut at MAX_DETAIL. */
  detail?: string;
  /** Unix ms; default the store's clock. */
  at?: number;
}

export const FLUSH_MS = 50;
export const FLUSH_ROWS = 2_000;
/** A queue this long means the database is not keeping up; further stages are dropped and counted. */
export const MAX_QUEUED = 50_000;
export const MAX_DETAIL = 200;
/** How far back a timeline query looks; a boot has a dozen stages, a PXE loop more. */
export const TIMELINE_WINDOW = 200;
/** Stages kept per machine; older ones are pruned when a new boot starts. */
export const STAGES_KEPT = 1_000;

type Queued = { kind: 'mac'; mac: string; stage: string; detail: string | null; at: number } | { kind: 'id'; machineId: number; bootId: number | null; stage: string; detail: string | null; at: number };

class StageQueue {
  private queue: Queued[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly byMac: Statement;
  private readonly byId: Statement;
  dropped = 0;
  onError: ((err: unknown, lost: number) => void) | undefined;

  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
    // Unknown MACs select no row, so they insert nothing: no lookup round trip, no error.
    this.byMac = store.db.prepare('INSERT INTO boot_stages (machine_id, boot_id, stage, detail, at) SELECT machine_id, NULL, ?, ?, ? FROM machine_macs WHERE mac = ?');
    this.byId = store.db.prepare('INSERT INTO boot_stages (machine_id, boot_id, stage, detail, at) VALUES (?, ?, ?, ?, ?)');
  }

  push(q: Queued): void {
    if (this.queue.length >= MAX_QUEUED) {
      this.dropped++;
      return;
    }
    this.queue.push(q);
    if (this.queue.length >= FLUSH_ROWS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.queue.length) return;
    const batch = this.queue;
    this.queue = [];
    // A store closed under us (daemon stopping) loses the batch quietly: it is diagnostics.
    if (!this.store.db.open) return;
    const write = (): void => {
      for (const q of batch) {
        if (q.kind === 'mac') this.byMac.run(q.stage, q.detail, q.at, q.mac);
        else this.byId.run(q.machineId, q.bootId, q.stage, q.detail, q.at);
      }
    };
    try {
      if (this.store.db.inTransaction) write();
      else this.store.db.transaction(write).immediate();
    } catch (err) {
      this.dropped += batch.length;
      this.onError?.(err, batch.length);
    }
  }
}

const queues = new WeakMap<Store, StageQueue>();
function queueOf(store: Store): StageQueue {
  let q = queues.get(store);
  if (!q) queues.set(store, (q = new StageQueue(store)));
  return q;
}

const clip = (s: string | undefined): string | null => (s === undefined ? null : s.length > MAX_DETAIL ? s.slice(0, MAX_DETAIL - 1) + '…' : s);

/**
 * Records a boot stage of the machine owning `mac`. Never throws and costs a queue push:
 * safe on every DHCP packet. An unknown or malformed MAC records nothing.
 */
export function recordBootStage(store: Store, input: BootStageInput): void {
  const mac = normalizeMac(input.mac);
  if (!mac) return;
  queueOf(store).push({ kind: 'mac', mac, stage: input.stage, detail: clip(input.detail), at: input.at ?? store.now().getTime() });
}

/** Records a stage of a machine already resolved (the boot HTTP app knows the machine and boot). */
export function recordMachineStage(store: Store, input: { machineId: number; bootId?: number | null; stage: BootStage; detail?: string; at?: number }): void {
  queueOf(store).push({ kind: 'id', machineId: input.machineId, bootId: input.bootId ?? null, stage: input.stage, detail: clip(input.detail), at: input.at ?? store.now().getTime() });
}

/** Writes queued stages now (readers call it; so do tests). */
export function flushBootStages(store: Store): void {
  queues.get(store)?.flush();
}

/** Stages lost so far (queue full or a failed write), and a hook to hear of failed writes. */
export function bootStageHealth(store: Store, onError?: (err: unknown, lost: number) => void): { dropped: number } {
  const q = queueOf(store);
  if (onError) q.onError = onError;
  return { dropped: q.dropped };
}

export interface TimelineEntry {
  stage: string;
  detail: string | null;
  bootId: number | null;
  /** ISO time */
  at: string;
  /** Milliseconds since the first entry of this timeline. */
  offsetMs: number;
}

export interface BootTimeline {
  /** The newest boot session the entries belong to, if any stage carried one. */
  bootId: number | null;
  startedAt: string | null;
  entries: TimelineEntry[];
  /** More stages of this boot exist than TIMELINE_WINDOW (a PXE loop): the oldest are left out. */
  truncated: boolean;
}

interface StageRow {
  stage: string;
  detail: string | null;
  boot_id: number | null;
  at: number;
}

/**
 * The machine's last boot. A boot is anchored on its newest boot id (one rendered script):
 * it runs back over the DHCP and TFTP stages that led to that script, up to the previous
 * boot's last stage, and forward to now — so the installer's own DHCP, and a reboot that has
 * not fetched its script yet, show under the boot they follow.
 */
export function bootTimeline(store: Store, machineId: number): BootTimeline {
  flushBootStages(store);
  const rows = store.db
    .prepare(`SELECT stage, detail, boot_id, at FROM boot_stages WHERE machine_id = ? ORDER BY id DESC LIMIT ${TIMELINE_WINDOW}`)
    .all(machineId) as StageRow[];
  return segmentTimeline(rows, rows.length === TIMELINE_WINDOW);
}

/** `rows` newest first. Exported for tests. */
export function segmentTimeline(rows: readonly StageRow[], windowFull: boolean): BootTimeline {
  let bootId: number | null = null;
  let cut = rows.length;
  for (let i = 0; i < rows.length; i++) {
    const b = rows[i]!.boot_id;
    if (b === null) continue;
    if (bootId === null) bootId = b;
    else if (b !== bootId) {
      cut = i;
      break;
    }
  }
  const mine = rows.slice(0, cut).reverse();
  const t0 = mine[0]?.at ?? 0;
  return {
    bootId,
    startedAt: mine.length ? new Date(t0).toISOString() : null,
    entries: mine.map((r) => ({ stage: r.stage, detail: r.detail, bootId: r.boot_id, at: new Date(r.at).toISOString(), offsetMs: r.at - t0 })),
    truncated: windowFull && cut === rows.length,
  };
}

/** Keeps the newest STAGES_KEPT stages of a machine; called once per boot, inside its transaction. */
export function pruneStages(store: Store, machineId: number): void {
  store.db
    .prepare(`DELETE FROM boot_stages WHERE machine_id = ? AND id <= (SELECT id FROM boot_stages WHERE machine_id = ? ORDER BY id DESC LIMIT 1 OFFSET ${STAGES_KEPT})`)
    .run(machineId, machineId);
}
