import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { isIronbayError } from '../../daemon/errors.ts';
import { Store } from '../../daemon/store/db.ts';
import { migrations } from '../../daemon/store/migrations.ts';

const dir = mkdtempSync(join(tmpdir(), 'ironbay-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('store', () => {
  test('opens with WAL, foreign keys and every migration applied', () => {
    const s = Store.open(join(dir, 'a.db'));
    try {
      assert.equal(s.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(s.db.pragma('foreign_keys', { simple: true }), 1);
      assert.equal(s.db.pragma('synchronous', { simple: true }), 2);
      assert.equal(s.db.pragma('user_version', { simple: true }), migrations.length);
      const tables = (s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      for (const t of ['machines', 'machine_macs', 'events', 'api_tokens', 'inventory_state']) assert.ok(tables.includes(t), t);
    } finally {
      s.close();
    }
  });

  test('reopening applies nothing twice', () => {
    const file = join(dir, 'b.db');
    Store.open(file).close();
    const s = Store.open(file);
    assert.equal(s.db.pragma('user_version', { simple: true }), migrations.length);
    s.close();
  });

  test('refuses a database written by a newer ironbay', () => {
    const file = join(dir, 'newer.db');
    const raw = new Database(file);
    raw.pragma(`user_version = ${migrations.length + 1}`);
    raw.close();
    assert.throws(
      () => Store.open(file),
      (e: unknown) =>
        isIronbayError(e, 'IB_ERR_DB_TOO_NEW') && e.message.includes(`schema version ${migrations.length + 1} but this ironbay knows only ${migrations.length}`),
    );
  });

  test('a failing migration leaves the database untouched', () => {
    const file = join(dir, 'partial.db');
    const raw = new Database(file);
    raw.exec('CREATE TABLE machines (x)'); // collides with migration 1
    raw.close();
    assert.throws(() => Store.open(file));
    const check = new Database(file);
    assert.equal(check.pragma('user_version', { simple: true }), 0);
    assert.equal((check.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'events'").get() as { n: number }).n, 0);
    check.close();
  });

  test('txSyncLater commits at once, resolves once the WAL is synced, and leaves synchronous at FULL', async () => {
    const file = join(dir, 'later.db');
    const store = Store.open(file);
    const { result, durable } = store.txSyncLater(() => store.appendEvent({ actor: 'test', kind: 'later' }));
    // Visible to another connection before the sync finishes: the commit itself is done.
    const reader = new Database(file, { readonly: true });
    assert.equal(reader.prepare('SELECT kind FROM events WHERE id = ?').pluck().get(result), 'later');
    reader.close();
    await durable;
    assert.equal(store.db.pragma('synchronous', { simple: true }), 2);
    // A failing transaction rolls back and restores FULL too.
    assert.throws(() => store.txSyncLater(() => store.db.exec('INSERT INTO nowhere VALUES (1)')));
    assert.equal(store.db.pragma('synchronous', { simple: true }), 2);
    store.close();
  });

  test('events are append-only', () => {
    const s = Store.open(join(dir, 'c.db'));
    try {
      s.appendEvent({ actor: 'test', kind: 'x' });
      assert.throws(() => s.db.prepare('UPDATE events SET kind = ?').run('y'), /append-only/);
      assert.throws(() => s.db.prepare('DELETE FROM events').run(), /append-only/);
    } finally {
      s.close();
    }
  });

  test('events are published after commit, and not at all on rollback', () => {
    const s = Store.open(join(dir, 'd.db'));
    try {
      const seen: number[] = [];
      s.onEvent((id) => seen.push(id));
      s.tx(() => {
        s.appendEvent({ actor: 'test', kind: 'one' });
        s.appendEvent({ actor: 'test', kind: 'two' });
        assert.deepEqual(seen, [], 'nothing is published inside the transaction');
      });
      assert.equal(seen.length, 2);
      assert.throws(() =>
        s.tx(() => {
          s.appendEvent({ actor: 'test', kind: 'three' });
          throw new Error('abort');
        }),
      );
      assert.equal(seen.length, 2);
      assert.equal((s.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, 2);
    } finally {
      s.close();
    }
  });

  test('a machine row cannot be retired without retired_at (schema check)', () => {
    const s = Store.open(join(dir, 'e.db'));
    try {
      assert.throws(
        () =>
          s.db
            .prepare("INSERT INTO machines (name, role, spec, state, state_since, created_at, updated_at) VALUES ('m', 'worker', '{}', 'retired', 'now', 'now', 'now')")
            .run(),
        /CHECK constraint failed/,
      );
    } finally {
      s.close();
    }
  });
});
