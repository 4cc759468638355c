import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auth, smallInventory, testApp, type TestApp } from '../helpers/app.ts';

describe('API', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp(smallInventory(3));
  });
  after(async () => t.close());

  describe('authentication and roles', () => {
    test('no token: 401 IB_ERR_AUTH_MISSING', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/machines' });
      assert.equal(r.statusCode, 401);
      assert.equal(r.json<{ code: string }>().code, 'IB_ERR_AUTH_MISSING');
    });

    test('malformed Authorization header: 401 IB_ERR_AUTH_MISSING', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/machines', headers: { authorization: `Token ${t.tokens.admin}` } });
      assert.equal(r.statusCode, 401);
      assert.equal(r.json<{ code: string }>().code, 'IB_ERR_AUTH_MISSING');
    });

    test('unknown token: 401 IB_ERR_AUTH_INVALID', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/machines', headers: auth('ibt_not-a-real-token') });
      assert.equal(r.statusCode, 401);
      assert.equal(r.json<{ code: string }>().code, 'IB_ERR_AUTH_INVALID');
    });

    const matrix: [method: 'GET' | 'POST' | 'DELETE', url: string, need: 'viewer' | 'operator' | 'admin', body?: object][] = [
      ['GET', '/api/v1/machines', 'viewer'],
      ['GET', '/api/v1/machines/w-000', 'viewer'],
      ['GET', '/api/v1/events', 'viewer'],
      ['GET', '/api/v1/inventory', 'viewer'],
      ['POST', '/api/v1/inventory/diff', 'viewer', { file: 'x.yaml', content: 'machines: []' }],
      ['POST', '/api/v1/inventory/reload', 'operator', {}],
      ['GET', '/api/v1/config', 'viewer'],
      ['GET', '/api/v1/tokens', 'admin'],
      ['POST', '/api/v1/tokens', 'admin', { name: 'matrix-probe', role: 'viewer' }],
    ];
    for (const [method, url, need, body] of matrix) {
      test(`${method} ${url} needs ${need}`, async () => {
        const order = ['viewer', 'operator', 'admin'] as const;
        for (const role of order) {
          const r = await t.app.inject({ method, url, headers: auth(t.tokens[role]), ...(body && { payload: body }) });
          const allowed = order.indexOf(role) >= order.indexOf(need);
          if (allowed) assert.ok(r.statusCode < 400, `${role} should be allowed, got ${r.statusCode} ${r.body}`);
          else {
            assert.equal(r.statusCode, 403, `${role} should be refused`);
            const e = r.json<{ code: string; message: string }>();
            assert.equal(e.code, 'IB_ERR_FORBIDDEN');
            assert.match(e.message, new RegExp(`needs ${need}`));
          }
          if (allowed && url === '/api/v1/tokens' && method === 'POST') {
            await t.app.inject({ method: 'DELETE', url: '/api/v1/tokens/matrix-probe', headers: auth(t.tokens.admin) });
          }
        }
      });
    }

    test('health, readiness, metrics and OpenAPI need no token', async () => {
      for (const url of ['/healthz', '/readyz', '/metrics', '/api/v1/openapi.json']) {
        const r = await t.app.inject({ method: 'GET', url });
        assert.equal(r.statusCode, 200, url);
      }
    });

    test('a created token works at its role, is stored only as a hash, and stops working when revoked', async () => {
      const created = await t.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: auth(t.tokens.admin), payload: { name: 'ci-bot', role: 'operator' } });
      assert.equal(created.statusCode, 201);
      const { token } = created.json<{ token: string }>();
      assert.match(token, /^ibt_[A-Za-z0-9_-]{43}$/);
      const stored = t.store.db.prepare('SELECT hash FROM api_tokens WHERE name = ?').get('ci-bot') as { hash: string };
      assert.notEqual(stored.hash, token);
      assert.ok(!JSON.stringify(t.store.db.prepare('SELECT * FROM api_tokens').all()).includes(token));

      assert.equal((await t.app.inject({ method: 'POST', url: '/api/v1/inventory/reload', headers: auth(token), payload: {} })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: auth(token) })).statusCode, 403);

      const dup = await t.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: auth(t.tokens.admin), payload: { name: 'ci-bot', role: 'viewer' } });
      assert.equal(dup.statusCode, 409);
      assert.equal(dup.json<{ code: string }>().code, 'IB_ERR_CONFLICT');

      assert.equal((await t.app.inject({ method: 'DELETE', url: '/api/v1/tokens/ci-bot', headers: auth(t.tokens.admin) })).statusCode, 204);
      const after = await t.app.inject({ method: 'GET', url: '/api/v1/machines', headers: auth(token) });
      assert.equal(after.statusCode, 401);
      assert.equal(after.json<{ code: string }>().code, 'IB_ERR_AUTH_INVALID');
      const again = await t.app.inject({ method: 'DELETE', url: '/api/v1/tokens/ci-bot', headers: auth(t.tokens.admin) });
      assert.equal(again.statusCode, 404);

      const kinds = (t.store.db.prepare("SELECT kind, actor FROM events WHERE kind LIKE 'token.%' AND details LIKE '%ci-bot%'").all() as { kind: string; actor: string }[]);
      assert.deepEqual(kinds.map((k) => k.kind), ['token.created', 'token.revoked']);
      assert.ok(kinds.every((k) => k.actor === 'token:test-admin'));
    });

    test('an invalid role is a 400 with a JSON error code', async () => {
      const r = await t.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: auth(t.tokens.admin), payload: { name: 'x', role: 'root' } });
      assert.equal(r.statusCode, 400);
      assert.equal(r.json<{ code: string }>().code, 'IB_ERR_BAD_REQUEST');
    });
  });

  describe('machines', () => {
    test('lists machines from the inventory with desired and observed state', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/machines', headers: auth(t.tokens.viewer) });
      assert.equal(r.statusCode, 200);
      const { machines } = r.json<{ machines: { name: string; state: string; macs: string[]; spec: { production: { address: string } } }[] }>();
      assert.deepEqual(machines.map((m) => m.name), ['w-000', 'w-001', 'w-002']);
      assert.ok(machines.every((m) => m.state === 'registered'));
      assert.deepEqual(machines[1]!.macs, ['52:54:00:00:10:01']);
      assert.equal(machines[2]!.spec.production.address, '203.0.113.12/24');
    });

    test('the pre-serialised list has exactly the shape of the single-machine view', async () => {
      const list = (await t.app.inject({ method: 'GET', url: '/api/v1/machines', headers: auth(t.tokens.viewer) })).json<{ machines: { name: string }[] }>().machines;
      for (const m of list) {
        const one = (await t.app.inject({ method: 'GET', url: `/api/v1/machines/${m.name}`, headers: auth(t.tokens.viewer) })).json<unknown>();
        assert.deepEqual(m, one);
      }
    });

    test('lists carry an ETag that changes exactly when a machine changes', async () => {
      const get = (etag?: string) =>
        t.app.inject({ method: 'GET', url: '/api/v1/machines?zone=zone-a', headers: { ...auth(t.tokens.viewer), ...(etag && { 'if-none-match': etag }) } });
      const first = await get();
      const etag = first.headers.etag as string;
      assert.match(etag, /^"m\d+-[0-9a-f]{8}"$/);
      const again = await get(etag);
      assert.equal(again.statusCode, 304);
      assert.equal(again.body, '');
      // Any write to a machine row, by any code path, moves the version.
      t.store.db.prepare("UPDATE machines SET observed = '{\"seen\":1}' WHERE name = 'w-000'").run();
      const changed = await get(etag);
      assert.equal(changed.statusCode, 200);
      assert.notEqual(changed.headers.etag, etag);
      assert.deepEqual(changed.json<{ machines: { observed: object }[] }>().machines[0]!.observed, { seen: 1 });
      t.store.db.prepare("UPDATE machines SET observed = '{}' WHERE name = 'w-000'").run();
    });

    test('yes/no query flags take 1/0 and true/false, and refuse anything else', async () => {
      for (const [v, status] of [['1', 200], ['true', 200], ['0', 200], ['false', 200], ['yes', 400]] as const) {
        const r = await t.app.inject({ method: 'GET', url: `/api/v1/machines?includeRetired=${v}`, headers: auth(t.tokens.viewer) });
        assert.equal(r.statusCode, status, v);
      }
    });

    test('filters by zone and state', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/machines?zone=zone-b', headers: auth(t.tokens.viewer) });
      assert.deepEqual(r.json<{ machines: { name: string }[] }>().machines.map((m) => m.name), ['w-001']);
      const bad = await t.app.inject({ method: 'GET', url: '/api/v1/machines?state=sleeping', headers: auth(t.tokens.viewer) });
      assert.equal(bad.statusCode, 400);
    });

    test('one machine, and a 404 with a code for an unknown one', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/machines/w-001', headers: auth(t.tokens.viewer) });
      assert.equal(r.json<{ zone: string }>().zone, 'zone-b');
      const missing = await t.app.inject({ method: 'GET', url: '/api/v1/machines/nope', headers: auth(t.tokens.viewer) });
      assert.equal(missing.statusCode, 404);
      assert.deepEqual(missing.json(), { code: 'IB_ERR_NOT_FOUND', message: 'no machine named "nope"' });
    });

    test('unknown routes answer JSON 404', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/nothing-here' });
      assert.equal(r.statusCode, 404);
      assert.equal(r.json<{ code: string }>().code, 'IB_ERR_NOT_FOUND');
    });
  });

  describe('events', () => {
    test('filters by machine and by kind prefix, oldest first', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/events?machine=w-002', headers: auth(t.tokens.viewer) });
      const { events } = r.json<{ events: { kind: string; machine: string; actor: string }[] }>();
      assert.deepEqual(events.map((e) => e.kind), ['machine.added']);
      assert.equal(events[0]!.actor, 'inventory:test');
      const byKind = await t.app.inject({ method: 'GET', url: '/api/v1/events?kind=machine.&limit=2', headers: auth(t.tokens.viewer) });
      const ev = byKind.json<{ events: { id: number; kind: string }[] }>().events;
      assert.equal(ev.length, 2);
      assert.ok(ev.every((e) => e.kind.startsWith('machine.')));
      assert.ok(ev[0]!.id < ev[1]!.id);
    });

    test('after= pages forward', async () => {
      const all = (await t.app.inject({ method: 'GET', url: '/api/v1/events?limit=1000', headers: auth(t.tokens.viewer) })).json<{ events: { id: number }[] }>().events;
      const from = all[2]!.id;
      const page = (await t.app.inject({ method: 'GET', url: `/api/v1/events?after=${from}&limit=2`, headers: auth(t.tokens.viewer) })).json<{ events: { id: number }[] }>().events;
      assert.deepEqual(page.map((e) => e.id), [all[3]!.id, all[4]!.id]);
    });
  });

  describe('inventory', () => {
    test('diff reports what would change without applying it', async () => {
      const edited = smallInventory(3).replace('zone: zone-a\n', 'zone: zone-c\n');
      const without = edited.replace(/ {2}- name: w-002[\s\S]*$/, '');
      const r = await t.app.inject({ method: 'POST', url: '/api/v1/inventory/diff', headers: auth(t.tokens.viewer), payload: { file: 'edited.yaml', content: without } });
      const body = r.json<{ valid: boolean; diff: { machines: { added: string[]; removed: string[]; changed: { name: string; fields: { path: string; from: string; to: string }[] }[] } } }>();
      assert.equal(body.valid, true);
      assert.deepEqual(body.diff.machines.removed, ['w-002']);
      assert.deepEqual(body.diff.machines.changed, [{ name: 'w-000', fields: [{ path: 'zone', from: 'zone-a', to: 'zone-c' }] }]);
      const still = await t.app.inject({ method: 'GET', url: '/api/v1/machines/w-000', headers: auth(t.tokens.viewer) });
      assert.equal(still.json<{ zone: string }>().zone, 'zone-a');
    });

    test('diff of an invalid file returns its errors with the given file name', async () => {
      const r = await t.app.inject({ method: 'POST', url: '/api/v1/inventory/diff', headers: auth(t.tokens.viewer), payload: { file: 'bad.yaml', content: 'machines:\n  - name: Bad_Name\n' } });
      const body = r.json<{ valid: boolean; errors: { file: string; line: number; path: string }[] }>();
      assert.equal(body.valid, false);
      assert.ok(body.errors.some((e) => e.file === 'bad.yaml' && e.line === 2 && e.path === 'machines[0].name'));
    });

    test('a rejected edit keeps the last good inventory and is visible in GET /inventory', async () => {
      const before = t.store.db.prepare('SELECT count(*) AS n FROM machines').get();
      t.writeInventory(smallInventory(3).replace('role: worker', 'role: wrker'));
      const r = await t.app.inject({ method: 'POST', url: '/api/v1/inventory/reload', headers: auth(t.tokens.operator), payload: {} });
      const body = r.json<{ result: string; errors: { line: number; path: string; message: string }[] }>();
      assert.equal(body.result, 'rejected');
      assert.equal(body.errors[0]!.path, 'machines[0].role');
      const inv = (await t.app.inject({ method: 'GET', url: '/api/v1/inventory', headers: auth(t.tokens.viewer) })).json<{ lastError: { message: string }[]; counts: { machines: number } }>();
      assert.equal(inv.counts.machines, 3);
      assert.match(inv.lastError[0]!.message, /must be one of/);
      assert.deepEqual(t.store.db.prepare('SELECT count(*) AS n FROM machines').get(), before);
      const rejected = (await t.app.inject({ method: 'GET', url: '/api/v1/events?kind=inventory.rejected', headers: auth(t.tokens.viewer) })).json<{ events: { actor: string }[] }>();
      assert.equal(rejected.events.length, 1);
      assert.equal(rejected.events[0]!.actor, 'token:test-operator', 'a reload through the API is attributed to its token');
      assert.match((await t.app.inject({ method: 'GET', url: '/metrics' })).body, /^ironbay_inventory_rejected 1$/m);

      t.writeInventory(smallInventory(3));
      const fixed = await t.app.inject({ method: 'POST', url: '/api/v1/inventory/reload', headers: auth(t.tokens.operator), payload: {} });
      // Same bytes as the applied file: nothing to apply, but the error is cleared.
      assert.equal(fixed.json<{ result: string }>().result, 'applied');
      const inv2 = (await t.app.inject({ method: 'GET', url: '/api/v1/inventory', headers: auth(t.tokens.viewer) })).json<{ lastError: unknown }>();
      assert.equal(inv2.lastError, null);
      assert.match((await t.app.inject({ method: 'GET', url: '/metrics' })).body, /^ironbay_inventory_rejected 0$/m);
    });
  });

  describe('operations', () => {
    test('metrics expose machines by state and inventory reloads', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(r.body, /ironbay_machines\{state="registered"\} 3/);
      assert.match(r.body, /ironbay_inventory_reloads_total\{result="applied"\} \d+/);
      assert.match(r.body, /ironbay_process_resident_memory_bytes/);
    });

    test('OpenAPI document lists every route with its schemas', async () => {
      const doc = (await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json<{ openapi: string; paths: Record<string, Record<string, { responses: object }>> }>();
      assert.equal(doc.openapi, '3.1.0');
      for (const p of ['/api/v1/machines', '/api/v1/machines/{name}', '/api/v1/events', '/api/v1/inventory', '/api/v1/inventory/diff', '/api/v1/tokens', '/healthz', '/readyz']) {
        assert.ok(doc.paths[p], `missing ${p}`);
      }
      assert.ok(doc.paths['/api/v1/machines']!.get!.responses);
    });

    test('the effective config is served with the schema that validates the file', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/config', headers: auth(t.tokens.viewer) });
      const c = r.json<{ api: { listen: string; port: number }; boot: { interfaces: string[] }; inventory: string }>();
      assert.deepEqual(c.api, { listen: '127.0.0.1', port: 8470 });
      assert.deepEqual(c.boot.interfaces, []);
      assert.equal(c.inventory, t.inventoryFile);
      const doc = (await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json<{ paths: Record<string, { get: { responses: Record<string, { content: Record<string, { schema: { properties: object } }> }> } }> }>();
      const schema = doc.paths['/api/v1/config']!.get.responses['200']!.content['application/json']!.schema;
      assert.deepEqual(Object.keys(schema.properties).sort(), ['api', 'bmc', 'boot', 'clusters', 'dataDir', 'inventory', 'inventoryReload', 'lifecycle', 'log', 'ssh']);
    });

    test('readyz turns 503 while stopping', async () => {
      assert.deepEqual((await t.app.inject({ method: 'GET', url: '/readyz' })).json(), { status: 'ready', inventory: 'ok' });
      t.lifecycle.stopping = true;
      try {
        assert.equal((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
      } finally {
        t.lifecycle.stopping = false;
      }
    });
  });
});
