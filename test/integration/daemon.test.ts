// The real daemon as a process: start, inventory reloads (file change, rename-save, SIGHUP),
// rejected edits, retirement, SSE follow, the CLI against it, and a clean stop.
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { smallInventory } from '../helpers/app.ts';
import { runCli, TestDaemon } from '../helpers/daemon.ts';

interface Machine {
  name: string;
  state: string;
  zone: string;
  retiredAt: string | null;
}
interface Ev {
  id: number;
  kind: string;
  machine: string | null;
  details: Record<string, unknown>;
}

describe('daemon process', () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start({ inventory: smallInventory(3) });
  });
  after(() => d.cleanup());

  const applied = (from: number) => d.waitForLog((l) => l.msg === 'inventory applied' || l.msg.startsWith('inventory rejected'), 10_000, from);
  const machines = async (all = false) => (await d.api<{ machines: Machine[] }>('GET', `/api/v1/machines${all ? '?includeRetired=true' : ''}`)).body.machines;

  test('applies the inventory at start and serves it', async () => {
    assert.deepEqual((await machines()).map((m) => m.name), ['w-000', 'w-001', 'w-002']);
    assert.equal((await d.api('GET', '/readyz', undefined, null)).status, 200);
  });

  test('an in-place edit is applied, one event per change', async () => {
    const mark = d.logs.length;
    writeFileSync(d.inventoryFile, smallInventory(3).replace('zone: zone-a', 'zone: zone-z'));
    const line = await applied(mark);
    assert.equal(line.msg, 'inventory applied');
    assert.equal(line.machines, '+0 ~1 -0');
    const w0 = (await machines()).find((m) => m.name === 'w-000')!;
    assert.equal(w0.zone, 'zone-z');
    const ev = (await d.api<{ events: Ev[] }>('GET', '/api/v1/events?machine=w-000&kind=machine.changed')).body.events;
    assert.deepEqual(ev.at(-1)!.details.fields, [{ path: 'zone', from: 'zone-a', to: 'zone-z' }]);
  });

  test('a save by rename (vim, sed -i, git checkout) is applied too', async () => {
    const mark = d.logs.length;
    const tmp = d.inventoryFile + '.swp';
    writeFileSync(tmp, smallInventory(4));
    renameSync(tmp, d.inventoryFile);
    const line = await applied(mark);
    assert.equal(line.machines, '+1 ~1 -0');
    assert.equal((await machines()).length, 4);
  });

  test('an invalid edit is rejected whole; the last good inventory keeps running', async () => {
    const mark = d.logs.length;
    // One good change (a fifth machine) and one error: nothing of it may be applied.
    writeFileSync(d.inventoryFile, smallInventory(5).replace(/(name: w-004[\s\S]*?macs: \[)"[^"]+"/, '$1"not-a-mac"'));
    const line = await applied(mark);
    assert.equal(line.msg, 'inventory rejected; keeping the last good inventory');
    assert.equal(line.errorCount, 1);
    assert.match(String((line.errors as string[])[0]), /inventory\.yaml:\d+:\d+ machines\[4\]\.macs\[0\]: "not-a-mac" is not a MAC address/);
    assert.equal((await machines()).length, 4);
    const inv = (await d.api<{ lastError: { path: string }[] }>('GET', '/api/v1/inventory')).body;
    assert.equal(inv.lastError[0]!.path, 'machines[4].macs[0]');
    const ev = (await d.api<{ events: Ev[] }>('GET', '/api/v1/events?kind=inventory.rejected')).body.events;
    assert.equal(ev.length, 1);
    const status = await runCli(['inventory', 'status', '--url', d.url, '--token', d.token]);
    assert.match(status.stdout, /rejected: the newest edit .* has 1 error\(s\)/);
  });

  test('a machine removed from the file is retired with its history; re-adding restores it', async () => {
    let mark = d.logs.length;
    writeFileSync(d.inventoryFile, smallInventory(2));
    assert.equal((await applied(mark)).machines, '+0 ~0 -2');
    assert.deepEqual((await machines()).map((m) => m.name), ['w-000', 'w-001']);
    const retired = (await machines(true)).filter((m) => m.state === 'retired').map((m) => m.name);
    assert.deepEqual(retired, ['w-002', 'w-003']);
    const hist = (await d.api<{ events: Ev[] }>('GET', '/api/v1/events?machine=w-002')).body.events.map((e) => e.kind);
    assert.deepEqual(hist, ['machine.added', 'machine.retired']);

    mark = d.logs.length;
    d.proc.kill('SIGHUP');
    await d.waitForLog((l) => l.msg === 'inventory unchanged' && l.reason === 'sighup', 10_000, mark);
    mark = d.logs.length;
    writeFileSync(d.inventoryFile, smallInventory(3));
    await applied(mark);
    const w2 = (await d.api<Machine>('GET', '/api/v1/machines/w-002')).body;
    assert.equal(w2.state, 'registered');
    assert.equal(w2.retiredAt, null);
    const hist2 = (await d.api<{ events: Ev[] }>('GET', '/api/v1/events?machine=w-002')).body.events.map((e) => e.kind);
    assert.deepEqual(hist2, ['machine.added', 'machine.retired', 'machine.restored']);
  });

  test('SIGHUP re-reads the file even when the watcher missed the change', async () => {
    // Same size, same name, written through a second path while the watcher is debouncing:
    // SIGHUP must pick up whatever is on disk.
    writeFileSync(d.inventoryFile, smallInventory(3).replace('zone: zone-b', 'zone: zone-y'));
    const mark = d.logs.length;
    d.proc.kill('SIGHUP');
    await applied(mark);
    assert.equal((await d.api<Machine>('GET', '/api/v1/machines/w-001')).body.zone, 'zone-y');
    const ev = (await d.api<{ events: Ev[] }>('GET', '/api/v1/events?kind=inventory.applied&limit=1')).body.events;
    assert.ok(ev.length === 1);
  });

  test('events --follow streams committed events live (SSE), and resumes with Last-Event-ID', async () => {
    const res = await fetch(`${d.url}/api/v1/events?follow=true&kind=machine.`, { headers: { authorization: `Bearer ${d.token}` } });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const got: Ev[] = [];
    let buf = '';
    const readUntil = async (pred: () => boolean): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!pred()) {
        assert.ok(Date.now() < deadline, 'event not streamed in time');
        const { value, done } = await reader.read();
        if (done) break;
        buf += new TextDecoder().decode(value);
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const data = buf.slice(0, i).split('\n').find((l) => l.startsWith('data: '));
          buf = buf.slice(i + 2);
          if (data) got.push(JSON.parse(data.slice(6)) as Ev);
        }
      }
    };
    await readUntil(() => got.length > 0); // the backlog
    const backlog = got.length;
    writeFileSync(d.inventoryFile, smallInventory(3).replace('zone: zone-b', 'zone: zone-x'));
    await readUntil(() => got.some((e, i) => i >= backlog && e.machine === 'w-001' && e.kind === 'machine.changed'));
    assert.ok(got.every((e) => e.kind.startsWith('machine.')), 'the kind filter applies to live events too');
    await reader.cancel();

    const lastId = got.at(-1)!.id;
    const resumed = await fetch(`${d.url}/api/v1/events?follow=1`, { headers: { authorization: `Bearer ${d.token}`, 'last-event-id': String(lastId - 1) } });
    const r2 = resumed.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const first = new TextDecoder().decode((await r2.read()).value);
    assert.match(first, new RegExp(`^id: ${lastId}\\n`));
    await r2.cancel();
  });

  test('the CLI talks to the API: tables, --json, tokens, one-line errors', async () => {
    const env = { IRONBAY_URL: d.url, IRONBAY_TOKEN: d.token };
    const table = await runCli(['machines'], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+STATE\s+ROLE/);
    assert.match(table.stdout, /w-001\s+registered\s+worker\s+zone-x/);

    const json = await runCli(['machines', '--json'], env);
    assert.deepEqual((JSON.parse(json.stdout) as Machine[]).map((m) => m.name), ['w-000', 'w-001', 'w-002']);

    const show = await runCli(['machines', 'show', 'w-002'], env);
    assert.match(show.stdout, /state:\s+registered/);
    assert.match(show.stdout, /machine\.restored/);

    const missing = await runCli(['machines', 'show', 'nope'], env);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'ironbay: GET /api/v1/machines/nope: 404 no machine named "nope" [IB_ERR_NOT_FOUND]\n');

    const created = await runCli(['token', 'create', '--name', 'alice', '--role', 'viewer'], env);
    assert.equal(created.code, 0, created.stderr);
    const alice = created.stdout.trim();
    const asAlice = await runCli(['token', 'create', '--name', 'mallory', '--role', 'admin'], { IRONBAY_URL: d.url, IRONBAY_TOKEN: alice });
    assert.equal(asAlice.code, 1);
    assert.match(asAlice.stderr, /403 token "alice" has role viewer; POST \/api\/v1\/tokens needs admin \[IB_ERR_FORBIDDEN\]/);
    const list = await runCli(['token', 'list'], env);
    assert.match(list.stdout, /alice\s+viewer/);

    const events = await runCli(['events', '--machine', 'w-002', '--json'], env);
    assert.deepEqual(events.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Ev).kind), ['machine.added', 'machine.retired', 'machine.restored']);

    const diffFile = d.inventoryFile + '.proposed';
    writeFileSync(diffFile, smallInventory(2));
    const diff = await runCli(['inventory', 'diff', diffFile], env);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /- machines w-002 \(would be retired; its history is kept\)/);
  });

  test('the CLI without a reachable daemon fails with one line', async () => {
    const port = await closedPort();
    const r = await runCli(['machines'], { IRONBAY_URL: `http://127.0.0.1:${port}`, IRONBAY_TOKEN: 'x' });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `ironbay: cannot reach the ironbay API at http://127.0.0.1:${port} (ECONNREFUSED); is the daemon running? [IB_ERR_API_UNREACHABLE]\n`);
  });

  test('SIGTERM stops it cleanly within 5 s, with a follower still connected', async () => {
    const follower = await fetch(`${d.url}/api/v1/events?follow=true`, { headers: { authorization: `Bearer ${d.token}` } });
    assert.equal(follower.status, 200);
    const started = Date.now();
    const code = await d.stop('SIGTERM');
    const took = Date.now() - started;
    assert.equal(code, 0);
    assert.ok(took < 5_000, `stop took ${took} ms`);
    assert.ok(d.logs.some((l) => l.msg === 'stopped'));
  });
});

