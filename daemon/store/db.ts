// The SQLite store: one file, WAL, foreign keys on, migrations applied at open in one
// transaction. Every write that matters to an operator goes through `tx` together with its
// event rows, so the state and its audit trail can never disagree — not even after kill -9.
import { EventEmitter } from 'node:events';
import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { IronbayError } from '../errors.ts';
import { migrations } from './migrations.ts';

export type Db = Database.Database;

export interface EventInput {
  actor: string;
  kind: string;
  machineId?: number | null;
  details?: Record<string, unknown>;
}

export interface EventRow {
  id: number;
  time: string;
  actor: string;
  machine: string | null;
  kind: string;
  details: Record<string, unknown>;
}

export interface StoreOptions {
  /** Injected so tests can control timestamps. */
  now?: () => Date;
}

export class Store {
  readonly db: Db;
  readonly path: string;
  readonly now: () => Date;
  private readonly bus = new EventEmitter();
  private pending: number[] | undefined;
  private readonly insertEvent: Database.Statement;

  private constructor(db: Db, path: string, now: () => Date) {
    this.db = db;
    this.path = path;
    this.now = now;
    this.bus.setMaxListeners(0);
    this.insertEvent = db.prepare('INSERT INTO events (time, actor, machine_id, kind, details) VALUES (?, ?, ?, ?, ?)');
  }

  static open(path: string, options: StoreOptions = {}): Store {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    let db: Db;
    try {
      db = new Database(path);
    } catch (err) {
      throw new IronbayError('IB_ERR_DB_OPEN', `cannot open database ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      db.pragma('journal_mode = WAL');
      // FULL: a committed transaction (a lease, a state change) survives power loss too,
      // not only a crash of the process.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      migrate(db, path);
    } catch (err) {
      db.close();
      throw err;
    }
    return new Store(db, path, options.now ?? (() => new Date()));
  }

  /** Runs `fn` in one IMMEDIATE transaction; events appended inside are published after commit. */
  /**
   * A transaction for the hot path (DHCP leases): committed like tx(), but the fsync that
   * makes it survive power loss runs on libuv's thread pool instead of blocking the event
   * loop. `durable` resolves once the commit is on disk; the caller must not act on the
   * result outside the process (send an ACK) before that. A crash of the process alone
   * never loses a commit: the WAL frames are in the kernel's page cache from the commit on.
   * Meanwhile the next batch can be prepared and committed — group commit, pipelined.
   */
  txSyncLater<T>(fn: () => T): { result: T; durable: Promise<void> } {
    if (this.pending || this.path === ':memory:') return { result: this.tx(fn), durable: Promise.resolve() };
    this.syncNormal ??= this.db.prepare('PRAGMA synchronous = NORMAL');
    this.syncFull ??= this.db.prepare('PRAGMA synchronous = FULL');
    this.syncNormal.run();
    let result: T;
    try {
      result = this.tx(fn);
    } finally {
      this.syncFull.run();
    }
    return { result, durable: this.syncWal() };
  }

  private walFd: number | undefined;
  private syncNormal: Database.Statement | undefined;
  private syncFull: Database.Statement | undefined;
  /** fdatasync of the WAL file: fsync is per file, so our own descriptor flushes SQLite's writes. */
  private syncWal(): Promise<void> {
    this.walFd ??= openSync(`${this.path}-wal`, 'r');
    const fd = this.walFd;
    return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  }

  tx<T>(fn: () => T): T {
    if (this.pending) return fn(); // nested: part of the outer transaction
    const pending: number[] = (this.pending = []);
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
    } finally {
      this.pending = undefined;
    }
    for (const id of pending) this.bus.emit('event', id);
    return result;
  }

  appendEvent(input: EventInput): number {
    const time = this.now().toISOString();
    const info = this.insertEvent.run(time, input.actor, input.machineId ?? null, input.kind, JSON.stringify(input.details ?? {}));
    const id = Number(info.lastInsertRowid);
    if (this.pending) this.pending.push(id);
    else this.bus.emit('event', id);
    return id;
  }

  /** Called with each committed event id, in order. Returns an unsubscribe function. */
  onEvent(listener: (id: number) => void): () => void {
    this.bus.on('event', listener);
    return () => this.bus.off('event', listener);
  }

  timestamp(): string {
    return this.now().toISOString();
  }

  close(): void {
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
    if (this.db.open) this.db.close();
  }
}

function migrate(db: Db, path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new IronbayError(
      'IB_ERR_DB_TOO_NEW',
      `database ${path} is at schema version ${current} but this ironbay knows only ${migrations.length}; ` +
        'run the newer ironbay, or restore a backup made for this version',
      { details: { dbVersion: current, codeVersion: migrations.length } },
    );
  }
  if (current === migrations.length) return;
  db.transaction(() => {
    for (let v = current; v < migrations.length; v++) db.exec(migrations[v]!);
    db.pragma(`user_version = ${migrations.length}`);
  }).immediate();
}
