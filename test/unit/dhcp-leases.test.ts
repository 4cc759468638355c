import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DECLINE_QUARANTINE_MS, LeaseBook, OFFER_HOLD_MS } from '../../daemon/dhcp/leases.ts';
import { Store } from '../../daemon/store/db.ts';

const dir = mkdtempSync(join(tmpdir(), 'ironbay-leases-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const book = (): { leases: LeaseBook; store: Store; file: string } => {
  const file = join(dir, `l${++n}.db`);
  const store = Store.open(file);
  return { leases: new LeaseBook(store), store, file };
};
const POOL = { start: '198.18.0.10', end: '198.18.0.12' };
const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';
const D = '02:00:00:00:00:0d';
const T0 = Date.parse('2026-11-22T00:00:00Z');
const HOUR = 3_600_000;

describe('lease book', () => {
  test('DISCOVER → OFFER → REQUEST → ACK, and the same client keeps its address', () => {
    const { leases, store } = book();
    const o = leases.offer(A, T0, { pool: POOL });
    assert.deepEqual(o, { ok: true, address: '198.18.0.10' });
    assert.deepEqual(leases.commit(A, '198.18.0.10', HOUR, T0 + 1000), { ok: true, address: '198.18.0.10' });
    assert.deepEqual(leases.current(A, T0 + 2000), { address: '198.18.0.10', state: 'bound', expiresAt: T0 + 1000 + HOUR });
    // A reboot (new DISCOVER) gets the same address back, and the offer does not cut the lease short.
    assert.deepEqual(leases.offer(A, T0 + 5000, { pool: POOL }), { ok: true, address: '198.18.0.10' });
    assert.equal(leases.current(A, T0 + 6000)?.state, 'bound');
    store.close();
  });

  test('two clients never hold one address; an offer is held for its client only', () => {
    const { leases, store } = book();
    assert.deepEqual(leases.offer(A, T0, { pool: POOL }), { ok: true, address: '198.18.0.10' });
    assert.deepEqual(leases.offer(A, T0 + 1, { pool: POOL }), { ok: true, address: '198.18.0.10' }, 'a retransmitted DISCOVER gets the same offer');
    const b = leases.offer(B, T0, { pool: POOL });
    assert.deepEqual(b, { ok: true, address: '198.18.0.11' });
    // B asking for A's offered address is refused while the offer stands …
    const steal = leases.commit(B, '198.18.0.10', HOUR, T0 + 1000);
    assert.equal(steal.ok, false);
    // … and A's offer lapses after OFFER_HOLD_MS, after which it is free.
    assert.equal(leases.commit(B, '198.18.0.10', HOUR, T0 + OFFER_HOLD_MS + 1).ok, true);
    store.close();
  });

  test('pool exhaustion is a clear refusal; an expired lease is reused, the longest-ended first', () => {
    const { leases, store } = book();
    for (const [mac, addr] of [[A, '198.18.0.10'], [B, '198.18.0.11'], [C, '198.18.0.12']] as const) {
      assert.deepEqual(leases.offer(mac, T0, { pool: POOL }), { ok: true, address: addr });
      leases.commit(mac, addr, HOUR, T0);
    }
    const full = leases.offer(D, T0 + 1, { pool: POOL });
    assert.deepEqual(full, { ok: false, reason: 'the pool 198.18.0.10-198.18.0.12 has no free address' });
    leases.commit(B, '198.18.0.11', 2 * HOUR, T0 + 10); // renewed: ends later than A's and C's
    assert.deepEqual(leases.offer(D, T0 + 3 * HOUR, { pool: POOL }), { ok: true, address: '198.18.0.10' });
    store.close();
  });

  test('a requested address (option 50) is honoured when free, and a released address goes back to its client first', () => {
    const { leases, store } = book();
    assert.deepEqual(leases.offer(A, T0, { pool: POOL, requested: '198.18.0.12' }), { ok: true, address: '198.18.0.12' });
    leases.commit(A, '198.18.0.12', HOUR, T0);
    assert.equal(leases.release(B, '198.18.0.12', T0 + 1), false, 'only the holder releases');
    assert.equal(leases.release(A, '198.18.0.12', T0 + 1), true);
    assert.deepEqual(leases.offer(A, T0 + 2, { pool: POOL }), { ok: true, address: '198.18.0.12' });
    store.close();
  });

  test('a declined address is quarantined for everyone, then free again', () => {
    const { leases, store } = book();
    assert.deepEqual(leases.offer(A, T0, { pool: { start: '198.18.0.10', end: '198.18.0.10' } }), { ok: true, address: '198.18.0.10' });
    assert.equal(leases.decline(A, '198.18.0.10', T0 + 1), true);
    assert.equal(leases.offer(B, T0 + 2, { pool: { start: '198.18.0.10', end: '198.18.0.10' } }).ok, false);
    assert.equal(leases.current(A, T0 + 2), undefined);
    assert.equal(leases.offer(B, T0 + DECLINE_QUARANTINE_MS + 2, { pool: { start: '198.18.0.10', end: '198.18.0.10' } }).ok, true);
    store.close();
  });

  test('static (reservation) addresses come from the inventory, never from the pool', () => {
    const { leases, store } = book();
    assert.deepEqual(leases.offer(A, T0, { staticAddress: '198.18.1.5' }), { ok: true, address: '198.18.1.5' });
    assert.deepEqual(leases.offer(A, T0, {}), { ok: false, reason: 'the pool has no free address' });
    store.close();
  });

  test('leases survive closing and reopening the store (what a restart after kill -9 sees)', () => {
    const { leases, store, file } = book();
    leases.offer(A, T0, { pool: POOL });
    leases.commit(A, '198.18.0.10', HOUR, T0);
    store.close();
    const again = Store.open(file);
    const l2 = new LeaseBook(again);
    assert.equal(l2.current(A, T0 + 1)?.address, '198.18.0.10');
    assert.deepEqual(l2.offer(B, T0 + 1, { pool: POOL }), { ok: true, address: '198.18.0.11' });
    again.close();
  });
});