test('SIGINT stops it too, and a restart keeps state and tokens', async () => {
  const d = await TestDaemon.start({ inventory: smallInventory(2) });
  try {
    const token = d.token;
    assert.equal(await d.stop('SIGINT'), 0);
    const again = new TestDaemon({ inventory: smallInventory(2), dir: d.dir });
    await again.start();
    try {
      assert.equal(again.token, token, 'no new bootstrap token when tokens exist');
      const r = await again.api<{ machines: unknown[] }>('GET', '/api/v1/machines');
      assert.equal(r.body.machines.length, 2);
      // Unchanged file at restart: no new apply event.
      const ev = (await again.api<{ events: Ev[] }>('GET', '/api/v1/events?kind=inventory.applied')).body.events;
      assert.equal(ev.length, 1);
      assert.equal(await again.stop(), 0);
    } finally {
      again.cleanup();
    }
  } finally {
    d.cleanup();
  }
});

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

test('a missing inventory is a rejected inventory, not a crash: the daemon serves and says why', async () => {
  const d = new TestDaemon({ inventory: smallInventory(1) });
  // Point the config at a file in a directory that does not exist.
  const missing = `${d.dir}/nowhere/inventory.yaml`;
  writeFileSync(d.configFile, readFileSync(d.configFile, 'utf8').replace(d.inventoryFile, missing));
  try {
    await d.start();
    const inv = (await d.api<{ lastError: { message: string }[] }>('GET', '/api/v1/inventory')).body;
    assert.match(inv.lastError[0]!.message, /cannot read the inventory: ENOENT/);
    assert.ok(d.logs.some((l) => l.msg === 'cannot watch the inventory file; reload with SIGHUP'));
    assert.equal((await d.api<{ machines: unknown[] }>('GET', '/api/v1/machines')).body.machines.length, 0);
    assert.equal(await d.stop(), 0);
  } finally {
    d.cleanup();
  }
});
